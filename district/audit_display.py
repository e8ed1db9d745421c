"""The audit log in words: who did what to which record, in the active language.

An :class:`~district.models.AuditEntry` stores codes (``registry.person``, ``update``,
``{"fields": ["name", "phone"]}``); the page, the API's ``summary`` and the exports show
them as a reader would say them ("alice — 修改记录：人员 #12（姓名、联系电话）"). Everything is
looked up through Django's registries (models by ``apps``, record pages by URL name), so this
module, which sits in the roles layer, needs no import of the registry app above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import get_language, ngettext, pgettext, pgettext_lazy
from django.utils.translation import gettext as _

from district.audit import AuditFilterForm
from district.choices import Role
from district.models import AuditAction, AuditEntry, ProbeKind

__all__ = ["AuditRow", "model_for", "present", "present_page", "record_type_label"]

# The verbs whose rows name the fields a write changed.
FIELD_VERBS = frozenset({AuditAction.CREATE, AuditAction.UPDATE})
# Words for the action part of a per-object permission codename ("change_person").
PERMISSION_ACTIONS = {
    "add": pgettext_lazy("object permission", "add"),
    "change": pgettext_lazy("object permission", "edit"),
    "delete": pgettext_lazy("object permission", "delete"),
    "view": pgettext_lazy("object permission", "view"),
}


@dataclass(frozen=True)
class AuditRow:
    """One audit row as columns of words (every string already in the active language)."""

    entry: AuditEntry
    at: str  # local time, "2026-11-30 14:05:09"
    who: str  # username, or 系统 for a system write
    action: str  # the verb's label
    compound: str  # "阳光花园（370102001001）", or "" for rows without a compound
    record_type: str  # the model's verbose name ("人员"), or a generic word for an unknown type
    record: str  # "人员 #12", or "人员：3 条记录" for a read of many
    record_url: str | None  # the record's page, when it has one and may still exist
    fields: str  # the changed fields' verbose names ("姓名、联系电话")
    details: str  # role, node, target user, permission, search, export settings, in words
    summary: str  # the whole row as one sentence


def _join(items: list[str]) -> str:
    return pgettext("list separator", ", ").join(items)


def _labelled(label: str, value: str) -> str:
    return _("%(label)s: %(value)s") % {"label": label, "value": value}


@lru_cache(maxsize=128)
def model_for(object_type: str) -> type[models.Model] | None:
    """The model of an ``object_type`` (``"registry.person"``), or None for an unknown one."""
    if not object_type:
        return None
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


# The lookups below repeat for every row of a 50,000-row export with only a few distinct
# arguments; Django's lazy labels cost a hash of the choices each time. Cached per language.


def record_type_label(object_type: str) -> str:
    """The model's verbose name in the active language; never the raw ``app.model`` code."""
    return _record_type_label(object_type, get_language())


@lru_cache(maxsize=256)
def _record_type_label(object_type: str, language: str) -> str:
    model = model_for(object_type)
    return str(model._meta.verbose_name) if model is not None else _("record")


@lru_cache(maxsize=64)
def _action_label(action: str, language: str) -> str:
    return str(dict(AuditAction.choices).get(action, action))


def _lives_in_compound(model: type[models.Model]) -> bool:
    """Is the model's table in each compound's schema (its records have pages under ``/c/<code>/``)?"""
    name = apps.get_app_config(model._meta.app_label).name
    return name in settings.TENANT_APPS and name not in settings.SHARED_APPS


RecordKey = tuple[int, str, int]  # (compound id, object type, record id)


def _single_record(entry: AuditEntry) -> RecordKey | None:
    if entry.compound_id is None or len(entry.object_ids) != 1:
        return None
    return (entry.compound_id, entry.object_type, entry.object_ids[0])


def deleted_records(entries: Iterable[AuditEntry]) -> set[RecordKey]:
    """Which of the records these rows name have a deletion row in the log (one query).

    Primary keys come from sequences and are never reused, so a deleted record's page is
    gone for good: its older rows lose their link instead of leading to a 404.
    """
    keys = {key for entry in entries if (key := _single_record(entry)) is not None}
    if not keys:
        return set()
    rows = AuditEntry.objects.filter(
        action=AuditAction.DELETE,
        compound_id__in={c for c, _t, _i in keys},
        object_type__in={t for _c, t, _i in keys},
        object_ids__overlap=sorted({i for _c, _t, i in keys}),
    ).values_list("compound_id", "object_type", "object_ids")
    return {(c, t, ids[0]) for c, t, ids in rows if len(ids) == 1} & keys


