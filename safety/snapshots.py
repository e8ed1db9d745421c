"""Daily index snapshots: one per compound, rolled up to street, district and city (public schema).

``do_snapshot_compound`` gathers a compound's figures (``safety.figures``), applies the city's
weights (``safety.IndexConfig``) and stores score, band, stars and every component;
``do_roll_up`` stores each street's, district's and the city's index of that day, weighted by
population (``safety.formula.roll_up``); ``do_snapshot_day`` does both for every compound of
every city. Re-running any of them for the same day replaces that day's rows (the job may run
again after a worker died half-way).

Snapshots are derived figures written by the system, like ``mediators.CaseFigures``: they carry
no audit row (the records they are computed from were audited when written); each finished day
sends one realtime event per city (``safety.index.updated``) so open dashboards can reload.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from district.models import Area
from district.realtime import send_event_on_commit
from district.scope import beneath_q
from safety.figures import gather_figures
from safety.formula import band_for, compute, roll_up, stars_for
from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot, IndexConfig
from tenants.models import Compound

__all__ = ["city_group", "do_roll_up", "do_snapshot_compound", "do_snapshot_day", "weights_for"]

COMPONENTS = ("incidents", "alerts", "disputes", "prevention")


def city_group(city_id: int) -> str:
    """The realtime group of a city's index updates."""
    return f"safety.city.{city_id}"


def weights_for(city_id: int) -> dict[str, float] | None:
    """The city's configured weights, or None for the defaults."""
    config = IndexConfig.objects.filter(city_id=city_id).first()
    return config.weights if config is not None else None


def _tags(compound: Compound) -> dict[str, int]:
    street = compound.street
    district = street.parent
    if district is None or district.parent_id is None:
        raise ValueError(f"compound {compound.code} is not under a district and a city")
    return {"street_id": street.pk, "district_id": district.pk, "city_id": district.parent_id}


@transaction.atomic
def do_snapshot_compound(
    compound: Compound,
    day: datetime.date,
    *,
    now: datetime.datetime | None = None,
    weights: dict[str, float] | None = None,
) -> CompoundIndexSnapshot:
    """Compute and store ``compound``'s index of ``day`` (replacing that day's snapshot).

    ``weights`` default to the compound's city's (``IndexConfig``). Run by the daily job and the
    on-demand recompute (``safety.tasks``); enters the compound's schema for the figures held there.
    """
    now = now or timezone.now()
    tags = _tags(compound)
    if weights is None:
        weights = weights_for(tags["city_id"])
    result = compute(gather_figures(compound, day, now=now), weights)
    snapshot, _created = CompoundIndexSnapshot.objects.update_or_create(
        compound=compound,
        day=day,
        defaults={
            **tags,
            "score": Decimal(str(result["score"])),
            "band": result["band"],
            "stars": result["stars"],
            "population": compound.population,
            "components": result["components"],
            "computed_at": now,
        },
    )
    return snapshot


def _weighted(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Score, population and component scores of a set of compound snapshots, weighted by population."""
    pairs = [(float(r["score"]), r["population"]) for r in rows]
    components = {
        name: {
            "score": roll_up([(float(r["components"].get(name, {}).get("score", 0.0)), r["population"]) for r in rows])
        }
        for name in COMPONENTS
    }
    return {
        "score": roll_up(pairs),
        "population": sum(r["population"] for r in rows),
        "compounds": len(rows),
        "components": components,
    }


@transaction.atomic
def do_roll_up(city: Area, day: datetime.date, *, now: datetime.datetime | None = None) -> int:
    """Store the index of ``day`` of every street and district of ``city`` and of the city; rows written.

    Each area's score is its compounds' scores weighted by population (docs/safety-index.md,
    "Roll-ups"); a district's and the city's are taken over all their compounds, not over their
    streets' scores. Areas without a snapshot that day get none (and lose a stale one).
    """
    now = now or timezone.now()
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in CompoundIndexSnapshot.objects.filter(city_id=city.pk, day=day).values(
            "street_id", "district_id", "score", "population", "components"
        )
    ]
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["street_id"]].append(row)
        groups[row["district_id"]].append(row)
    if rows:
        groups[city.pk] = rows
    parents = dict(Area.objects.filter(pk__in=list(groups)).values_list("pk", "parent_id"))
    AreaIndexSnapshot.objects.filter(day=day, area_id__in=_areas_of(city)).exclude(area_id__in=list(groups)).delete()
    for area_id, members in groups.items():
        figures = _weighted(members)
        AreaIndexSnapshot.objects.update_or_create(
            area_id=area_id,
            day=day,
            defaults={
                "parent_id": parents.get(area_id),
                "score": Decimal(str(figures["score"])),
                "band": band_for(figures["score"]),
                "stars": stars_for(figures["score"]),
                "population": figures["population"],
                "compounds": figures["compounds"],
                "components": figures["components"],
                "computed_at": now,
            },
        )
    send_event_on_commit([city_group(city.pk)], {"type": "safety.index.updated", "city": city.pk, "day": str(day)})
    return len(groups)


def _areas_of(city: Area) -> QuerySet[Area, int]:
    return Area.objects.filter(beneath_q(city.path)).values_list("pk", flat=True)


def do_snapshot_day(day: datetime.date, *, now: datetime.datetime | None = None, city: Area | None = None) -> int:
    """Snapshot every compound (of ``city`` only, if given) for ``day``, then roll up; compounds done.

    One transaction per compound (a compound that fails does not undo the others; the job
    raises at the end so the failure is seen and the job retried), then one per city.
    """
    now = now or timezone.now()
    failures: list[str] = []
    count = 0
    compounds = Compound.objects.exclude(schema_name="public").select_related("street__parent").order_by("pk")
    if city is not None:
        compounds = compounds.filter(beneath_q(city.path, "street__path"))
    for compound in compounds.iterator(chunk_size=200):
        try:
            do_snapshot_compound(compound, day, now=now)
            count += 1
        except Exception as exc:  # one compound's failure must not stop the city's snapshot
            failures.append(f"{compound.code}: {exc}")
    for rolled in [city] if city is not None else Area.objects.filter(level="city"):
        do_roll_up(rolled, day, now=now)
    if failures:
        raise RuntimeError(f"index snapshot failed for {len(failures)} compound(s): {failures[:5]}")
    return count
