"""布控 — the city watch-list: who may read and keep it, and every write to it (STYLE.md §2).

The watch-list lives in the public schema (``events.WatchlistEntry``/``WatchlistFace``), one
list per city, kept by police roles: ``watchlist.manage`` (city bureau, district branch)
writes the list of its city, ``watchlist.view`` (the same, and beat officers) reads it. A role
held anywhere in a city opens that city's whole list, because a wanted person may turn up at
any gate of the city; a superuser sees every city's list.

Every write bumps the city's ``WatchlistState.version`` in its own transaction: each process's
gate matcher compares that number with the one of its cached matrix and reloads when they
differ, so an entry ended in one process stops matching in every other. Each write also
writes its audit row (field names, never values; no compound: the list belongs to a city) and
announces ``watchlist.entry.<verb>`` to the city's group on commit, with ids only.

ID numbers on the list are personal information: they are shown whole only to users holding
``pii.view`` in the entry's city, and every unmasked view is audited.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import Any

import django_filters
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.faces import encode_one, thumbnail_jpeg
from district.audit import changed_fields, do_record_audit, do_record_change, stored_values
from district.models import Area, AuditAction
from district.permissions import MANAGE_WATCHLIST, VIEW_PII, VIEW_WATCHLIST, cities_with, city_ids_with
from district.realtime import send_event_on_commit
from district.typing import AnyUser
from events.choices import WATCHED_PERSON_KINDS, WATCHED_PLATE_KINDS, WatchKind
from events.models import WatchlistEntry, WatchlistFace, WatchlistState
from registry.masking import full_id_number, mask_id_number
from registry.validators import check_id_number, check_plate, normalise

__all__ = [
    "MAX_FACES_PER_ENTRY",
    "WatchEntryFilterSet",
    "access_watch_entry_by_id",
    "access_watch_face_by_id",
    "city_ids",
    "do_add_watch_face",
    "do_end_watch_entry",
    "do_record_watch_pii_view",
    "do_record_watch_search",
    "do_remove_watch_face",
    "do_save_watch_entry",
    "entry_status",
    "in_force_q",
    "shown_id_number",
    "watch_cities",
    "watch_entries_visible_to",
    "watchlist_group",
    "watchlist_version",
]

# A person is known by a handful of good portraits; more only slows every gate's matrix.
MAX_FACES_PER_ENTRY = 10
SEARCH_MAX_LENGTH = 100


def watchlist_group(city_id: int) -> str:
    """The group that hears of every change to one city's watch-list."""
    return f"watchlist.city.{city_id}"


# --- Who reads and keeps which city's list ------------------------------------------------------


def watch_cities(user: AnyUser, capability: str = VIEW_WATCHLIST) -> QuerySet[Area]:
    """The cities whose watch-list ``user`` reads (``watchlist.view``), keeps (``watchlist.manage``)
    or sees ID numbers of whole (``pii.view``): ``district.permissions.cities_with``."""
    return cities_with(user, capability)


def city_ids(user: AnyUser, capability: str) -> set[int]:
    """The ids of :func:`watch_cities` (a set, for membership tests)."""
    return city_ids_with(user, capability)


def watch_entries_visible_to(user: AnyUser) -> QuerySet[WatchlistEntry]:
    """The entries of the cities whose list ``user`` reads."""
    return WatchlistEntry.objects.filter(city__in=watch_cities(user, VIEW_WATCHLIST)).select_related("city")


def access_watch_entry_by_id(user: AnyUser, pk: Any, *, manage: bool = False) -> WatchlistEntry:
    """The entry ``pk`` if ``user`` reads (or, with ``manage``, keeps) its city's list; else 404.

    A missing entry and one of another city answer alike, so ids cannot be probed across cities.
    """
    capability = MANAGE_WATCHLIST if manage else VIEW_WATCHLIST
    entry = (
        WatchlistEntry.objects.select_related("city", "created_by")
        .filter(pk=pk, city__in=watch_cities(user, capability))
        .first()
    )
    if entry is None:
        raise Http404("No such watch-list entry")
    return entry