def record_url(entry: AuditEntry, deleted: AbstractSet[RecordKey] = frozenset()) -> str | None:
    """The page of the one record a row names, found by URL name; None when there is none.

    Tried in order: a page named after the model (``registry:address``), then the generic
    record page of its app with the model's plural slug (``registry:record``, kind
    ``persons``). A deleted record (this row's verb, or one of ``deleted``), a row naming
    many records and a record outside every compound get no link. The link opens through the
    compound middleware, which answers 404 to a reader whose scope no longer covers it.
    """
    model = model_for(entry.object_type)
    key = _single_record(entry)
    if (
        model is None
        or key is None
        or key in deleted
        or entry.action in (AuditAction.DELETE, AuditAction.REVOKE_ROLE)
        or not _lives_in_compound(model)
        or entry.compound is None  # set whenever key is (compound_id)
    ):
        return None
    meta, pk, code = model._meta, key[2], entry.compound.code
    attempts = [
        (f"{meta.app_label}:{meta.model_name}", {"compound": code, "pk": pk}),
        (f"{meta.app_label}:record", {"compound": code, "kind": f"{meta.model_name}s", "pk": pk}),
    ]
    for name, kwargs in attempts:
        try:
            return reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            continue
    return None


def record_label(entry: AuditEntry) -> str:
    """One record as 人员 #12; an export or search that read many (or none) as 人员：3 条记录."""
    type_label = record_type_label(entry.object_type)
    count = len(entry.object_ids)
    if count == 1:
        return capfirst(_("%(type)s #%(id)s") % {"type": type_label, "id": entry.object_ids[0]})
    if count == 0 and not entry.object_type:
        return ""  # a row about no record at all
    words = ngettext("%(type)s: %(count)d record", "%(type)s: %(count)d records", count)
    return capfirst(words % {"type": type_label, "count": count})


@lru_cache(maxsize=1024)
def _field_label(object_type: str, name: str, language: str) -> str:
    model = model_for(object_type)
    if model is not None:
        try:
            return str(cast(models.Field, model._meta.get_field(name)).verbose_name)  # changed fields are concrete
        except FieldDoesNotExist:
            pass  # a field renamed or removed since: its name is all that is left
    return name


def _choice_label(model: type[models.Model] | None, value: str) -> str:
    """The label of a choice ``value`` of any of the model's fields (tags, uses, kinds), else the value."""
    for field in model._meta.concrete_fields if model is not None else ():
        inner = getattr(field, "base_field", field)  # an ArrayField's choices are its items'
        for key, label in getattr(inner, "flatchoices", None) or ():
            if key == value:
                return str(label)
    return value


def changed_fields_label(entry: AuditEntry) -> str:
    """The verbose names of the fields a create or update wrote ("姓名、联系电话")."""
    if entry.action not in FIELD_VERBS:
        return ""
    language = get_language()
    return _join([_field_label(entry.object_type, name, language) for name in entry.detail.get("fields") or []])


def _role_label(role: str) -> str:
    try:
        return str(Role(role).label)
    except ValueError:
        return role


def _permission_label(codename: str) -> str:
    """The verb of a grant's codename (``change_person`` → 编辑); its record is the row's one record."""
    action = codename.partition("_")[0]
    return str(PERMISSION_ACTIONS.get(action, codename))


def _local_time(iso: str) -> str:
    """An ISO 8601 time kept in a row's detail, in local time as the page shows times."""
    try:
        return f"{timezone.localtime(datetime.fromisoformat(iso)):%Y-%m-%d %H:%M}"
    except ValueError:
        return iso


def _yes_no(value: Any) -> str:
    return _("yes") if value else _("no")


