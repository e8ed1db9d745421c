"""Search and filters of the registry lists, shared by the pages, the API and the exports.

One ``FilterSet`` per record kind (django-filter): ``q`` searches names (also by pinyin,
``zhangwei``, and initials, ``zw``), identifiers and addresses (also by the shorthand
``3-2-501``), ``tag`` narrows by a kind-specific choice. Identifiers are matched by fragment only
for users who see them unmasked (``pii.view`` at the request's compound); everyone else
matches them only whole, so a mask cannot be peeled off by searching ``37010``, ``370102`` …
and watching which rows stay. The default is masked: a filterset without a request, or with a
user who has not proved ``pii.view``, never matches fragments.

A whole-identifier search by a masked user still answers "does this number exist here?", so
it is a lookup that ``district.probes`` audits, rate-limits and locks out after too many
misses (issue #7): the search raises ``district.probes.ProbeLimitError`` when refused, and
a search that is no identifier (a name, an address) is never compared with identifiers at all.
The 重点人员 tag is police information: only holders of ``registry.key_person`` may filter by it;
for anyone else ``tag=key_person`` finds nobody, whoever is tagged (a valid choice of the API's
schema all the same, so the answer does not depend on the user's role either).

Every query here runs in the current compound's schema (chosen by the middleware after the
scope check), so it can only ever see this compound's rows.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import django_filters
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from district.models import ProbeKind
from district.permissions import SET_KEY_PERSON, VIEW_PII, has_capability
from district.probes import do_record_probe
from registry.choices import POLICE_ONLY_TAGS, AddressLevel, HouseUse, OrganisationKind, PersonTag, PlateKind
from registry.masking import identifier_kind, pii_fields
from registry.models import House, Lease, Organisation, Person, Vehicle
from registry.validators import normalise

MAX_QUERY_LENGTH = 100


def request_shows_pii(request: HttpRequest | None) -> bool:
    """Has the requesting user proved ``pii.view`` at the request's compound? (False without one.)"""
    if request is None:
        return False
    compound = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    return compound is not None and user is not None and has_capability(user, VIEW_PII, compound)


def request_shows_police_tags(request: HttpRequest | None) -> bool:
    """May the requesting user see and filter by police-only tags (重点人员) at the request's compound?"""
    if request is None:
        return False
    compound = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    return compound is not None and user is not None and has_capability(user, SET_KEY_PERSON, compound)


NOTHING = Q(pk__in=[])  # matches no row (an OR with it adds nothing)
PINYIN = re.compile(r"[A-Za-z]+")
SHORTHAND = re.compile(r"(\d{1,8})-(\d{1,8})(?:-(\d{1,8}))?")


def pinyin_q(text: str, prefix: str = "") -> Q:
    """Names whose pinyin (``zhangwei``) or initials (``zw``) start with ``text`` (ASCII letters only).

    Names are shown to every role, so this finds no more than a name search would.
    """
    if not PINYIN.fullmatch(text):
        return NOTHING
    key = text.lower()
    return Q(**{f"{prefix}name_pinyin__startswith": key}) | Q(**{f"{prefix}name_initials__startswith": key})


def shorthand_q(text: str, address: str) -> Q:
    """Rooms named by the shorthand ``3-2-501`` (building-unit-room) or ``3-501`` (building-room).

    ``address`` is the lookup path to a room address (``house__address``). Addresses are not
    personal identifiers: everyone may search them.
    """
    match = SHORTHAND.fullmatch(text)
    if match is None:
        return NOTHING
    building, middle, room = match.groups()
    if room is None:  # building-room, in whichever unit
        building, unit, room = building, None, middle
    else:
        unit = middle
    # room → floor → unit → building
    q = Q(**{f"{address}__level": AddressLevel.ROOM, f"{address}__number": room})
    q &= Q(**{f"{address}__parent__parent__parent__number": building})
    if unit is not None:
        q &= Q(**{f"{address}__parent__parent__number": unit})
    return q


PROBE_KINDS = {"id": ProbeKind.ID_NUMBER, "phone": ProbeKind.PHONE}


