"""The event log and pass search (案件研判): who passed which gates between two times.

One filterset serves the event-log page, the pass-search page and the events API. Every query
reads the public ``events.AccessEvent`` table narrowed to the request's compound (always, by
``compound_id``: the table holds every compound's events) and to a time window of at most
:data:`MAX_SPAN` (the window prunes the monthly partitions and bounds each index scan). Rows
come newest first, a page at a time, by keyset (``occurred_at``, ``id``): a page deep in 90
days costs what the first one does, and nothing counts all the rows.

A person is searched by registry id, or by text resolved to ids in the compound's schema
first with the registry's own person search (``registry.filtersets.PersonFilterSet``): a
user who sees identifiers masked matches ID numbers and phones only whole, and each such
lookup is recorded, limited and locked out by ``district.probes``; a search by a whole ID
number is audited for everyone, as on the registry's pages. Names are read from the
compound's schema by id for the page shown (never copied into the public table), masked
(``张*伟``) for users without ``access.search``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field

from access.models import Device, VisitorPass
from district.audit import do_record_id_number_search
from district.permissions import SEARCH_PASSAGES, has_capability
from events.choices import Decision, Direction, EventKind
from events.models import AccessEvent, DeviceIndex
from registry.filtersets import MAX_QUERY_LENGTH, PersonFilterSet
from registry.masking import full_id_number
from registry.models import Person
from registry.validators import normalise
from tenants.models import Compound

__all__ = [
    "DEFAULT_SPAN",
    "MAX_SPAN",
    "PAGE_SIZE",
    "AccessEventFilterSet",
    "EventPage",
    "EventRow",
    "describe_events",
    "events_of",
    "mask_name",
    "page_of",
    "request_sees_passages",
]

MAX_SPAN = timedelta(days=92)  # a quarter: the longest window one search may read
DEFAULT_SPAN = timedelta(days=7)  # the window when only one end, or none, is given
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# A text search naming more residents than this is too vague to follow: the first ones are used.
PERSON_MATCHES = 200
# Times outside these years are typing errors; refusing them also keeps date arithmetic in range.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"([0-9]{1,18})-([0-9]{1,18})")
MAX_ID = 2**31 - 1  # person and pass ids are PostgreSQL integers


def events_of(compound: Compound) -> QuerySet[AccessEvent]:
    """Every access event of ``compound`` (and of no other), newest first."""
    return AccessEvent.objects.filter(compound_id=compound.pk).order_by("-occurred_at", "-id")


def request_sees_passages(request: HttpRequest | None) -> bool:
    """Does the user hold ``access.search`` at the request's compound (names whole, snapshots)?"""
    compound = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    return compound is not None and user is not None and has_capability(user, SEARCH_PASSAGES, compound)


def mask_name(name: str) -> str:
    """A name with its middle hidden: ``张伟`` → ``张*``, ``欧阳娜娜`` → ``欧**娜``."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# --- The filters ------------------------------------------------------------------------------


# An optional filter left empty (``?person=``) is no filter: the schema says so.
NOTHING_GIVEN = {"type": "string", "maxLength": 0}


@extend_schema_field({"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, NOTHING_GIVEN]})
class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter (django-filter's NumberFilter takes decimals: ``1.5`` would pass)."""

    field_class = forms.IntegerField


class TimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time (``2026-12-01T09:30:00+08:00``; a time without a zone is Beijing time)."""


def time_filter(label: Any, description: str) -> TimeFilter:
    schema = {"anyOf": [{"type": "string", "format": "date-time"}, NOTHING_GIVEN], "description": description}
    return extend_schema_field(schema)(TimeFilter(method="filter_window", label=label))


class EventFilterForm(forms.Form):
    """Checks the time window: within :data:`EARLIEST`–:data:`LATEST`, start before end, at most MAX_SPAN."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None
        start, end = cleaned.get("from"), cleaned.get("to")
        for name, value in (("from", start), ("to", end)):
            if value is not None and not EARLIEST <= value < LATEST:
                self.add_error(name, _("Enter a time between 2000 and 2099."))
                return cleaned
        if start is not None and end is not None:
            if start > end:
                raise forms.ValidationError(_("The start of the time range is after its end."))
            if end - start > MAX_SPAN:
                raise forms.ValidationError(_("Search at most %(days)d days at a time.") % {"days": MAX_SPAN.days})
        elif start is not None and timezone.now() - start > MAX_SPAN:
            raise forms.ValidationError(
                _("Search at most %(days)d days at a time: give the end of the range too.") % {"days": MAX_SPAN.days}
            )
        return cleaned