def access_watch_face_by_id(user: AnyUser, pk: Any, *, manage: bool = False) -> WatchlistFace:
    """The face ``pk`` if its entry is one ``user`` reads (or keeps); else 404 (see above)."""
    capability = MANAGE_WATCHLIST if manage else VIEW_WATCHLIST
    face = (
        WatchlistFace.objects.select_related("entry__city")
        .filter(pk=pk, entry__city__in=watch_cities(user, capability))
        .first()
    )
    if face is None:
        raise Http404("No such photo")
    return face


def shown_id_number(entry: WatchlistEntry, pii_cities: set[int]) -> str:
    """The entry's ID number as this reader may see it: whole in a city where they hold ``pii.view``."""
    if entry.city_id in pii_cities:
        return entry.id_number
    return mask_id_number(entry.id_number)


def do_record_watch_pii_view(
    user: AnyUser, entries: Iterable[WatchlistEntry], pii_cities: set[int], *, request: HttpRequest | None = None
) -> None:
    """Audit the entries whose ID number ``user`` was just shown whole (none: no row).

    ``district.audit.do_record_pii_view`` names a compound; a watch-list entry has none, so
    the row is written with the same action and no compound.
    """
    shown = [e for e in entries if e.id_number and e.city_id in pii_cities]
    if shown:
        do_record_audit(user, AuditAction.VIEW_PII, objects=shown, request=request)


def do_record_watch_search(
    user: AnyUser, q: str, found: QuerySet[WatchlistEntry], *, request: HttpRequest | None = None
) -> None:
    """A search of the list by a whole ID number is audited with every entry it found."""
    number = full_id_number(q or "")
    if number:
        do_record_audit(
            user,
            AuditAction.SEARCH_ID_NUMBER,
            object_ids=found.order_by().values_list("pk", flat=True),
            object_type=WatchlistEntry._meta.label_lower,
            detail={"q": number},
            request=request,
        )


# --- Reading: in force, filters -----------------------------------------------------------------


