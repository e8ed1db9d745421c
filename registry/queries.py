"""Reads of the registry: search and filtering shared by the pages, the API and exports.

Every query here runs in the current compound's schema (chosen by the middleware from the URL,
after the scope check), so it can only ever see this compound's rows.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from registry.models import House, Lease, Organisation, Person, Vehicle
from registry.validators import normalise


def clean_terms(q: str, tag: str) -> tuple[str, str]:
    """Search text without NUL characters (PostgreSQL refuses them in literals)."""
    return q.replace("\x00", "").strip(), tag.replace("\x00", "")


def pii_match(field: str, token: str, pii: bool, *, lookup: str) -> Q:
    """A fragment match on a personal identifier, or an exact one for users who see it masked.

    A user who sees ``3701**********123X`` must not be able to recover the hidden digits by
    searching ``37010``, ``370102`` … and watching which rows stay (found in review): without
    ``pii.view`` only the whole value matches, and a whole ID number search is audited.
    """
    return Q(**{f"{field}__{lookup}": token}) if pii else Q(**{field: token})


def search_persons(qs: QuerySet[Person], q: str = "", tag: str = "", *, pii: bool = True) -> QuerySet[Person]:
    """Persons matching a name, ID number, phone or address fragment, and a tag."""
    qs = qs.select_related("house__address")
    q, tag = clean_terms(q, tag)
    if q:
        token = normalise(q)
        qs = qs.filter(
            Q(name__icontains=q)
            | pii_match("id_number", token, pii, lookup="startswith")
            | pii_match("id_number", token, pii, lookup="endswith")
            | pii_match("phone", token, pii, lookup="contains")
            | Q(house__address__full_name__icontains=q)
            | Q(house__address__code__startswith=token)
        )
    if tag:
        qs = qs.filter(tags__contains=[tag])
    return qs


def search_houses(qs: QuerySet[House], q: str = "", tag: str = "", *, pii: bool = True) -> QuerySet[House]:
    """Houses matching an address, owner name or owner phone; ``tag`` filters by use."""
    qs = qs.select_related("address")
    q, tag = clean_terms(q, tag)
    if q:
        token = normalise(q)
        qs = qs.filter(
            Q(address__full_name__icontains=q)
            | Q(address__code__startswith=token)
            | Q(owner_name__icontains=q)
            | pii_match("owner_phone", token, pii, lookup="contains")
        )
    if tag:
        qs = qs.filter(use=tag)
    return qs


def search_organisations(
    qs: QuerySet[Organisation], q: str = "", tag: str = "", *, pii: bool = True
) -> QuerySet[Organisation]:
    """Organisations matching a name, credit code, contact or phone; ``tag`` filters by kind."""
    qs = qs.select_related("address")
    q, tag = clean_terms(q, tag)
    if q:
        token = normalise(q)
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(uscc__startswith=token)
            | Q(contact_name__icontains=q)
            | pii_match("contact_phone", token, pii, lookup="contains")
            | Q(address_detail__icontains=q)
        )
    if tag:
        qs = qs.filter(kind=tag)
    return qs


def search_vehicles(qs: QuerySet[Vehicle], q: str = "", tag: str = "", *, pii: bool = True) -> QuerySet[Vehicle]:
    """Vehicles matching a plate fragment, brand or owner; ``tag`` filters by plate kind."""
    qs = qs.select_related("owner")
    q, tag = clean_terms(q, tag)
    if q:
        token = normalise(q)
        qs = qs.filter(Q(plate__contains=token) | Q(brand__icontains=q) | Q(owner__name__icontains=q))
    if tag:
        qs = qs.filter(plate_kind=tag)
    return qs


def search_leases(qs: QuerySet[Lease], q: str = "", tag: str = "", *, pii: bool = True) -> QuerySet[Lease]:
    """Leases matching a tenant's name or the house's address; ``tag="current"`` keeps running ones."""
    qs = qs.select_related("tenant", "house__address")
    q, tag = clean_terms(q, tag)
    if q:
        qs = qs.filter(Q(tenant__name__icontains=q) | Q(house__address__full_name__icontains=q))
    if tag == "current":
        qs = qs.filter(end_date__isnull=True)
    return qs
