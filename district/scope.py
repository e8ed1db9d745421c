"""The one place that answers "which compounds and areas does this user's role cover?".

A role at a node covers everything beneath it (DESIGN.md §3). Views, API viewsets, the
compound middleware and (later) WebSocket consumers all ask here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from district.models import Area, RoleAssignment
from tenants.models import Compound

User = AbstractBaseUser | AnonymousUser


def _assignments(user: User) -> list[RoleAssignment]:
    cached = getattr(user, "_role_assignments_cache", None)
    if cached is None:
        cached = list(RoleAssignment.objects.filter(user=user).select_related("area", "compound"))
        user._role_assignments_cache = cached  # one query per request, however often we ask
    return cached


def compound_scope_q(user: User, roles: Iterable[str] | None = None) -> Q | None:
    """A filter on Compound for the user's scope (only of ``roles`` if given); None means everything."""
    if user.is_superuser:
        return None
    q = Q(pk__in=[])
    for ra in _assignments(user):
        if roles is not None and ra.role not in roles:
            continue
        if ra.compound_id:
            q |= Q(pk=ra.compound_id)
        elif ra.area_id:
            q |= Q(street__path=ra.area.path) | Q(street__path__startswith=f"{ra.area.path}/")
    return q


def compounds_in_scope(user: User, roles: Iterable[str] | None = None) -> QuerySet[Compound]:
    """Compounds the user may open (through any role, or only through ``roles``)."""
    if not user.is_authenticated:
        return Compound.objects.none()
    q = compound_scope_q(user, roles)
    qs = Compound.objects.exclude(schema_name="public").select_related("street")
    return qs if q is None else qs.filter(q)


def areas_in_scope(user: User) -> QuerySet[Area]:
    """Areas at or beneath the user's area roles, plus the streets of their compound roles."""
    if not user.is_authenticated:
        return Area.objects.none()
    if user.is_superuser:
        return Area.objects.all()
    q = Q(pk__in=[])
    for ra in _assignments(user):
        if ra.area_id:
            q |= Q(path=ra.area.path) | Q(path__startswith=f"{ra.area.path}/")
        elif ra.compound_id:
            q |= Q(pk=ra.compound.street_id)
    return Area.objects.filter(q)


def covers_compound(user: User, compound: Compound) -> bool:
    """Does the user's scope include this compound?"""
    return compounds_in_scope(user).filter(pk=compound.pk).exists()


def is_police_for(user: User, compound: Compound) -> bool:
    """May the user set police-only tags (重点人员) in this compound? (市局, 分局, 社区民警)"""
    from district.permissions import SET_KEY_PERSON, has_capability

    return has_capability(user, SET_KEY_PERSON, compound)