def in_force_q(now: datetime.datetime | None = None) -> Q:
    """Entries that match at the gates now: active and not expired."""
    now = now or timezone.now()
    return Q(active=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def entry_status(entry: WatchlistEntry, now: datetime.datetime | None = None) -> tuple[str, str]:
    """``(code, label)``: ``active``, ``expired`` or ``ended``."""
    now = now or timezone.now()
    if not entry.active:
        return "ended", _("Ended")
    if entry.expires_at is not None and entry.expires_at <= now:
        return "expired", _("Expired")
    return "active", _("In force")


class WatchEntryFilterSet(django_filters.FilterSet):
    """The list's filters, for the page and the API alike: kind, in force, and a search.

    ``q`` finds names containing the text, plates containing it, and ID numbers: by their
    beginning or end for users who see them whole in the entry's city, only whole otherwise.
    """

    kind = django_filters.ChoiceFilter(choices=WatchKind.choices, label=gettext_lazy("kind"))
    active = django_filters.BooleanFilter(
        method="filter_active",
        label=gettext_lazy("in force"),
        help_text=gettext_lazy("true: active and not expired; false: ended or expired"),
    )
    q = django_filters.CharFilter(
        method="filter_q", label=gettext_lazy("search"), max_length=SEARCH_MAX_LENGTH, strip=True
    )

    class Meta:
        model = WatchlistEntry
        fields = ["kind", "active", "q"]

    def filter_active(self, queryset: QuerySet[WatchlistEntry], name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(in_force_q()) if value else queryset.exclude(in_force_q())

    def filter_q(self, queryset: QuerySet[WatchlistEntry], name: str, value: str) -> QuerySet:
        text = value.replace("\x00", "").strip()  # PostgreSQL refuses NUL in literals
        if not text:
            return queryset
        token = normalise(text)
        q = Q(name__icontains=text)
        if token:
            q |= Q(plate__contains=token) | Q(id_number=token)
            user = getattr(self.request, "user", None) or AnonymousUser()
            whole = city_ids(user, VIEW_PII)
            if whole and len(token) >= 4:
                # Fragments only where the reader sees the numbers whole anyway.
                q |= Q(city__in=whole) & (Q(id_number__startswith=token) | Q(id_number__endswith=token))
        return queryset.filter(q)


# --- Writes ---------------------------------------------------------------------------------------


def _check_may_manage(user: AnyUser | None, city_id: int | None) -> None:
    """Only a keeper of the city's list writes to it (``None``: a system write, e.g. seeding)."""
    if user is None:
        return
    if city_id is None or city_id not in city_ids(user, MANAGE_WATCHLIST):
        raise PermissionDenied(_("You do not keep the watch-list of this city."))


def _bump_version(city_id: int) -> int:
    """Bump the city's watch-list version in the caller's transaction; the new version.

    The row is locked by the UPDATE until the transaction ends, so concurrent writes to one
    city's list take turns, and a matcher never sees a version without the change it stands for.
    """
    state, _created = WatchlistState.objects.get_or_create(city_id=city_id)
    WatchlistState.objects.filter(pk=state.pk).update(version=F("version") + 1)
    return WatchlistState.objects.values_list("version", flat=True).get(pk=state.pk)


def watchlist_version(city_id: int) -> int:
    """The city's current watch-list version (0 before its first change)."""
    return WatchlistState.objects.filter(city_id=city_id).values_list("version", flat=True).first() or 0


def _announce(entry: WatchlistEntry, verb: str, version: int, **ids: int) -> None:
    send_event_on_commit(
        [watchlist_group(entry.city_id)],
        {"type": f"watchlist.entry.{verb}", "id": entry.pk, "city_id": entry.city_id, "version": version, **ids},
    )


def _normalise_and_check(entry: WatchlistEntry, before: dict[str, Any] | None, now: datetime.datetime) -> None:
    """Normalise the entry's identifiers and refuse what the list cannot use, field by field."""
    errors: dict[str, list[str]] = {}
    entry.name = (entry.name or "").strip()
    entry.reason = (entry.reason or "").strip()
    if entry.id_number:
        try:
            entry.id_number = check_id_number(entry.id_number).number
        except ValidationError as exc:
            errors.setdefault("id_number", []).extend(exc.messages)
    if entry.plate:
        try:
            entry.plate = check_plate(entry.plate)[0]
        except ValidationError as exc:
            errors.setdefault("plate", []).extend(exc.messages)
    if entry.kind in WATCHED_PERSON_KINDS and not (entry.name or entry.id_number):
        errors.setdefault("name", []).append(_("A watched person needs a name or an ID number."))
    if entry.kind in WATCHED_PLATE_KINDS:
        if not entry.plate and "plate" not in errors:
            errors.setdefault("plate", []).append(_("A watched plate needs its plate number."))
        if entry.pk is not None and entry.faces.exists():
            errors.setdefault("kind", []).append(_("Remove the entry's photos before making it a plate entry."))
    if before is not None and before["city_id"] != entry.city_id:
        errors.setdefault("city", []).append(_("An entry stays in the city it was made for."))
    expires_changed = before is None or before["expires_at"] != entry.expires_at
    if entry.expires_at is not None and expires_changed and entry.expires_at <= now:
        errors.setdefault("expires_at", []).append(_("The expiry must be in the future."))
    if errors:
        raise ValidationError(errors)
    # A second active entry of the same kind for the same number would only double every alert.
    duplicates = WatchlistEntry.objects.filter(city_id=entry.city_id, kind=entry.kind, active=True).exclude(pk=entry.pk)
    if entry.active and entry.id_number and duplicates.filter(id_number=entry.id_number).exists():
        errors["id_number"] = [_("This ID number is already on the city's watch-list as this kind.")]
    if entry.active and entry.plate and duplicates.filter(plate=entry.plate).exists():
        errors["plate"] = [_("This plate is already on the city's watch-list as this kind.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def do_save_watch_entry(
    entry: WatchlistEntry, *, acting_user: AnyUser | None, now: datetime.datetime | None = None
) -> WatchlistEntry:
    """Create or change a watch-list entry of a city whose list ``acting_user`` keeps.

    ID numbers must be valid resident ID numbers (GB 11643) and plates valid plates; both are
    stored normalised. A person entry needs a name or an ID number, a plate entry its plate.
    An entry never moves to another city. An edit that changes nothing writes nothing; any
    other write bumps the city's version, is audited (field names) and announced on commit.
    """
    now = now or timezone.now()
    before = stored_values(entry)
    # The keeper of the city the entry is in (and, for a new entry, of the one it names).
    _check_may_manage(acting_user, before["city_id"] if before is not None else entry.city_id)
    if before is not None:
        # Lock the stored row: two keepers editing one entry write one after the other.
        WatchlistEntry.objects.select_for_update().filter(pk=entry.pk).first()
    _normalise_and_check(entry, before, now)
    if before is None and acting_user is not None and acting_user.is_authenticated:
        entry.created_by_id = acting_user.pk
    entry.full_clean()
    fields = changed_fields(before, entry)
    if before is not None and not fields:
        return entry
    entry.save()
    verb = AuditAction.CREATE if before is None else AuditAction.UPDATE
    do_record_change(acting_user, verb, entry, fields=fields)
    _announce(entry, "created" if before is None else "updated", _bump_version(entry.city_id))
    return entry


def do_add_watch_face(entry: WatchlistEntry, image_bytes: bytes, *, acting_user: AnyUser | None) -> WatchlistFace:
    """Add a portrait to a watched person: exactly one face, its float32 encoding and a thumbnail.

    Raises ``access.faces.ImageRefusedError`` for a photo that is not a readable JPEG/PNG within
    the limits or that shows no face or several, and ``ValidationError`` for a plate entry or
    an entry that already has :data:`MAX_FACES_PER_ENTRY` photos. The face is found before the
    transaction opens (detection takes about a second); the thumbnail is written under
    ``ACCESS_SNAPSHOT_DIR/watchlist/`` with a random name, served only by a permission-checked view.
    """
    _check_may_manage(acting_user, entry.city_id)
    if entry.kind not in WATCHED_PERSON_KINDS:
        raise ValidationError({"photo": [_("Only a watched person has photos; this is a plate entry.")]})
    too_many = ValidationError(
        {"photo": [_("An entry holds at most %(n)d photos; remove one first.") % {"n": MAX_FACES_PER_ENTRY}]}
    )
    if entry.faces.count() >= MAX_FACES_PER_ENTRY:
        raise too_many  # before a second of face detection; checked again under the lock
    face, image = encode_one(image_bytes)
    thumbnail = thumbnail_jpeg(image, face.box)
    with transaction.atomic():
        locked = WatchlistEntry.objects.select_for_update().get(pk=entry.pk)
        if locked.faces.count() >= MAX_FACES_PER_ENTRY:
            raise too_many
        name = default_storage.save(
            f"{settings.ACCESS_SNAPSHOT_DIR}/watchlist/{uuid.uuid4().hex}.jpg", ContentFile(thumbnail)
        )
        row = WatchlistFace.objects.create(entry=locked, encoding=face.encoding_bytes(), photo=name)
        do_record_change(acting_user, AuditAction.CREATE, row, fields=["encoding", "entry", "photo"])
        _announce(locked, "face_added", _bump_version(locked.city_id), face_id=row.pk)
    return row


@transaction.atomic
def do_remove_watch_face(face: WatchlistFace, *, acting_user: AnyUser | None) -> None:
    """Remove one portrait: its encoding at once, its thumbnail file once the removal commits."""
    entry = WatchlistEntry.objects.select_for_update().get(pk=face.entry_id)
    _check_may_manage(acting_user, entry.city_id)
    face_id, photo = face.pk, face.photo
    do_record_change(acting_user, AuditAction.DELETE, face, fields=["encoding", "photo"])
    face.delete()
    _announce(entry, "face_removed", _bump_version(entry.city_id), face_id=face_id)
    if photo:
        transaction.on_commit(lambda: default_storage.delete(photo))


@transaction.atomic
def do_end_watch_entry(entry: WatchlistEntry, *, acting_user: AnyUser | None) -> WatchlistEntry:
    """End an entry (``active`` off): it stops matching at every gate; its record and photos stay.

    Ending an entry that has already ended writes nothing.
    """
    _check_may_manage(acting_user, entry.city_id)
    locked = WatchlistEntry.objects.select_for_update().get(pk=entry.pk)
    if not locked.active:
        entry.active = False
        return entry
    entry.active = False
    entry.save(update_fields=["active", "updated_at"])
    do_record_change(acting_user, AuditAction.UPDATE, entry, fields=["active"])
    _announce(entry, "ended", _bump_version(entry.city_id))
    return entry
