"""The audit log, searchable and exportable by the city bureau (``audit.view``) within its scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from district.audit import (
    AuditExportForm,
    AuditFilterForm,
    audit_entries_visible_to,
    do_record_audit,
    filter_audit_entries,
)
from district.audit_display import AuditRow, present, present_page
from district.audit_export import EXPORT_FORMATS, MAX_EXPORT_ROWS
from district.models import AuditAction, AuditEntry
from district.permissions import VIEW_AUDIT, need
from district.views import DeclaredView

PAGE_SIZE = 50


def render_audit_page(
    request: HttpRequest, data: Any, *, export_form: AuditExportForm | None = None, status: int = 200
) -> HttpResponse:
    """The search page over ``data``'s filters, with the export form (bound, when it was refused)."""
    form = AuditFilterForm(data)
    entries = audit_entries_visible_to(request.user)
    # An unreadable filter shows its errors and no rows: it must not silently widen the
    # search to every row. Nor is it offered for export.
    valid = form.is_valid()
    entries = filter_audit_entries(entries, form.cleaned_data) if valid else entries.none()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    if export_form is None and valid:
        export_form = AuditExportForm(initial=form.cleaned_data)
    context = {
        "form": form,
        "page": page,
        "rows": present_page(page),
        "export_form": export_form,
        "max_export_rows": MAX_EXPORT_ROWS,
        "export_cut": page.paginator.count > MAX_EXPORT_ROWS,
    }
    return render(request, "district/audit.html", context, status=status)


class AuditLogView(DeclaredView):
    """Search the audit log by user, action, record type, compound, dates and record id.

    403 without ``audit.view``; rows of compounds outside the user's scope are never shown.
    """

    permissions = {"GET": need(VIEW_AUDIT)}

    def get(self, request: HttpRequest) -> HttpResponse:
        return render_audit_page(request, request.GET)


def _presented(entries: QuerySet[AuditEntry], exported_ids: list[int]) -> Iterator[AuditRow]:
    """The rows in words, read in one pass that also collects their ids for the audit row."""
    for entry in entries.iterator(chunk_size=2000):
        exported_ids.append(entry.pk)
        yield present(entry, links=False)


class AuditExportView(DeclaredView):
    """The rows matching the page's filters as CSV or Excel, for a stated reason, itself audited.

    Only a POST exports (CSRF-protected; the reason stays out of URLs and server logs). 400
    without a reason, and nothing is exported or recorded. The file holds at most
    ``MAX_EXPORT_ROWS`` rows, newest first, and says so when it was cut. Its audit row
    (``export`` of ``district.auditentry``, every exported row's id, the reason, the format
    and filters) is written in the transaction that reads the rows: no row, no file. It has
    no compound (an export spans the reader's scope), so superusers see it, not the bureau
    officers whose reading it records.
    """

    permissions = {"POST": need(VIEW_AUDIT)}

    def post(self, request: HttpRequest, fmt: str) -> HttpResponse:
        if fmt not in EXPORT_FORMATS:
            raise Http404
        build, content_type = EXPORT_FORMATS[fmt]
        form = AuditExportForm(request.POST)
        if not form.is_valid():
            return render_audit_page(request, request.POST, export_form=form, status=400)
        entries = filter_audit_entries(audit_entries_visible_to(request.user), form.cleaned_data)
        exported: list[int] = []
        with transaction.atomic():
            # One more than the limit tells whether the file was cut.
            truncated = entries[MAX_EXPORT_ROWS : MAX_EXPORT_ROWS + 1].exists()
            content = build(
                _presented(entries[:MAX_EXPORT_ROWS], exported),
                truncated_at=MAX_EXPORT_ROWS if truncated else None,
            )
            detail: dict[str, Any] = {"format": fmt, "filters": form.filters(), "rows": len(exported)}
            if truncated:
                detail |= {"truncated": True, "limit": MAX_EXPORT_ROWS}
            do_record_audit(
                request.user,
                AuditAction.EXPORT,
                object_ids=exported,
                object_type=AuditEntry._meta.label_lower,
                reason=form.cleaned_data["reason"],
                detail=detail,
                request=request,
            )
        # Outside the f-string: xgettext does not find a string inside one.
        stem = _("audit-log")
        filename = f"{stem}-{timezone.localdate().isoformat()}.{fmt}"
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        return response
