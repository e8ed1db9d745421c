"""The audit log, searchable by the city bureau (``audit.view``) within its scope."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from district.audit import AuditFilterForm, audit_entries_visible_to, filter_audit_entries
from district.permissions import VIEW_AUDIT, has_capability

PAGE_SIZE = 50


class AuditLogView(View):
    """Search the audit log by user, action, compound, dates and record id.

    403 without ``audit.view``; rows of compounds outside the user's scope are never shown.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        if not has_capability(request.user, VIEW_AUDIT):
            raise PermissionDenied
        form = AuditFilterForm(request.GET)
        entries = audit_entries_visible_to(request.user)
        # An unreadable filter shows its errors and no rows: it must not silently widen the
        # search to every row.
        entries = filter_audit_entries(entries, form.cleaned_data) if form.is_valid() else entries.none()
        page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "district/audit.html", {"form": form, "page": page})
