"""The one place that answers "which compounds and areas does this user's role cover?".

The rule (DESIGN.md §3): a role held at a node of the tree covers that node and everything
beneath it. Every node has a tree path: an area its ``path`` (``370100/370102/370102001``),
a compound its street's path plus its own code. The rule is :func:`beneath`, and
:func:`beneath_q` is the same rule as a database filter; nothing else in the project
compares tree paths. Views, API viewsets, the compound middleware, the role and audit pages
and (later) WebSocket consumers all ask here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat

from district.models import Area, RoleAssignment
from district.typing import AnyUser
from tenants.models import Compound

# The tree path of a compound, as a database expression (relative to a Compound row).
COMPOUND_PATH = Concat(F("street__path"), Value("/"), F("code"), output_field=CharField())


def beneath(node: str, held: str) -> bool:
    """THE rule: is the node with tree path ``node`` the node ``held`` or beneath it?"""
    return node == held or node.startswith(f"{held}/")


def beneath_q(held: str, field: str = "path") -> Q:
    """:func:`beneath` as a filter: rows whose tree path ``field`` is ``held`` or beneath it."""
    return Q(**{field: held}) | Q(**{f"{field}__startswith": f"{held}/"})


def node_path(*, area: Area | None = None, compound: Compound | None = None) -> str:
    """The tree path of an area or of a compound (its street's path plus its code)."""
    if area is not None:
        return area.path
    if compound is None:
        raise ValueError("a node is an area or a compound")
    return f"{compound.street.path}/{compound.code}"


def held_path(assignment: RoleAssignment) -> str:
    """The tree path of the node a role assignment is held at."""
    return node_path(area=assignment.area, compound=assignment.compound)


def assignments_of(user: AnyUser) -> list[RoleAssignment]:
    """The user's role assignments, read once per user object (one query per request)."""
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_role_assignments_cache", None)
    if cached is None:
        cached = list(RoleAssignment.objects.filter(user=user).select_related("area", "compound__street"))
        # A per-object cache beside the model's fields (forget_assignments drops it).
        user.__dict__["_role_assignments_cache"] = cached
    return cached


def forget_assignments(user: AnyUser) -> None:
    """Drop the cached assignments after the user's roles changed."""
    user.__dict__.pop("_role_assignments_cache", None)


def compounds_in_scope(user: AnyUser, roles: Iterable[str] | None = None) -> QuerySet[Compound]:
    """Compounds the user may open (through any role, or only through ``roles``)."""
    qs = Compound.objects.exclude(schema_name="public").select_related("street")
    if not user.is_authenticated:
        return qs.none()
    if user.is_superuser:
        return qs
    wanted = None if roles is None else set(roles)
    q = Q(pk__in=[])
    for ra in assignments_of(user):
        if wanted is None or ra.role in wanted:
            q |= beneath_q(held_path(ra), "tree_path")
    return qs.annotate(tree_path=COMPOUND_PATH).filter(q)


def areas_in_scope(user: AnyUser) -> QuerySet[Area]:
    """Areas at or beneath the user's area roles, plus the streets of their compound roles."""
    if not user.is_authenticated:
        return Area.objects.none()
    if user.is_superuser:
        return Area.objects.all()
    q = Q(pk__in=[])
    for ra in assignments_of(user):
        if ra.area is not None:
            q |= beneath_q(ra.area.path)
        elif ra.compound is not None:
            # A compound role shows its street (the compound's place in the tree), not the street's
            # other compounds: those are filtered by compounds_in_scope.
            q |= Q(pk=ra.compound.street_id)
    return Area.objects.filter(q)


def covers(
    user: AnyUser, *, area: Area | None = None, compound: Compound | None = None, roles: Iterable[str] | None = None
) -> bool:
    """Does one of the user's roles (of ``roles`` if given) cover this area or compound?"""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    node = node_path(area=area, compound=compound)
    wanted = None if roles is None else set(roles)
    return any((wanted is None or ra.role in wanted) and beneath(node, held_path(ra)) for ra in assignments_of(user))


def covers_compound(user: AnyUser, compound: Compound) -> bool:
    """Does the user's scope include this compound?"""
    return covers(user, compound=compound)


def role_assignments_beneath(held_paths: Iterable[str]) -> QuerySet[RoleAssignment]:
    """Role assignments held at any node at or beneath one of ``held_paths``."""
    tree_path = Coalesce(
        F("area__path"),
        Concat(F("compound__street__path"), Value("/"), F("compound__code"), output_field=CharField()),
        output_field=CharField(),
    )
    q = Q(pk__in=[])
    for held in held_paths:
        q |= beneath_q(held, "tree_path")
    return RoleAssignment.objects.annotate(tree_path=tree_path).filter(q)
