"""Reads of the registry: search and filtering shared by the pages, the API and exports.

Every query here runs in the current compound's schema (chosen by the middleware from the URL,
after the scope check), so it can only ever see this compound's rows.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from registry.models import House, Lease, Organisation, Person, Vehicle
from registry.validators import normalise


def search_persons(qs: QuerySet[Person], q: str = "", tag: str = "") -> QuerySet[Person]:
    """Persons matching a name, ID number, phone or address fragment, and a tag."""
    qs = qs.select_related("house__address")
    if q := q.strip():
        token = normalise(q)
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(id_number__startswith=token)
            | Q(id_number__endswith=token)
            | Q(phone__contains=token)
            | Q(house__address__full_name__icontains=q)
            | Q(house__address__code__startswith=token)
        )
    if tag:
        qs = qs.filter(tags__contains=[tag])
    return qs


def search_houses(qs: QuerySet[House], q: str = "", tag: str = "") -> QuerySet[House]:
    """Houses matching an address, owner name or owner phone; ``tag`` filters by use."""
    qs = qs.select_related("address")
    if q := q.strip():
        token = normalise(q)
        qs = qs.filter(
            Q(address__full_name__icontains=q)
            | Q(address__code__startswith=token)
            | Q(owner_name__icontains=q)
            | Q(owner_phone__contains=token)
        )
    if tag:
        qs = qs.filter(use=tag)
    return qs


def search_organisations(qs: QuerySet[Organisation], q: str = "", tag: str = "") -> QuerySet[Organisation]:
    """Organisations matching a name, credit code, contact or phone; ``tag`` filters by kind."""
    qs = qs.select_related("address")
    if q := q.strip():
        token = normalise(q)
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(uscc__startswith=token)
            | Q(contact_name__icontains=q)
            | Q(contact_phone__contains=token)
            | Q(address_detail__icontains=q)
        )
    if tag:
        qs = qs.filter(kind=tag)
    return qs


def search_vehicles(qs: QuerySet[Vehicle], q: str = "", tag: str = "") -> QuerySet[Vehicle]:
    """Vehicles matching a plate fragment, brand or owner; ``tag`` filters by plate kind."""
    qs = qs.select_related("owner")
    if q := q.strip():
        token = normalise(q)
        qs = qs.filter(Q(plate__contains=token) | Q(brand__icontains=q) | Q(owner__name__icontains=q))
    if tag:
        qs = qs.filter(plate_kind=tag)
    return qs


def search_leases(qs: QuerySet[Lease], q: str = "", tag: str = "") -> QuerySet[Lease]:
    """Leases matching a tenant's name or the house's address; ``tag="current"`` keeps running ones."""
    qs = qs.select_related("tenant", "house__address")
    if q := q.strip():
        qs = qs.filter(Q(tenant__name__icontains=q) | Q(house__address__full_name__icontains=q))
    if tag == "current":
        qs = qs.filter(end_date__isnull=True)
    return qs
