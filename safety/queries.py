"""Permission-checked reads of incidents and snapshots (STYLE.md §6: ``access_<noun>_by_id``).

An incident is visible through a role with ``safety.incidents`` held at its city, district, street
or compound (the incident's tags); an unmatched incident, tagged with its city only, therefore
only to city-level roles. Missing and forbidden records answer alike (404).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from district.models import Area
from district.permissions import MANAGE_INCIDENTS, VIEW_DASHBOARD, roles_with
from district.scope import assignments_of, compounds_in_scope
from district.typing import AnyUser
from safety.models import Incident
from tenants.models import Compound

__all__ = [
    "access_compound_for_index",
    "access_incident_by_id",
    "assignable_compounds",
    "incident_cities",
    "visible_incidents",
]

LEVEL_TAG = {"city": "city_id", "district": "district_id", "street": "street_id"}


def visible_incidents(user: AnyUser) -> QuerySet[Incident]:
    """Incidents the user's incident-handling roles cover (see the module docstring)."""
    qs = Incident.objects.select_related("compound")
    if not user.is_authenticated:
        return qs.none()
    if user.is_superuser:
        return qs
    roles = set(roles_with(MANAGE_INCIDENTS))
    q = Q(pk__in=[])
    for ra in assignments_of(user):
        if ra.role not in roles:
            continue
        if ra.area is not None:
            q |= Q(**{LEVEL_TAG[ra.area.level]: ra.area_id})
        elif ra.compound_id is not None:
            q |= Q(compound_id=ra.compound_id)
    return qs.filter(q)


def access_incident_by_id(user: AnyUser, pk: int) -> Incident:
    incident = visible_incidents(user).filter(pk=pk).first()
    if incident is None:
        raise Http404("No such incident")
    return incident


def incident_cities(user: AnyUser) -> QuerySet[Area]:
    """The cities in which the user enters and imports incidents (the cities of their roles)."""
    if user.is_superuser:
        return Area.objects.filter(level="city")
    roles = set(roles_with(MANAGE_INCIDENTS))
    codes = set()
    for ra in assignments_of(user):
        if ra.role not in roles:
            continue
        path = ra.area.path if ra.area is not None else (ra.compound.street.path if ra.compound else "")
        if path:
            codes.add(path.split("/")[0])
    return Area.objects.filter(level="city", code__in=codes)


def assignable_compounds(user: AnyUser) -> QuerySet[Compound]:
    """Compounds an incident may be matched to by this user (those their incident roles cover)."""
    return compounds_in_scope(user, roles=roles_with(MANAGE_INCIDENTS))


def access_compound_for_index(user: AnyUser, pk: int) -> Compound:
    """A compound whose index the user may open (a dashboard role covering it); 404 otherwise."""
    compound = compounds_in_scope(user, roles=roles_with(VIEW_DASHBOARD)).filter(pk=pk).first()
    if compound is None:
        raise Http404("No such compound")
    return compound