class RegistryFilterSet(django_filters.FilterSet):
    """``q`` (free text, searched by :meth:`search`) and ``tag`` (a kind's choice filter)."""

    q = django_filters.CharFilter(method="filter_q", label=_("search"), max_length=MAX_QUERY_LENGTH, strip=True)

    # The personal identifiers ``q`` searches, each with the fragment lookups used for users
    # who see them unmasked; everyone else matches them only whole (:meth:`identifier_q`).
    identifiers: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, data: Any = None, queryset: QuerySet | None = None, *, request: Any = None, **kwargs: Any):
        super().__init__(data, queryset, request=request, **kwargs)
        # DRF wraps the Django request: the compound and the user are on the inner one.
        self.http_request: HttpRequest | None = getattr(request, "_request", request)
        self.pii = request_shows_pii(self.http_request)
        self.police_tags = request_shows_police_tags(self.http_request)

    related: tuple[str, ...] = ()

    def identifier_q(self, token: str) -> Q:
        """Rows whose personal identifiers match ``token``: by fragment for users with ``pii.view``.

        Anyone else matches only a whole identifier of the kind ``token`` is (a phone number
        against phones, a document number against ID numbers), and each such search is a lookup
        recorded by ``district.probes`` (audited, counted, refused over the limit). A token that
        is no identifier, or an address code of this compound, is not compared with identifiers.
        """
        if self.pii:
            q = NOTHING
            for field, lookups in self.identifiers.items():
                for lookup in lookups:
                    q |= Q(**{f"{field}__{lookup}": token})
            return q
        request = self.http_request
        compound = getattr(request, "tenant", None)
        user = getattr(request, "user", None)
        kind = identifier_kind(token)
        model = self._meta.model
        fields = [field for field in self.identifiers if pii_fields(model).get(field) == kind]
        if kind is None or not fields or compound is None or user is None or not user.is_authenticated:
            return NOTHING
        if token.startswith(compound.code):
            return NOTHING  # a standard-address code (they start with the compound's code)
        exact = NOTHING
        for field in fields:
            exact |= Q(**{field: token})
        found = list(model._default_manager.filter(exact).values_list("pk", flat=True))
        do_record_probe(
            user,
            compound,
            PROBE_KINDS[kind],
            hit=bool(found),
            q=token,
            object_type=model._meta.label_lower,
            object_ids=found,
            request=request,
        )
        return exact

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        return super().filter_queryset(queryset.select_related(*self.related))

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.replace("\x00", "").strip()  # PostgreSQL refuses NUL in literals
        return self.search(queryset, text, normalise(text)) if text else queryset

    # What ``q`` searches, declared by each kind: fields containing the text as typed, lookups
    # on the normalised token (half-width, upper case), the path to a person whose name is
    # searched by pinyin, and the path to a room address searched by shorthand (``3-2-501``).
    text_fields: ClassVar[tuple[str, ...]] = ()
    token_lookups: ClassVar[tuple[str, ...]] = ()
    pinyin_prefix: ClassVar[str | None] = None
    shorthand_address: ClassVar[str | None] = None

    def search(self, queryset: QuerySet, text: str, token: str) -> QuerySet:
        """Rows matching ``text`` (as typed) or ``token`` in what the kind declares searchable."""
        q = self.identifier_q(token)
        for field in self.text_fields:
            q |= Q(**{f"{field}__icontains": text})
        for lookup in self.token_lookups:
            q |= Q(**{lookup: token})
        if self.pinyin_prefix is not None:
            q |= pinyin_q(text, self.pinyin_prefix)
        if self.shorthand_address is not None:
            q |= shorthand_q(text, self.shorthand_address)
        return queryset.filter(q)


class PersonFilterSet(RegistryFilterSet):
    """实有人口: name, ID number, phone, address; ``tag`` a person tag."""

    tag = django_filters.ChoiceFilter(choices=PersonTag.choices, method="filter_tag")
    related = ("house__address",)
    text_fields = ("name", "house__address__full_name")
    token_lookups = ("house__address__code__startswith",)
    pinyin_prefix = ""
    shorthand_address = "house__address"
    identifiers = {"id_number": ("startswith", "endswith"), "phone": ("contains",)}

    class Meta:
        model = Person
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value in POLICE_ONLY_TAGS and not self.police_tags:
            # Only police roles filter by 重点人员; for others it finds nobody, so the filter
            # cannot tell who is a key person.
            return queryset.none()
        return queryset.filter(tags__contains=[value])


class HouseFilterSet(RegistryFilterSet):
    """实有房屋: address, owner name or phone; ``tag`` the house's use."""

    tag = django_filters.ChoiceFilter(field_name="use", choices=HouseUse.choices)
    related = ("address",)
    text_fields = ("address__full_name", "owner_name")
    token_lookups = ("address__code__startswith",)
    shorthand_address = "address"
    identifiers = {"owner_phone": ("contains",)}

    class Meta:
        model = House
        fields: list[str] = []


class OrganisationFilterSet(RegistryFilterSet):
    """实有单位: name, credit code, contact, phone, address; ``tag`` the kind."""

    tag = django_filters.ChoiceFilter(field_name="kind", choices=OrganisationKind.choices)
    related = ("address",)
    text_fields = ("name", "contact_name", "address_detail")
    token_lookups = ("uscc__startswith",)
    identifiers = {"contact_phone": ("contains",)}

    class Meta:
        model = Organisation
        fields: list[str] = []


class VehicleFilterSet(RegistryFilterSet):
    """Vehicles: plate fragment, brand, owner's name; ``tag`` the plate kind."""

    tag = django_filters.ChoiceFilter(field_name="plate_kind", choices=PlateKind.choices)
    related = ("owner",)
    text_fields = ("brand", "owner__name")
    token_lookups = ("plate__contains",)

    class Meta:
        model = Vehicle
        fields: list[str] = []


class LeaseFilterSet(RegistryFilterSet):
    """Leases: tenant's name or the house's address; ``tag=current`` keeps running leases."""

    tag = django_filters.ChoiceFilter(choices=[("current", _("current"))], method="filter_tag")
    related = ("tenant", "house__address")
    text_fields = ("tenant__name", "house__address__full_name")
    pinyin_prefix = "tenant__"
    shorthand_address = "house__address"

    class Meta:
        model = Lease
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(end_date__isnull=True) if value == "current" else queryset
