"""Dashboard data (``GET /api/safety/dashboard/?area=<id>``): one area's index for its dashboard.

Reads only public tables (the snapshots, alerts, mediation figures), each query on one of their
indexes, plus the names of the areas and compounds shown: never a compound schema (issue #12).
The answer, for the latest day the area has a snapshot:

- ``index``: the area's own score, band, stars, population and component scores;
- ``children``: each child area's index that day (districts of a city, streets of a district,
  compounds of a street);
- ``streets``: on a city's dashboard, every street's index that day as well;
- ``best`` / ``worst``: the 10 best and worst compounds of the area that day;
- ``trend``: the area's score on each of the 90 days up to that day that have a snapshot;
- ``bands``: how many of its compounds are in each colour band that day;
- ``alerts``: alerts of the last 30 days by model, as far as the user may see alerts;
- ``mediation``: the area's mediation cases and success rate (``mediators.stats`` definitions),
  only for users whose mediation-statistics roles cover the area (null otherwise);

``GET /api/safety/map/?area=`` answers the map of the same area: its compounds at their
coordinates with their latest index, the open alerts of the last day to mark, and the URL of
the city's outline (``safety.panels``).

Scope: the area must be covered by one of the user's roles that may see dashboards
(``safety.dashboard``) — a street office sees its street, never its neighbour's (404, as for an
area that does not exist). Without ``area``, the highest area the user's roles cover; a user
whose dashboard roles are all held at compounds (property staff, beat officer) gets their
compounds instead (``area`` null).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from district.api.schema import AutoSchema
from district.models import Area
from district.permissions import VIEW_DASHBOARD, need, roles_with
from district.scope import assignments_of, compounds_in_scope, covers
from district.typing import AnyUser
from safety.choices import Band
from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot
from safety.panels import alert_counts, map_data, mediation_for, tagged

__all__ = ["DashboardView", "MapView", "area_for_dashboard", "dashboard_data"]

MAX_ID = 2**63 - 1
TREND_DAYS = 90
RANKED = 10
MAX_STREETS = 2000  # a city's streets on its dashboard (a large city has a few hundred)
MAX_OWN = 500  # compounds of one user's compound roles (a beat officer has a handful)
LEVEL_FIELD = {"city": "city_id", "district": "district_id", "street": "street_id"}


def area_for_dashboard(user: AnyUser, area_id: int | None) -> Area | None:
    """The area whose dashboard ``user`` asks for; None: the user's compounds (compound roles only).

    404 alike for an area that does not exist and one outside the user's dashboard roles.
    """
    roles = roles_with(VIEW_DASHBOARD)
    if area_id is None:
        if user.is_superuser:
            return Area.objects.filter(level="city").order_by("pk").first()
        held = [ra.area for ra in assignments_of(user) if ra.area is not None and ra.role in roles]
        return min(held, key=lambda a: len(a.path)) if held else None
    area = Area.objects.filter(pk=area_id).first()
    if area is None or not covers(user, area=area, roles=roles):
        raise Http404(_("No dashboard here."))
    return area


def _index(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "score": float(row["score"]),
        "band": row["band"],
        "stars": row["stars"],
        "population": row["population"],
        "compounds": row.get("compounds", 1),
        "components": {name: c.get("score") for name, c in (row.get("components") or {}).items()},
    }


def _compound_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["compound_id"],
        "code": row["compound__code"],
        "name": row["compound__name"],
        "score": float(row["score"]),
        "band": row["band"],
        "stars": row["stars"],
    }


COMPOUND_FIELDS = ("compound_id", "compound__code", "compound__name", "score", "band", "stars")


def _ranked(compounds: QuerySet[CompoundIndexSnapshot], order: str) -> list[dict[str, Any]]:
    """The first ``RANKED`` compounds by ``order`` (an index scan of (level id, day, score))."""
    return [_compound_row(r) for r in compounds.order_by(order, "compound_id").values(*COMPOUND_FIELDS)[:RANKED]]


def own_compound_ids(user: AnyUser) -> list[int]:
    """The compounds of a user whose dashboard roles are held at compounds (at most ``MAX_OWN``)."""
    return list(compounds_in_scope(user, roles=roles_with(VIEW_DASHBOARD)).values_list("pk", flat=True)[:MAX_OWN])


def compounds_data(ids: list[int]) -> dict[str, Any]:
    """The dashboard of a user whose dashboard roles are held at compounds: those compounds' latest day."""
    latest = CompoundIndexSnapshot.objects.filter(compound_id__in=ids).order_by("-day").values("day").first()
    base = _empty(None)
    if latest is None:
        return base
    rows = CompoundIndexSnapshot.objects.filter(compound_id__in=ids, day=latest["day"])
    ranked = [_compound_row(r) for r in rows.order_by("-score", "compound_id").values(*COMPOUND_FIELDS)]
    bands = dict(rows.values("band").annotate(n=Count("pk")).order_by().values_list("band", "n"))
    return {
        **base,
        "day": latest["day"].isoformat(),
        "children": [{**r, "kind": "compound"} for r in ranked],
        "best": ranked[:RANKED],
        "worst": ranked[::-1][:RANKED],
        "bands": {**base["bands"], **bands},
    }