def time_window(cleaned: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """The window a search reads: both ends given, or the missing one filled in (``to`` = now)."""
    start, end = cleaned.get("from"), cleaned.get("to")
    if end is None:
        end = now if start is None else max(now, start)
        if start is not None:
            end = min(end, start + MAX_SPAN)
    if start is None:
        start = end - DEFAULT_SPAN
    return start, end


class AccessEventFilterSet(django_filters.FilterSet):
    """Filters of the event log, the pass search and the events API (``from``/``to`` added below).

    ``q`` names residents (name, pinyin, whole ID number or phone), resolved in the compound's
    schema; ``person`` a resident's id; ``plate`` a whole plate; ``device`` a device id (uid).
    """

    q = django_filters.CharFilter(
        method="filter_q",
        label=gettext_lazy("Resident"),
        max_length=MAX_QUERY_LENGTH,
        help_text=gettext_lazy("Name (or pinyin), whole ID number or phone of a resident of the compound"),
    )
    person = IntegerFilter(field_name="person_id", label=gettext_lazy("Resident id"), min_value=1, max_value=MAX_ID)
    plate = django_filters.CharFilter(
        method="filter_plate",
        label=gettext_lazy("Plate number"),
        max_length=16,
        help_text=gettext_lazy("A whole plate number, e.g. 鲁A12345"),
    )
    device = django_filters.CharFilter(
        method="filter_device", label=gettext_lazy("Device"), max_length=32, help_text=gettext_lazy("A device id")
    )
    kind = django_filters.ChoiceFilter(choices=EventKind.choices, label=gettext_lazy("kind"))
    decision = django_filters.ChoiceFilter(choices=Decision.choices, label=gettext_lazy("decision"))
    direction = django_filters.ChoiceFilter(
        choices=[(Direction.IN.value, Direction.IN.label), (Direction.OUT.value, Direction.OUT.label)],
        label=gettext_lazy("direction"),
    )
    visitor_pass = IntegerFilter(
        field_name="visitor_pass_id", label=gettext_lazy("Visitor pass"), min_value=1, max_value=MAX_ID
    )

    class Meta:
        model = AccessEvent
        fields: list[str] = []
        form = EventFilterForm

    def __init__(self, data: Any = None, queryset: QuerySet | None = None, *, request: Any = None, **kwargs: Any):
        super().__init__(data, queryset, request=request, **kwargs)
        # DRF wraps the Django request: the compound and the user are on the inner one.
        self.http_request: HttpRequest | None = getattr(request, "_request", request)
        self.compound: Compound | None = getattr(self.http_request, "tenant", None)
        self.window: tuple[datetime, datetime] | None = None
        self.person_matches: int | None = None  # residents a text search named (None: no text search)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if self.compound is None:
            return queryset.none()
        # Whatever the caller passed, one compound's events only.
        queryset = queryset.filter(compound_id=self.compound.pk)
        start, end = self.window = time_window(self.form.cleaned_data, timezone.now())
        queryset = queryset.filter(occurred_at__gte=start, occurred_at__lte=end)
        return super().filter_queryset(queryset)

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.replace("\x00", "").strip()
        if not text:
            return queryset
        people = PersonFilterSet({"q": text}, queryset=Person.objects.all(), request=self.http_request).qs
        ids = list(people.order_by("pk").values_list("pk", flat=True)[:PERSON_MATCHES])
        self.person_matches = len(ids)
        user = getattr(self.http_request, "user", None)
        number = full_id_number(text)
        if number and self.compound is not None and user is not None:
            # A whole ID number singles out one person: audited whoever searches (as the registry does).
            do_record_id_number_search(user, self.compound, number, found=people, request=self.http_request)
        return queryset.filter(person_id__in=ids)

    def filter_plate(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        plate = normalise(value)
        return queryset.filter(plate=plate) if plate else queryset

    def filter_window(self, queryset: QuerySet, name: str, value: datetime) -> QuerySet:
        # ``from`` and ``to``: the window is applied once, with its defaults, in filter_queryset.
        return queryset

    def filter_device(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        uid = value.strip()
        if not uid or self.compound is None:
            return queryset
        device = DeviceIndex.objects.filter(compound_id=self.compound.pk, uid=uid).values_list("pk", flat=True).first()
        return queryset.filter(device_id=device) if device is not None else queryset.none()


# ``from`` is a Python keyword: the two ends of the window are added by name.
AccessEventFilterSet.base_filters["from"] = time_filter(
    gettext_lazy("From"),
    "Start of the time range (ISO 8601): at most 92 days before its end, 7 days before it if left out.",
)
AccessEventFilterSet.base_filters["to"] = time_filter(gettext_lazy("To"), "End of the time range; now if left out.")


# --- Pages of events ----------------------------------------------------------------------------


def encode_cursor(event: AccessEvent) -> str:
    """The position after ``event``: its time in microseconds since 1970 and its id."""
    micros = (event.occurred_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}-{event.pk}"


def decode_cursor(text: str | None) -> tuple[datetime, int] | None:
    """A cursor's position, or None for a missing or malformed one (the first page)."""
    match = CURSOR.fullmatch(text or "")
    if match is None:
        return None
    micros, pk = int(match[1]), int(match[2])
    if micros > (LATEST - EPOCH) // timedelta(microseconds=1):
        return None
    return EPOCH + timedelta(microseconds=micros), pk


@dataclass
class EventPage:
    """One page of events, newest first, and the cursor of the next (None on the last page)."""

    events: list[AccessEvent]
    next_cursor: str | None


def page_of(queryset: QuerySet[AccessEvent], cursor: str | None, limit: int = PAGE_SIZE) -> EventPage:
    """The ``limit`` events after ``cursor`` in (time, id) order, newest first."""
    position = decode_cursor(cursor)
    if position is not None:
        at, pk = position
        # occurred_at <= at bounds the index scan; the OR only breaks ties at the same instant.
        queryset = queryset.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=pk), occurred_at__lte=at)
    rows = list(queryset.order_by("-occurred_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(rows, encode_cursor(rows[-1]) if more and rows else None)


# --- What a page shows of each event ------------------------------------------------------------


@dataclass
class EventRow:
    """An event with the names the compound's schema (and the user table) give its ids."""

    event: AccessEvent
    device_uid: str
    device_name: str
    person_name: str
    visitor_name: str
    actor_name: str
    note: str
    link: str = ""  # where tapping the row leads (set by the page: that person's other passages)

    @property
    def has_snapshot(self) -> bool:
        return bool(self.event.snapshot)

    @property
    def who(self) -> str:
        return self.person_name or self.visitor_name or self.event.plate or self.event.card_no or self.actor_name


def describe_events(events: list[AccessEvent], *, whole_names: bool) -> list[EventRow]:
    """Rows for ``events`` (run in their compound's schema): four queries whatever the page size.

    ``whole_names`` for holders of ``access.search``; everyone else sees names masked.
    """
    index_ids = {e.device_id for e in events if e.device_id}
    uids = dict(DeviceIndex.objects.filter(pk__in=index_ids).values_list("pk", "uid"))
    names = dict(Device.objects.filter(uid__in=uids.values()).values_list("uid", "name"))
    person_ids = {e.person_id for e in events if e.person_id}
    persons = dict(Person.objects.filter(pk__in=person_ids).values_list("pk", "name"))
    pass_ids = {e.visitor_pass_id for e in events if e.visitor_pass_id}
    visitors = dict(VisitorPass.objects.filter(pk__in=pass_ids).values_list("pk", "visitor_name"))
    actor_ids = {e.actor_id for e in events if e.actor_id}
    actors = dict(get_user_model()._default_manager.filter(pk__in=actor_ids).values_list("pk", "username"))

    def shown(name: str | None) -> str:
        return (name if whole_names else mask_name(name or "")) or ""

    rows = []
    for event in events:
        uid = uids.get(event.device_id or 0, "")
        detail = event.detail if isinstance(event.detail, dict) else {}
        rows.append(
            EventRow(
                event=event,
                device_uid=uid,
                device_name=names.get(uid, uid),
                person_name=shown(persons.get(event.person_id or 0)),
                visitor_name=shown(visitors.get(event.visitor_pass_id or 0)),
                actor_name=str(actors.get(event.actor_id or 0, "")),
                note=str(detail.get("note", "")) if event.kind == EventKind.REMOTE else "",
            )
        )
    return rows
