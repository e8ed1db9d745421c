"""What each role may do, and the one function that answers "may this user do X here?".

Scope (which compounds a role covers) lives in ``district.scope``; this module adds the
capability layer on top: a user in scope without the capability gets 403, a user out of
scope gets 404 (from the compound middleware or a scoped queryset). Per-object exceptions
(e.g. a mediator allowed to edit one record) are django-guardian grants inside the
compound's schema, checked by ``can_change_object``.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from district.choices import Role
from district.scope import _assignments
from tenants.models import Compound

User = AbstractBaseUser | AnonymousUser

VIEW_REGISTRY = "registry.view"
CHANGE_REGISTRY = "registry.change"
VIEW_PII = "pii.view"
SET_KEY_PERSON = "registry.key_person"
ASSIGN_ROLES = "roles.assign"
VIEW_AUDIT = "audit.view"

ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    # 市局: sees everything in the city, unmasked; reads the audit log; no day-to-day data entry.
    Role.CITY_BUREAU: frozenset({VIEW_REGISTRY, VIEW_PII, SET_KEY_PERSON, ASSIGN_ROLES, VIEW_AUDIT}),
    # 分局: as the city bureau for its district, without the audit log.
    Role.DISTRICT_BRANCH: frozenset({VIEW_REGISTRY, VIEW_PII, SET_KEY_PERSON, ASSIGN_ROLES}),
    # 街道办: runs the registry of its compounds and staffs them; sees PII masked.
    Role.STREET_OFFICE: frozenset({VIEW_REGISTRY, CHANGE_REGISTRY, ASSIGN_ROLES}),
    # 物业 and 网格员: keep the registry of their compound up to date; PII masked.
    Role.PROPERTY_STAFF: frozenset({VIEW_REGISTRY, CHANGE_REGISTRY}),
    Role.GRID_WORKER: frozenset({VIEW_REGISTRY, CHANGE_REGISTRY}),
    # 社区民警: the police officer of the compound: edits, sees PII, sets key-person tags.
    Role.BEAT_OFFICER: frozenset({VIEW_REGISTRY, CHANGE_REGISTRY, VIEW_PII, SET_KEY_PERSON}),
    # 调解员: reads the registry to find the parties of a dispute; edits only what is granted.
    Role.MEDIATOR: frozenset({VIEW_REGISTRY}),
}
ALL_CAPABILITIES = frozenset().union(*ROLE_CAPABILITIES.values())


def _covers(assignment: object, compound: Compound) -> bool:
    if assignment.compound_id:
        return assignment.compound_id == compound.pk
    path = assignment.area.path
    return compound.street.path == path or compound.street.path.startswith(f"{path}/")


def capabilities(user: User, compound: Compound | None = None) -> frozenset[str]:
    """The user's capabilities at a compound, or anywhere in their scope when ``compound`` is None."""
    if not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return ALL_CAPABILITIES
    caps: set[str] = set()
    for ra in _assignments(user):
        if compound is None or _covers(ra, compound):
            caps |= ROLE_CAPABILITIES.get(ra.role, frozenset())
    return frozenset(caps)


def has_capability(user: User, capability: str, compound: Compound | None = None) -> bool:
    """May the user do ``capability`` at ``compound`` (or somewhere in their scope)?"""
    return capability in capabilities(user, compound)


def can_change_object(user: User, compound: Compound, obj: models.Model | None) -> bool:
    """Role capability, or a per-object guardian grant (``change_<model>``) in this compound's schema."""
    if has_capability(user, CHANGE_REGISTRY, compound):
        return True
    if obj is None or obj.pk is None or not user.is_authenticated:
        return False
    from guardian.shortcuts import get_perms

    return f"change_{obj._meta.model_name}" in get_perms(user, obj)
