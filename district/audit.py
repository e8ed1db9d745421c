"""The audit log: writing rows (every unmasked view, ID search, export and grant) and searching them.

Writes are plain inserts that run inside the caller's transaction, so a response that reads
personal information and the row that records it commit together or not at all. Reads are
for the city bureau's audit page and API, narrowed to the compounds of the reader's scope.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from district.models import AuditAction, AuditEntry
from district.permissions import ROLE_CAPABILITIES, VIEW_AUDIT
from district.scope import compounds_in_scope
from tenants.models import Compound

User = AbstractBaseUser | AnonymousUser


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address (REMOTE_ADDR; a proxy in front must set it, not X-Forwarded-For)."""
    return request.META.get("REMOTE_ADDR") if request is not None else None


def do_record_audit(
    user: User,
    action: str,
    *,
    compound: Compound | None = None,
    objects: Iterable[models.Model] = (),
    object_ids: Iterable[int] | None = None,
    object_type: str = "",
    reason: str = "",
    detail: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Insert one audit row. Runs inside the caller's transaction: no audit, no access.

    Pass the records as ``objects``, or as ``object_ids`` with their ``object_type``
    (``"registry.person"``) when only the ids were read, as for a whole export.
    """
    objects = list(objects)
    if objects and not object_type:
        object_type = objects[0]._meta.label_lower
    ids = [o.pk for o in objects] if object_ids is None else list(object_ids)
    return AuditEntry.objects.create(
        user=user if user.is_authenticated else None,
        username=user.get_username() if user.is_authenticated else "",
        action=action,
        compound=compound,
        object_type=object_type,
        object_ids=ids,
        reason=reason,
        detail=detail or {},
        ip=client_ip(request),
    )


def do_record_pii_view(
    user: User, compound: Compound, objects: Iterable[models.Model], *, request: HttpRequest | None = None
) -> AuditEntry | None:
    """Record that ``user`` was shown these records' personal information unmasked.

    Nothing is recorded when no record was shown (an empty page reveals nobody).
    """
    objects = list(objects)
    if not objects:
        return None
    return do_record_audit(user, AuditAction.VIEW_PII, compound=compound, objects=objects, request=request)


def do_record_id_number_search(
    user: User,
    compound: Compound,
    number: str,
    *,
    found: QuerySet,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Record a search by a whole ID number and the ids of every record it found (not only one page)."""
    return do_record_audit(
        user,
        AuditAction.SEARCH_ID_NUMBER,
        compound=compound,
        object_ids=found.order_by().values_list("pk", flat=True),
        object_type=found.model._meta.label_lower,
        detail={"q": number},
        request=request,
    )


# --- Searching the log ------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    """The audit search's filters, validated alike for the page and the API."""

    user = forms.CharField(label=_("user"), required=False, max_length=150, help_text=_("Username contains"))
    action = forms.ChoiceField(label=_("action"), required=False, choices=[("", "—"), *AuditAction.choices])
    compound = forms.CharField(
        label=_("compound code"),
        required=False,
        max_length=32,
        help_text=_("A compound's code, or the start of one (a street's code)"),
    )
    date_from = forms.DateField(label=_("date from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("date to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    record = forms.IntegerField(label=_("record id"), required=False, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", f"{css} form-control-sm")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return cleaned


def audit_entries_visible_to(user: User) -> QuerySet[AuditEntry]:
    """Audit rows of the compounds in ``user``'s scope (every row for a superuser).

    Rows without a compound (e.g. an area-level role grant) are left to superusers: nothing
    in them says which city they belong to.
    """
    qs = AuditEntry.objects.select_related("compound")
    if user.is_superuser:
        return qs
    # Only the compounds covered by a role that reads the audit log: a city bureau officer who
    # is also a mediator elsewhere must not read that other compound's audit rows.
    auditing_roles = [role for role, caps in ROLE_CAPABILITIES.items() if VIEW_AUDIT in caps]
    return qs.filter(compound__in=compounds_in_scope(user, roles=auditing_roles).values("pk"))


def filter_audit_entries(qs: QuerySet[AuditEntry], filters: dict[str, Any]) -> QuerySet[AuditEntry]:
    """``qs`` narrowed by the cleaned data of an :class:`AuditFilterForm`."""
    if username := (filters.get("user") or "").strip():
        qs = qs.filter(username__icontains=username)
    if action := filters.get("action"):
        qs = qs.filter(action=action)
    if code := (filters.get("compound") or "").strip():
        qs = qs.filter(compound__code__startswith=code)
    start: datetime.date | None = filters.get("date_from")
    end: datetime.date | None = filters.get("date_to")
    if start:
        qs = qs.filter(at__date__gte=start)
    if end:
        qs = qs.filter(at__date__lte=end)
    if record := filters.get("record"):
        qs = qs.filter(object_ids__contains=[record])
    return qs
