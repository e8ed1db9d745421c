"""Search and filters of the registry lists, shared by the pages, the API and the exports.

One ``FilterSet`` per record kind (django-filter): ``q`` searches names, identifiers and
addresses, ``tag`` narrows by a kind-specific choice. Identifiers are matched by fragment only
for users who see them unmasked (``pii.view`` at the request's compound); everyone else
matches them only whole, so a mask cannot be peeled off by searching ``37010``, ``370102`` …
and watching which rows stay. The default is masked: a filterset without a request, or with a
user who has not proved ``pii.view``, never matches fragments.

Every query here runs in the current compound's schema (chosen by the middleware after the
scope check), so it can only ever see this compound's rows.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from district.permissions import VIEW_PII, has_capability
from registry.choices import HouseUse, OrganisationKind, PersonTag, PlateKind
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


def pii_match(field: str, token: str, pii: bool, *, lookup: str) -> Q:
    """A fragment match on a personal identifier, or an exact one for users who see it masked."""
    return Q(**{f"{field}__{lookup}": token}) if pii else Q(**{field: token})


class RegistryFilterSet(django_filters.FilterSet):
    """``q`` (free text, searched by :meth:`search`) and ``tag`` (a kind's choice filter)."""

    q = django_filters.CharFilter(method="filter_q", label=_("search"), max_length=MAX_QUERY_LENGTH, strip=True)

    def __init__(self, data: Any = None, queryset: QuerySet | None = None, *, request: Any = None, **kwargs: Any):
        super().__init__(data, queryset, request=request, **kwargs)
        # DRF wraps the Django request: the compound and the user are on the inner one.
        self.pii = request_shows_pii(getattr(request, "_request", request))

    related: tuple[str, ...] = ()

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        return super().filter_queryset(queryset.select_related(*self.related))

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.replace("\x00", "").strip()  # PostgreSQL refuses NUL in literals
        return self.search(queryset, text, normalise(text)) if text else queryset

    def search(self, queryset: QuerySet, text: str, token: str) -> QuerySet:
        """Rows matching ``text`` (as typed) or ``token`` (normalised: half-width, upper case)."""
        raise NotImplementedError


class PersonFilterSet(RegistryFilterSet):
    """实有人口: name, ID number, phone, address; ``tag`` a person tag."""

    tag = django_filters.ChoiceFilter(choices=PersonTag.choices, method="filter_tag")
    related = ("house__address",)

    class Meta:
        model = Person
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(tags__contains=[value])

    def search(self, queryset: QuerySet, text: str, token: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=text)
            | pii_match("id_number", token, self.pii, lookup="startswith")
            | pii_match("id_number", token, self.pii, lookup="endswith")
            | pii_match("phone", token, self.pii, lookup="contains")
            | Q(house__address__full_name__icontains=text)
            | Q(house__address__code__startswith=token)
        )


class HouseFilterSet(RegistryFilterSet):
    """实有房屋: address, owner name or phone; ``tag`` the house's use."""

    tag = django_filters.ChoiceFilter(field_name="use", choices=HouseUse.choices)
    related = ("address",)

    class Meta:
        model = House
        fields: list[str] = []

    def search(self, queryset: QuerySet, text: str, token: str) -> QuerySet:
        return queryset.filter(
            Q(address__full_name__icontains=text)
            | Q(address__code__startswith=token)
            | Q(owner_name__icontains=text)
            | pii_match("owner_phone", token, self.pii, lookup="contains")
        )


class OrganisationFilterSet(RegistryFilterSet):
    """实有单位: name, credit code, contact, phone, address; ``tag`` the kind."""

    tag = django_filters.ChoiceFilter(field_name="kind", choices=OrganisationKind.choices)
    related = ("address",)

    class Meta:
        model = Organisation
        fields: list[str] = []

    def search(self, queryset: QuerySet, text: str, token: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=text)
            | Q(uscc__startswith=token)
            | Q(contact_name__icontains=text)
            | pii_match("contact_phone", token, self.pii, lookup="contains")
            | Q(address_detail__icontains=text)
        )


class VehicleFilterSet(RegistryFilterSet):
    """Vehicles: plate fragment, brand, owner's name; ``tag`` the plate kind."""

    tag = django_filters.ChoiceFilter(field_name="plate_kind", choices=PlateKind.choices)
    related = ("owner",)

    class Meta:
        model = Vehicle
        fields: list[str] = []

    def search(self, queryset: QuerySet, text: str, token: str) -> QuerySet:
        return queryset.filter(Q(plate__contains=token) | Q(brand__icontains=text) | Q(owner__name__icontains=text))


class LeaseFilterSet(RegistryFilterSet):
    """Leases: tenant's name or the house's address; ``tag=current`` keeps running leases."""

    tag = django_filters.ChoiceFilter(choices=[("current", _("current"))], method="filter_tag")
    related = ("tenant", "house__address")

    class Meta:
        model = Lease
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(end_date__isnull=True) if value == "current" else queryset

    def search(self, queryset: QuerySet, text: str, token: str) -> QuerySet:
        return queryset.filter(Q(tenant__name__icontains=text) | Q(house__address__full_name__icontains=text))
