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
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from district.form_fields import export_reason_field
from district.models import CHANGE_ACTIONS, AuditAction, AuditEntry, RoleAssignment
from district.permissions import VIEW_AUDIT, roles_with
from district.scope import compounds_in_scope
from district.typing import AnyUser as User
from tenants.models import Compound


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


# Bookkeeping columns every change touches; naming them in a change row says nothing.
UNAUDITED_FIELDS = frozenset({"id", "created_at", "updated_at"})


def stored_values(obj: models.Model) -> dict[str, Any] | None:
    """The record's columns as stored now (``None`` for a record not yet saved)."""
    if obj.pk is None:
        return None
    names = [f.attname for f in obj._meta.concrete_fields]
    return type(obj)._default_manager.filter(pk=obj.pk).values(*names).first()


def changed_fields(before: dict[str, Any] | None, obj: models.Model) -> list[str]:
    """Names of the fields that differ from ``before`` (for a new record: the ones filled in).

    Names only: an audit row never holds the values, which may be personal information.
    """
    names: list[str] = []
    for field in obj._meta.concrete_fields:
        if field.name in UNAUDITED_FIELDS:
            continue
        value = getattr(obj, field.attname)
        if before is None:
            if value not in (None, "", [], {}) and value != field.get_default():
                names.append(field.name)
        elif before.get(field.attname) != value:
            names.append(field.name)
    return names


def do_record_change(
    user: User | None,
    verb: str,
    obj: models.Model,
    *,
    fields: Iterable[str] = (),
    compound: Compound | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record that ``user`` (``None``: the system, e.g. seeding) created, changed or deleted ``obj``.

    Called by the ``do_*`` actions inside their transaction, after the write (before it for a
    delete, while the record still has its primary key).
    """
    if verb not in CHANGE_ACTIONS:
        raise ValueError(f"not a change verb: {verb!r}")
    return do_record_audit(
        user if user is not None else AnonymousUser(),
        verb,
        compound=compound,
        objects=[obj],
        detail={"fields": sorted(fields), **(detail or {})},
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


def record_type_choices() -> list[tuple[str, str]]:
    """The record types audit rows name, for the search's type filter: ``("registry.person", "人员")``.

    Taken from the models (every model of a compound's schema, plus role assignments and the
    log itself, whose exports are logged), not from a ``DISTINCT`` over the log: that would
    read the whole table for every page view.
    """
    shared = set(settings.SHARED_APPS)
    in_compounds = [m for m in apps.get_models() if apps.get_app_config(m._meta.app_label).name not in shared]
    # A stable order (by code, not by label, whose order differs between languages).
    models_: list[type[models.Model]] = [
        *sorted(in_compounds, key=lambda m: m._meta.label_lower),
        RoleAssignment,
        AuditEntry,
    ]
    return [("", "—"), *((m._meta.label_lower, capfirst(str(m._meta.verbose_name))) for m in models_)]


class AuditFilterForm(forms.Form):
    """The audit search's filters, validated alike for the page, the API and the exports."""

    user = forms.CharField(label=_("user"), required=False, max_length=150, help_text=_("Username contains"))
    action = forms.ChoiceField(label=_("action"), required=False, choices=[("", "—"), *AuditAction.choices])
    record_type = forms.ChoiceField(label=_("record type"), required=False, choices=record_type_choices)
    compound = forms.CharField(
        label=_("compound code"),
        required=False,
        max_length=32,
        help_text=_("A compound's code, or the start of one (a street's code)"),
    )
    date_from = forms.DateField(label=_("date from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("date to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # Record ids are 64-bit (object_ids is an array of bigint): a larger number is refused, not sent to PostgreSQL.
    record = forms.IntegerField(label=_("record id"), required=False, min_value=1, max_value=2**63 - 1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", f"{css} form-control-sm")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what Form.clean() returns
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return cleaned


class AuditExportForm(AuditFilterForm):
    """An export of the audit search: its filters (hidden, carried from the page) and a reason.

    The reason is required, as for every export of personal information, and kept in the
    audit row the export writes about itself.
    """

    reason = export_reason_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No ids: the hidden filters sit on the page beside the search form's own fields.
        kwargs.setdefault("auto_id", False)
        super().__init__(*args, **kwargs)
        for name in AuditFilterForm.base_fields:
            self.fields[name].widget = forms.HiddenInput()

    def filters(self) -> dict[str, str]:
        """The filters used, as JSON-safe text (for the export's audit row)."""
        return {
            name: str(value)
            for name in AuditFilterForm.base_fields
            if (value := self.cleaned_data.get(name)) not in (None, "")
        }


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
    return qs.filter(compound__in=compounds_in_scope(user, roles=roles_with(VIEW_AUDIT)).values("pk"))


def filter_audit_entries(qs: QuerySet[AuditEntry], filters: dict[str, Any]) -> QuerySet[AuditEntry]:
    """``qs`` narrowed by the cleaned data of an :class:`AuditFilterForm`."""
    if username := (filters.get("user") or "").strip():
        qs = qs.filter(username__icontains=username)
    if action := filters.get("action"):
        qs = qs.filter(action=action)
    if record_type := filters.get("record_type"):
        qs = qs.filter(object_type=record_type)
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
