"""The dashboard's panels beside the index: alerts by model, mediation outcomes, and the map.

Every figure is read from public tables (``events.Alert``, ``mediators.CaseFigures``, the
snapshots and ``tenants.Compound``'s coordinates), each query narrowed to one area by the
level columns those tables carry, so a city of thousands of compounds costs a handful of
grouped queries and never a compound schema (issue #12).

What a user sees follows the rules of the records behind: alert counts and markers are those of
``alerts.audience.visible_alerts`` (police-only kinds only for police roles; no alert role, no
alert figures), and the mediation figures are those of the user's mediation-statistics roles.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.contrib.staticfiles import finders
from django.db.models import Count, F, Q, Sum
from django.templatetags.static import static
from django.utils import timezone

from alerts.audience import visible_alerts
from alerts.catalogue import MODELS
from district.models import Area
from district.permissions import VIEW_CASE_STATS, roles_with
from district.scope import compounds_in_scope, covers
from district.typing import AnyUser
from events.choices import AlertStatus
from mediators.models import CaseFigures
from mediators.stats import Figures
from safety.models import CompoundIndexSnapshot
from tenants.models import Compound

__all__ = [
    "alert_counts",
    "map_data",
    "mediation_figures",
    "mediation_for",
    "outline_url",
    "tagged",
    "through_compound",
]

ALERT_DAYS = 30  # the index's own window
MARKER_HOURS = 24  # open alerts of the last day are marked on the map
MAX_MARKERS = 200
MAX_MAP_COMPOUNDS = 10_000  # a city of 5,000 compounds fits twice; beyond, the map shows the first
OPEN_ALERT = (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED)

# The compound's own columns naming each level above it (``Compound.street`` → district → city).
COMPOUND_LEVEL = {"street": "street_id", "district": "street__parent_id", "city": "street__parent__parent_id"}


def tagged(area: Area | None, compound_ids: Iterable[int]) -> Q:
    """Rows tagged with their levels (alerts, snapshots): those of ``area``, or of ``compound_ids`` without one."""
    if area is None:
        return Q(compound_id__in=list(compound_ids))
    return Q(**{f"{area.level}_id": area.pk})


def through_compound(area: Area | None, compound_ids: Iterable[int], prefix: str = "") -> Q:
    """Rows reached through their compound (``prefix`` names it, "" for compounds themselves)."""
    if area is None:
        return Q(**{f"{prefix}id__in": list(compound_ids)})
    return Q(**{f"{prefix}{COMPOUND_LEVEL[area.level]}": area.pk})


def alert_counts(user: AnyUser, scope: Q, *, now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """Alerts of the last 30 days by model (most first), as far as the user may see alerts."""
    since = (now or timezone.now()) - datetime.timedelta(days=ALERT_DAYS)
    rows = (
        visible_alerts(user)
        .filter(scope, occurred_at__gte=since)
        .values("kind")
        .annotate(n=Count("pk"), occurrences=Sum("count"))
        .order_by("-n", "kind")
    )
    return [
        {
            "kind": r["kind"],
            "name": str(MODELS[r["kind"]].label) if r["kind"] in MODELS else r["kind"],
            "alerts": r["n"],
            "occurrences": r["occurrences"] or 0,
        }
        for r in rows
    ]


def mediation_figures(scope: Q) -> dict[str, Any]:
    """Cases, open, overdue and the success rate over the area's compounds (``mediators.stats`` definitions)."""
    figures = Figures()
    rows = (
        CaseFigures.objects.filter(scope)
        .values("status")
        .annotate(cases=Sum("cases"), overdue=Sum("overdue"), concluded=Sum("concluded"), days=Sum("days_to_conclude"))
        .order_by()
    )
    for r in rows:
        figures.add(r["status"], r["cases"] or 0, r["overdue"] or 0, r["concluded"] or 0, r["days"] or 0)
    rate = figures.success_rate
    return {
        "cases": figures.cases,
        "open": figures.open,
        "overdue": figures.overdue,
        "agreements": figures.agreements,
        "outcomes": figures.outcomes,
        "success_rate": None if rate is None else float(rate),
    }


def outline_url(city: Area | None) -> str | None:
    """The city's outline shipped as ``static/geo/<city code>.geojson`` (None without one)."""
    if city is None:
        return None
    name = f"geo/{city.code}.geojson"
    return static(name) if finders.find(name) else None


def _city_of(area: Area | None, compounds: list[dict[str, Any]]) -> Area | None:
    if area is not None:
        code = area.path.split("/", 1)[0]
        return area if area.level == "city" else Area.objects.filter(code=code, level="city").first()
    if compounds:
        return Area.objects.filter(pk=compounds[0]["city"]).first()
    return None


def map_data(
    user: AnyUser,
    area: Area | None,
    compound_ids: Iterable[int] = (),
    *,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The compounds of the area with coordinates and latest index, the open alerts to mark, the outline."""
    ids = list(compound_ids)
    places = list(
        Compound.objects.filter(through_compound(area, ids))
        .exclude(latitude=None)
        .exclude(longitude=None)
        .order_by("code")
        .values("id", "code", "name", "latitude", "longitude", city=F(COMPOUND_LEVEL["city"]))[:MAX_MAP_COMPOUNDS]
    )
    # By the snapshots' own level column (an index of (level id, day, score)), not by a list of ids.
    snapshots = CompoundIndexSnapshot.objects.filter(tagged(area, [p["id"] for p in places]))
    day = snapshots.order_by("-day").values_list("day", flat=True).first()
    scores: dict[int, tuple[float, str]] = {}
    if day is not None:
        scores = {
            cid: (float(score), band)
            for cid, score, band in snapshots.filter(day=day).values_list("compound_id", "score", "band")
        }
    since = (now or timezone.now()) - datetime.timedelta(hours=MARKER_HOURS)
    alerts = (
        visible_alerts(user)
        .filter(tagged(area, ids), status__in=OPEN_ALERT, last_seen_at__gte=since)
        .order_by("-last_seen_at", "-pk")
        .values("id", "compound_id", "kind", "severity", "last_seen_at")[:MAX_MARKERS]
    )
    return {
        "outline": outline_url(_city_of(area, places)),
        "day": None if day is None else day.isoformat(),
        "compounds": [
            {
                "id": p["id"],
                "code": p["code"],
                "name": p["name"],
                "lng": float(p["longitude"]),
                "lat": float(p["latitude"]),
                "score": scores.get(p["id"], (None, None))[0],
                "band": scores.get(p["id"], (None, None))[1],
            }
            for p in places
        ],
        "alerts": [
            {
                "id": a["id"],
                "compound_id": a["compound_id"],
                "kind": a["kind"],
                "name": str(MODELS[a["kind"]].label) if a["kind"] in MODELS else a["kind"],
                "severity": a["severity"],
                "last_seen_at": a["last_seen_at"].isoformat(),
            }
            for a in alerts
        ],
    }


def mediation_for(user: AnyUser, area: Area | None, ids: list[int]) -> dict[str, Any] | None:
    """The area's mediation figures, if the user's mediation-statistics roles cover it (else None).

    A dashboard role does not bring them: property staff see the index but not the case figures.
    """
    roles = roles_with(VIEW_CASE_STATS)
    if area is not None:
        if not covers(user, area=area, roles=roles):
            return None
        return mediation_figures(through_compound(area, [], "compound__"))
    allowed = set(compounds_in_scope(user, roles=roles).filter(pk__in=ids).values_list("pk", flat=True))
    return mediation_figures(through_compound(None, sorted(allowed), "compound__")) if allowed else None
