"""Who receives which alerts and broadcasts: the groups a user's roles cover, computed on the server.

A role with ``alerts.view`` at a node joins that node's alert group (``alerts.street.12``);
alerts are sent to the groups of their compound and of every level above it, so a role at a
node receives the alerts of everything beneath it (DESIGN.md §4). Police-only alerts go to
``alerts.police.*`` groups, joined only where the role may also see the watch-list.
Broadcasts travel down: a message to a street reaches the roles at the street and at its
compounds. A client never names a group: the consumer joins what this module returns.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from district.choices import AreaLevel
from district.models import Area, RoleAssignment
from district.permissions import ROLE_CAPABILITIES, VIEW_ALERTS, VIEW_WATCHLIST
from district.scope import assignments_of
from district.typing import AnyUser
from events.choices import POLICE_ONLY_ALERT_KINDS
from events.models import Alert

__all__ = ["alert_groups_for", "broadcast_groups_for", "node_of", "visible_alerts"]


def node_of(assignment: RoleAssignment) -> tuple[str, int]:
    """``(level, id)`` of the node a role is held at: ``("compound", 7)``, ``("street", 3)``."""
    if assignment.compound_id is not None:
        return "compound", assignment.compound_id
    assert assignment.area is not None  # a role is held at an area or a compound
    return assignment.area.level, assignment.area_id  # type: ignore[return-value]


def _alert_nodes(user: AnyUser) -> list[tuple[str, int, bool]]:
    """``(level, id, police)`` for every node where the user sees alerts (police: also police-only ones)."""
    if not user.is_authenticated:
        return []
    if user.is_superuser:
        return [
            (AreaLevel.CITY, pk, True) for pk in Area.objects.filter(level=AreaLevel.CITY).values_list("pk", flat=True)
        ]
    nodes = []
    for ra in assignments_of(user):
        caps = ROLE_CAPABILITIES.get(ra.role, frozenset())
        if VIEW_ALERTS in caps:
            level, pk = node_of(ra)
            nodes.append((str(level), pk, VIEW_WATCHLIST in caps))
    return nodes


def alert_groups_for(user: AnyUser) -> list[str]:
    """The alert groups the user's roles cover (empty: no alerts for this user)."""
    groups: set[str] = set()
    for level, pk, police in _alert_nodes(user):
        groups.add(f"alerts.{level}.{pk}")
        if police:
            groups.add(f"alerts.police.{level}.{pk}")
    return sorted(groups)


def broadcast_groups_for(user: AnyUser) -> list[str]:
    """The broadcast groups that reach the user: their nodes, and the street above a compound role.

    Only roles on patrol receive broadcasts: those that see alerts (``alerts.view``). A
    mediator's role brings none, so a user whose only role is a mediator's joins no group at
    all and the live endpoint refuses them like any user without an alert role.
    """
    groups: set[str] = set()
    for ra in assignments_of(user):
        if VIEW_ALERTS not in ROLE_CAPABILITIES.get(ra.role, frozenset()):
            continue
        level, pk = node_of(ra)
        groups.add(f"broadcast.{level}.{pk}")
        if ra.compound is not None:
            groups.add(f"broadcast.street.{ra.compound.street_id}")
    return sorted(groups)


def visible_alerts(user: AnyUser) -> QuerySet[Alert]:
    """The alerts the user may see: beneath their alert roles, police-only ones where they are police."""
    nodes = _alert_nodes(user)
    if not nodes:
        return Alert.objects.none()
    q = Q(pk__in=[])
    for level, pk, police in nodes:
        here = Q(**{f"{level}_id": pk})
        q |= here if police else here & ~Q(kind__in=POLICE_ONLY_ALERT_KINDS)
    return Alert.objects.filter(q)
