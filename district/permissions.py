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
from django.db.models import Q
from django.http import Http404

from district.choices import ROLE_LEVEL, Role
from district.models import Area, RoleAssignment
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


# --- Delegation: who may hand out which role (issue #3) -------------------------------------
#
# A holder of a role in this table may assign (and revoke) the listed roles at the node they
# hold it at or at any node beneath it; nobody assigns upwards or sideways into another
# branch of the tree. Police roles (市局, 分局) staff everything beneath them, including the
# beat officer (社区民警), who is a police officer: a street office (街道办, civil
# administration) may staff its compounds with property staff, grid workers and mediators
# only, and may not create another street-office account (its district branch does that).
#
#   holder            may assign                                   at
#   city_bureau       every role (another 市局 account included)    its city and beneath
#   district_branch   every role except city_bureau                its district and beneath
#   street_office     property_staff, grid_worker, mediator        its street's compounds
#
# Roles without ``roles.assign`` assign nothing; superusers assign anything anywhere.
ASSIGNABLE_ROLES: dict[str, frozenset[str]] = {
    Role.CITY_BUREAU: frozenset(Role.values),
    Role.DISTRICT_BRANCH: frozenset(Role.values) - {Role.CITY_BUREAU},
    Role.STREET_OFFICE: frozenset({Role.PROPERTY_STAFF, Role.GRID_WORKER, Role.MEDIATOR}),
}

# Per-object grants (guardian, in a compound's schema) may give only these permissions on a
# record of a compound-schema model: ``can_change_object`` reads nothing else, and a grant
# the product never checks would only mislead whoever reads the list of grants.
GRANTABLE_OBJECT_ACTIONS = ("change",)


def _node_path(area: Area | None, compound: Compound | None) -> str:
    """The tree path of a node: an area's own path, a compound's street path plus its code."""
    if area is not None:
        return area.path
    assert compound is not None
    return f"{compound.street.path}/{compound.code}"


def _granting_assignments(actor: User) -> list[RoleAssignment]:
    return [ra for ra in _assignments(actor) if ra.role in ASSIGNABLE_ROLES]


def _beneath(holder: RoleAssignment, area: Area | None, compound: Compound | None) -> bool:
    """Is the node (area or compound) at or beneath the node ``holder`` is held at?"""
    if holder.compound_id:
        return compound is not None and compound.pk == holder.compound_id
    held, node = holder.area.path, _node_path(area, compound)
    return node == held or node.startswith(f"{held}/")


def manages_node(actor: User, *, area: Area | None = None, compound: Compound | None = None) -> bool:
    """Is the node within the part of the tree where the actor hands out roles?

    Narrower than ``district.scope``: a street-office admin who is also a mediator elsewhere
    manages only its street, not the mediator's compound.
    """
    if not actor.is_authenticated:
        return False
    if actor.is_superuser:
        return True
    return any(_beneath(ra, area, compound) for ra in _granting_assignments(actor))


def may_assign_role(actor: User, role: str, *, area: Area | None = None, compound: Compound | None = None) -> bool:
    """May the actor assign (or revoke) ``role`` at this node? (The delegation table above.)"""
    if not actor.is_authenticated:
        return False
    if actor.is_superuser:
        return True
    return any(
        role in ASSIGNABLE_ROLES[ra.role] and _beneath(ra, area, compound) for ra in _granting_assignments(actor)
    )


def assignable_roles(actor: User) -> list[str]:
    """Roles the actor may assign somewhere, in the order of ``Role`` (for form choices)."""
    if actor.is_authenticated and actor.is_superuser:
        return list(Role.values)
    allowed: set[str] = set()
    for ra in _granting_assignments(actor) if actor.is_authenticated else []:
        allowed |= ASSIGNABLE_ROLES[ra.role]
    return [role for role in Role.values if role in allowed]


def role_assignments_in_scope(actor: User) -> models.QuerySet[RoleAssignment]:
    """Role assignments at nodes the actor manages (what the role page and API list)."""
    qs = RoleAssignment.objects.select_related("user", "area", "compound__street")
    if not actor.is_authenticated:
        return qs.none()
    if actor.is_superuser:
        return qs
    q = Q(pk__in=[])
    for ra in _granting_assignments(actor):
        if ra.compound_id:
            q |= Q(compound_id=ra.compound_id)
            continue
        path = ra.area.path
        q |= Q(area__path=path) | Q(area__path__startswith=f"{path}/")
        q |= Q(compound__street__path=path) | Q(compound__street__path__startswith=f"{path}/")
    return qs.filter(q)


def access_node_by_code(actor: User, code: str, *, role: str | None = None) -> tuple[Area | None, Compound | None]:
    """The area or compound with this code among the nodes the actor manages, as ``(area, compound)``.

    Missing and unmanaged codes both raise ``Http404`` (codes cannot be probed). A 12-digit
    code may name both a street (statistics form) and a compound: the kind of node ``role``
    is held at is tried first, so the model's role-level check reports a genuine mismatch.
    """
    code = (code or "").strip()
    kinds: list[str] = ["area", "compound"]
    if role is not None and ROLE_LEVEL.get(role) is None:
        kinds.reverse()
    for kind in kinds:
        if kind == "area":
            area = Area.objects.filter(code=code).first()
            if area is not None and manages_node(actor, area=area):
                return area, None
        else:
            compound = Compound.objects.select_related("street").filter(code=code).first()
            if compound is not None and manages_node(actor, compound=compound):
                return None, compound
    raise Http404("No such area or compound")