def _detail_parts(entry: AuditEntry) -> list[str]:
    """The row's detail in words; keys not listed here are left out rather than shown raw."""
    detail, model = entry.detail or {}, model_for(entry.object_type)
    parts: list[str] = []
    if role := detail.get("role"):
        parts.append(_labelled(_("role"), _role_label(role)))
    if node := detail.get("node"):
        name = detail.get("node_name")
        parts.append(_labelled(_("held at"), _("%(name)s (%(code)s)") % {"name": name, "code": node} if name else node))
    if permission := detail.get("permission"):
        parts.append(_labelled(_("permission"), _permission_label(permission)))
    if user := detail.get("user"):
        parts.append(_labelled(_("for user"), str(user)))
    if tags := detail.get("police_tags"):
        parts.append(_labelled(_("police-only tags changed"), _join([_choice_label(model, t) for t in tags])))
    if lookup := detail.get("lookup"):
        parts.append(_labelled(_("lookup"), str(dict(ProbeKind.choices).get(lookup, lookup))))
    if q := detail.get("q"):
        parts.append(_labelled(_("search"), str(q)))
    if "found" in detail:
        parts.append(_labelled(_("found"), _yes_no(detail["found"])))
    if "misses" in detail:
        parts.append(_labelled(_("lookups that found nothing"), str(detail["misses"])))
    if until := detail.get("until"):
        parts.append(_labelled(_("locked until"), _local_time(str(until))))
    if tag := detail.get("tag"):
        parts.append(_labelled(_("filter"), _choice_label(model, tag)))
    if "masked" in detail:
        parts.append(_labelled(_("ID numbers and phones masked"), _yes_no(detail["masked"])))
    if fmt := detail.get("format"):
        parts.append(_labelled(_("format"), str(fmt).upper()))
    if filters := detail.get("filters"):
        parts.append(_labelled(_("filters"), describe_filters(filters)))
    if detail.get("truncated"):
        parts.append(_("cut at %(limit)s rows") % {"limit": detail.get("limit", "")})
    return parts


def describe_filters(filters: dict[str, Any]) -> str:
    """The audit search's filters (an export's ``detail["filters"]``) in words."""
    fields = AuditFilterForm.base_fields
    words: list[str] = []
    for name, value in filters.items():
        if value in (None, ""):
            continue
        field = fields.get(name)
        if field is None:
            continue
        shown = dict(field.choices).get(value, value) if hasattr(field, "choices") else value
        words.append(_labelled(str(field.label), str(shown)))
    return pgettext("detail separator", "; ").join(words) or _("none")


def compound_label(entry: AuditEntry) -> str:
    if entry.compound is None:
        return ""
    return _("%(name)s (%(code)s)") % {"name": entry.compound.name, "code": entry.compound.code}


def present_page(entries: Iterable[AuditEntry]) -> list[AuditRow]:
    """A page of rows in words, with links to the records that still exist."""
    entries = list(entries)
    deleted = deleted_records(entries)
    return [present(entry, deleted=deleted) for entry in entries]


def present(entry: AuditEntry, *, links: bool = True, deleted: AbstractSet[RecordKey] = frozenset()) -> AuditRow:
    """``entry`` in words in the active language; ``links=False`` skips the URL lookups (exports)."""
    who = entry.username or _("System")
    action = _action_label(entry.action, get_language())
    record = record_label(entry)
    fields = changed_fields_label(entry)
    details = pgettext("detail separator", "; ").join(_detail_parts(entry))
    summary = (
        _("%(who)s — %(action)s: %(record)s") % {"who": who, "action": action, "record": record}
        if record
        else _("%(who)s — %(action)s") % {"who": who, "action": action}
    )
    if fields:
        summary = _("%(summary)s (%(fields)s)") % {"summary": summary, "fields": fields}
    if details:
        summary = _("%(summary)s; %(details)s") % {"summary": summary, "details": details}
    return AuditRow(
        entry=entry,
        at=f"{timezone.localtime(entry.at):%Y-%m-%d %H:%M:%S}",
        who=who,
        action=action,
        compound=compound_label(entry),
        record_type=capfirst(record_type_label(entry.object_type)) if entry.object_type else "",
        record=record,
        record_url=record_url(entry, deleted) if links else None,
        fields=fields,
        details=details,
        summary=summary,
    )
