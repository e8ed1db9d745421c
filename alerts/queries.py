"""Permission-checked reads of alerts and broadcasts (STYLE.md §1: ``access_<noun>_by_id``).

Alerts and broadcasts are public-schema rows: every read starts from what the user's roles
cover (``alerts.audience``) and answers "not found" alike for a row that does not exist and
one outside the user's scope, so ids cannot be probed across compounds.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import Http404

from alerts.audience import visible_alerts
from alerts.models import Broadcast
from district.choices import AreaLevel, Role
from district.models import Area, RoleAssignment
from district.permissions import (
    CONFIGURE_ALERTS,
    HANDLE_ALERTS,
    ROLE_CAPABILITIES,
    SEND_BROADCASTS,
    VIEW_ALERTS,
    has_capability,
    roles_with,
)
from district.scope import assignments_of, beneath_q, compounds_in_scope
from district.typing import AnyUser
from events.models import AccessEvent, Alert
from tenants.models import Compound

__all__ = [
    "Candidate",
    "access_alert_by_id",
    "access_broadcast_by_id",
    "alert_snapshot",
    "broadcast_compounds",
    "broadcast_streets",
    "configurable_compounds",
    "dispatch_candidates",
    "time_to_acknowledge",
    "visible_broadcasts",
]

ALERT_RELATED = ("compound", "assignee")


def access_alert_by_id(user: AnyUser, pk: int, *, capability: str | None = None) -> Alert:
    """The alert ``pk`` if the user may see it (and has ``capability`` at its compound); else 404.

    Police-only alerts are visible only where the user's role may see the watch-list.
    """
    alert = visible_alerts(user).select_related(*ALERT_RELATED).filter(pk=pk).first()
    if alert is None:
        raise Http404("No such alert")
    if capability is not None and not has_capability(user, capability, alert_compound(alert)):
        raise Http404("No such alert")
    return alert


def alert_compound(alert: Alert) -> Compound | None:
    """The alert's compound with its street (for capability checks at that node)."""
    return Compound.objects.select_related("street").filter(pk=alert.compound_id).first()


def time_to_acknowledge(alert: Alert) -> datetime.timedelta | None:
    """From the alert's first occurrence to the first human response (None while nobody responded)."""
    if alert.acknowledged_at is None:
        return None
    return max(alert.acknowledged_at - alert.occurred_at, datetime.timedelta(0))


def alert_snapshot(alert: Alert) -> AccessEvent | None:
    """The access event of the alert, if it kept a snapshot (looked up in the alert's compound)."""
    if alert.access_event_id is None:
        return None
    return (
        AccessEvent.objects.filter(pk=alert.access_event_id, compound_id=alert.compound_id).exclude(snapshot="").first()
    )


@dataclass(frozen=True)
class Candidate:
    """Someone an alert may be dispatched to: the account, its role and where the role is held."""

    user: Any
    role: str
    node: str

    @property
    def label(self) -> str:
        name = self.user.get_full_name() or self.user.get_username()
        return f"{name} · {Role(self.role).label} · {self.node}"


def dispatch_candidates(alert: Alert) -> list[Candidate]:
    """Active users whose roles handle alerts of the alert's compound, nearest first.

    The compound's own staff, officers and grid workers, then its street office, district
    branch and city bureau. One entry per user (their nearest role).
    """
    compound = alert_compound(alert)
    if compound is None:
        return []
    street = compound.street
    district = street.parent
    nodes: list[tuple[Q, str]] = [(Q(compound=compound), compound.name), (Q(area=street), street.name)]
    if district is not None:
        nodes.append((Q(area=district), district.name))
        if district.parent is not None:
            nodes.append((Q(area=district.parent), district.parent.name))
    handlers = roles_with(HANDLE_ALERTS)
    seen: set[int] = set()
    found: list[Candidate] = []
    for where, node_name in nodes:
        assignments = (
            RoleAssignment.objects.filter(where, role__in=handlers, user__is_active=True)
            .select_related("user")
            .order_by("role", "user__username")
        )
        for ra in assignments:
            if ra.user_id not in seen:
                seen.add(ra.user_id)
                found.append(Candidate(ra.user, ra.role, node_name))
    return found


def dispatch_candidate(alert: Alert, user_id: Any) -> Any:
    """The account ``user_id`` if it is among the alert's :func:`dispatch_candidates`, else None."""
    for candidate in dispatch_candidates(alert):
        if str(candidate.user.pk) == str(user_id):
            return candidate.user
    return None


def _alert_role_nodes(user: AnyUser, capability: str) -> list[RoleAssignment]:
    return [ra for ra in assignments_of(user) if capability in ROLE_CAPABILITIES.get(ra.role, frozenset())]


def visible_broadcasts(user: AnyUser) -> QuerySet[Broadcast]:
    """Broadcasts the user's alert roles receive or oversee, and those the user sent.

    A role at a compound receives what was sent to the compound and to its street; a role at
    an area sees every broadcast to a street or compound beneath it (the street office reads
    what its compounds were told). Mediators receive none (``alerts.audience``).
    """
    qs = Broadcast.objects.select_related("area", "compound", "sender")
    if not user.is_authenticated:
        return qs.none()
    if user.is_superuser:
        return qs
    q = Q(sender=user)
    for ra in _alert_role_nodes(user, VIEW_ALERTS):
        if ra.compound is not None:
            q |= Q(compound_id=ra.compound_id) | Q(area_id=ra.compound.street_id)
        elif ra.area is not None:
            q |= beneath_q(ra.area.path, "area__path")
            q |= Q(compound__street__path=ra.area.path) | Q(compound__street__path__startswith=f"{ra.area.path}/")
    return qs.filter(q)


def access_broadcast_by_id(user: AnyUser, pk: int) -> Broadcast:
    """The broadcast ``pk`` if the user receives it (:func:`visible_broadcasts`), else 404."""
    broadcast = visible_broadcasts(user).filter(pk=pk).first()
    if broadcast is None:
        raise Http404("No such broadcast")
    return broadcast


def broadcast_streets(user: AnyUser) -> QuerySet[Area]:
    """Streets the user may send a broadcast to (a role with ``alerts.broadcast`` at or above them)."""
    streets = Area.objects.filter(level=AreaLevel.STREET)
    if not user.is_authenticated:
        return streets.none()
    if user.is_superuser:
        return streets
    q = Q(pk__in=[])
    for ra in _alert_role_nodes(user, SEND_BROADCASTS):
        if ra.area is not None:
            q |= beneath_q(ra.area.path)
    return streets.filter(q)


def broadcast_compounds(user: AnyUser) -> QuerySet[Compound]:
    """Compounds the user may send a broadcast to."""
    return compounds_in_scope(user, roles=roles_with(SEND_BROADCASTS))


def configurable_compounds(user: AnyUser) -> QuerySet[Compound]:
    """Compounds whose alert models the user may configure (``alerts.configure``)."""
    return compounds_in_scope(user, roles=roles_with(CONFIGURE_ALERTS))


def users_named(ids: list[int]) -> dict[int, Any]:
    """Accounts by id, for showing who took each step."""
    return {u.pk: u for u in get_user_model()._default_manager.filter(pk__in=ids)}