def _area_rows(snapshots: QuerySet[AreaIndexSnapshot]) -> list[dict[str, Any]]:
    """Areas' index rows of one day (children of an area, or streets of a city), by code."""
    rows = snapshots.values("area_id", "area__name", "area__code", "score", "band", "stars")
    return [
        {
            "id": r["area_id"],
            "code": r["area__code"],
            "name": r["area__name"],
            "kind": "area",
            "score": float(r["score"]),
            "band": r["band"],
            "stars": r["stars"],
        }
        for r in sorted(rows, key=lambda r: r["area__code"])
    ]


def _empty(area: Area | None) -> dict[str, Any]:
    return {
        "area": None if area is None else {"id": area.pk, "name": area.name, "level": area.level, "code": area.code},
        "day": None,
        "index": None,
        "children": [],
        "streets": [],
        "best": [],
        "worst": [],
        "trend": [],
        "bands": {band: 0 for band in Band.values},
        "alerts": [],
        "mediation": None,
    }


def dashboard_data(area: Area) -> dict[str, Any]:
    """The dashboard of ``area`` (see the module docstring), from the snapshot tables only."""
    own = (
        AreaIndexSnapshot.objects.filter(area=area)
        .order_by("-day")
        .values("day", "score", "band", "stars", "population", "compounds", "components")
        .first()
    )
    base = _empty(area)
    if own is None:
        return base
    day: datetime.date = own["day"]
    compounds = CompoundIndexSnapshot.objects.filter(**{LEVEL_FIELD[area.level]: area.pk, "day": day})
    if area.level == "street":
        children = [
            {**_compound_row(row), "kind": "compound"}
            for row in compounds.order_by("compound__name").values(*COMPOUND_FIELDS, "population")
        ]
    else:
        children = _area_rows(AreaIndexSnapshot.objects.filter(parent_id=area.pk, day=day))
    streets: list[dict[str, Any]] = []
    if area.level == "city":  # the city bureau sees every street too, not only the districts
        districts = [child["id"] for child in children]
        streets = _area_rows(AreaIndexSnapshot.objects.filter(parent_id__in=districts, day=day))[:MAX_STREETS]
    trend = AreaIndexSnapshot.objects.filter(
        area=area, day__gt=day - datetime.timedelta(days=TREND_DAYS), day__lte=day
    ).order_by("day")
    bands = dict(compounds.values("band").annotate(n=Count("pk")).order_by().values_list("band", "n"))
    return {
        **base,
        "day": day.isoformat(),
        "index": _index(own),
        "children": children,
        "streets": streets,
        "best": _ranked(compounds, "-score"),
        "worst": _ranked(compounds, "score"),
        "trend": [{"day": d.isoformat(), "score": float(s)} for d, s in trend.values_list("day", "score")],
        "bands": {**base["bands"], **bands},
    }


# --- Schema -------------------------------------------------------------------------------------


class DashboardQuery(serializers.Serializer[Any]):
    """The query string: which area (default: the highest the user's roles cover)."""

    area = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class IndexSerializer(serializers.Serializer[Any]):
    score = serializers.FloatField()
    band = serializers.ChoiceField(choices=Band.choices)
    stars = serializers.IntegerField()
    population = serializers.IntegerField()
    compounds = serializers.IntegerField()
    components = serializers.DictField(child=serializers.FloatField(allow_null=True))


class RankedSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    score = serializers.FloatField()
    band = serializers.ChoiceField(choices=Band.choices)
    stars = serializers.IntegerField()


class ChildSerializer(RankedSerializer):
    kind = serializers.ChoiceField(choices=["area", "compound"])


class AreaRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    level = serializers.CharField()
    code = serializers.CharField()


class TrendPointSerializer(serializers.Serializer[Any]):
    day = serializers.DateField()
    score = serializers.FloatField()


class AlertCountSerializer(serializers.Serializer[Any]):
    """Alerts of one model over the last 30 days (``occurrences`` counts folded repeats)."""

    kind = serializers.CharField()
    name = serializers.CharField()
    alerts = serializers.IntegerField()
    occurrences = serializers.IntegerField()


class MediationSerializer(serializers.Serializer[Any]):
    """Mediation cases of the area by their current status; success rate in percent (null without outcomes)."""

    cases = serializers.IntegerField()
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()
    agreements = serializers.IntegerField()
    outcomes = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)


class DashboardSerializer(serializers.Serializer[Any]):
    """One area's dashboard of its latest snapshot day (``day`` and ``index`` null before the first).

    ``area`` is null for users whose dashboard roles are held at compounds: ``children`` are then
    those compounds, and there is no area index nor trend.
    """

    area = AreaRefSerializer(allow_null=True)
    day = serializers.DateField(allow_null=True)
    index = IndexSerializer(allow_null=True)
    children = ChildSerializer(many=True)
    streets = ChildSerializer(many=True)
    best = RankedSerializer(many=True)
    worst = RankedSerializer(many=True)
    trend = TrendPointSerializer(many=True)
    bands = serializers.DictField(child=serializers.IntegerField())
    alerts = AlertCountSerializer(many=True)
    mediation = MediationSerializer(allow_null=True)


class MapCompoundSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    lng = serializers.FloatField()
    lat = serializers.FloatField()
    score = serializers.FloatField(allow_null=True)
    band = serializers.ChoiceField(choices=Band.choices, allow_null=True)


class MapAlertSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    compound_id = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField()
    name = serializers.CharField()
    severity = serializers.CharField()
    last_seen_at = serializers.DateTimeField()


class MapSerializer(serializers.Serializer[Any]):
    """Compounds with coordinates (latest index), open alerts of the last 24 h, the city's outline URL."""

    outline = serializers.CharField(allow_null=True)
    day = serializers.DateField(allow_null=True)
    compounds = MapCompoundSerializer(many=True)
    alerts = MapAlertSerializer(many=True)


AREA_PARAMETER = OpenApiParameter(
    "area",
    {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    description="Area id (city, district or street); default: the highest area of the user's roles.",
)


class DashboardSchema(AutoSchema):
    """Also 400 (a bad ``area``) and 404 (an area outside the user's scope)."""

    def error_codes(self) -> list[str]:
        return sorted({*super().error_codes(), "400", "404"})


def asked_area(request: Request) -> tuple[Area | None, list[int]]:
    """The area of ``?area=`` (400 if malformed, 404 if not the user's); without an area, the compounds."""
    query = DashboardQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    area = area_for_dashboard(request.user, query.validated_data.get("area"))
    return area, own_compound_ids(request.user) if area is None else []


class DashboardView(APIView):
    """The dashboard data of one area of the user's scope (city bureau, district, street office)."""

    permissions = {"GET": need(VIEW_DASHBOARD)}
    schema = DashboardSchema()

    @extend_schema(parameters=[AREA_PARAMETER], responses=DashboardSerializer)
    def get(self, request: Request) -> Response:
        area, ids = asked_area(request)
        data = dashboard_data(area) if area is not None else compounds_data(ids)
        data["alerts"] = alert_counts(request.user, tagged(area, ids))
        data["mediation"] = mediation_for(request.user, area, ids)
        return Response(data)


class MapView(APIView):
    """The map of one area of the user's scope: compounds by coordinates and index, open alerts, outline."""

    permissions = {"GET": need(VIEW_DASHBOARD)}
    schema = DashboardSchema()

    @extend_schema(parameters=[AREA_PARAMETER], responses=MapSerializer)
    def get(self, request: Request) -> Response:
        area, ids = asked_area(request)
        return Response(map_data(request.user, area, ids))
