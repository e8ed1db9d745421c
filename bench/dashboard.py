"""Benchmark of the city dashboard data endpoint over a year of daily index snapshots.

Run from the project root::

    .venv/bin/python bench/dashboard.py                 # 5,000 compounds × 365 days, then drops the database
    .venv/bin/python bench/dashboard.py --keep          # keep smartpolice_dashboard for inspection
    .venv/bin/python bench/dashboard.py --compounds 500 --days 30   # a quick run

It works in its own database, ``smartpolice_dashboard``, on the server of ``$DATABASE_URL``
(127.0.0.1:5432 when unset; never the database named there): dropped and created at the start,
migrated (``migrate_all``), dropped at the end. It builds a city of 10 districts and
``compounds / 50`` streets of 50 compounds each, as ``Compound`` rows without schemas (the
dashboard never reads a compound schema), then writes ``compounds × days`` rows of
``safety.CompoundIndexSnapshot`` with ``COPY`` (scores drifting day by day, components as the
daily job stores them) and every street's, district's and the city's roll-up of every day
(``AreaIndexSnapshot``, weighted by population as ``safety.formula.roll_up`` does), then
``ANALYZE``.

It adds coordinates to every compound, ``--alerts`` alerts over the last 35 days (the dashboard
counts those of 30 days by model; the map marks the open ones of the last day) and mediation
figures for every compound (the success rate).

It measures ``GET /api/safety/dashboard/?area=<city>`` through Django's test client (the whole
middleware stack: session, scope, permission declaration, DRF) as a city-bureau user:
``--warmup`` requests, then ``--requests`` timed ones; the same for one district and one street;
then the city's map (``/api/safety/map/``, every compound with its coordinates and index); and
prints the query plans of the ranking queries (index scans expected).

The last line of output is JSON: ``{"compounds": 5000, "p50_ms": …, "p95_ms": …, …}``.
Results are written up in docs/benchmarks.md ("Safety dashboard").
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import random
import statistics
import time

from benchdb import database_urls, drop_database, recreate_database, use_bench_database

DB = "smartpolice_dashboard"
PER_STREET = 50
DISTRICTS = 10
LAST_DAY = datetime.date(2026, 11, 29)


def band_for(score: float) -> str:
    return "blue" if score >= 90 else "yellow" if score >= 75 else "orange" if score >= 60 else "red"


def stars_for(score: float) -> int:
    return max(1, min(5, int(score // 10) - 4))


def components(score: float) -> str:
    """Components as the daily job stores them (the same keys and about the same size)."""
    return json.dumps(
        {
            "incidents": {"score": score, "weighted_incidents": 2.0, "rate_per_1000": 1.2, "weight": 0.4},
            "alerts": {
                "score": 90.0,
                "weighted_alerts": 3.0,
                "rate_per_1000": 1.5,
                "acknowledged_in_time": 0.8,
                "weight": 0.2,
            },
            "disputes": {"score": 85.0, "rate_per_1000": 0.5, "success_rate": 0.75, "overdue": 0, "weight": 0.15},
            "prevention": {
                "score": 70.0,
                "devices_online": 0.9,
                "registry_complete": 0.8,
                "elderly_with_sensor": 0.5,
                "weight": 0.25,
            },
        },
        separators=(",", ":"),
    )


def copy_rows(cursor: object, table: str, columns: str, buffer: io.StringIO) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]  # psycopg 3
        copy.write(buffer.getvalue())


def build(n_compounds: int, days: int, alerts: int) -> dict[str, int]:
    """The city, its compounds and their snapshots; the ids of the areas measured."""
    from django.db import connection

    from district.models import Area
    from tenants.models import Compound

    rng = random.Random(20261129)
    city = Area.objects.create(level="city", code="370100", name="济南市")
    districts = [
        Area.objects.create(level="district", code=f"3701{d + 1:02d}", name=f"第{d + 1}区", parent=city)
        for d in range(DISTRICTS)
    ]
    n_streets = max(1, n_compounds // PER_STREET)
    streets = [
        Area.objects.create(
            level="street",
            code=f"{districts[s % DISTRICTS].code}{s // DISTRICTS + 1:03d}",
            name=f"第{s + 1}街道",
            parent=districts[s % DISTRICTS],
        )
        for s in range(n_streets)
    ]
    compounds = [
        Compound(
            street=streets[i % n_streets],
            code=f"{streets[i % n_streets].code}{i // n_streets + 1:03d}",
            schema_name=f"c{streets[i % n_streets].code}{i // n_streets + 1:03d}",
            name=f"小区{i + 1}",
            population=rng.randint(200, 5000),
        )
        for i in range(n_compounds)
    ]
    # bulk_create skips TenantMixin.save: rows only, no schemas (the dashboard never reads one).
    Compound.objects.bulk_create(compounds, batch_size=1000)
    compounds = list(Compound.objects.exclude(schema_name="public").select_related("street__parent"))
    print(f"{len(compounds)} compounds in {n_streets} streets of {DISTRICTS} districts", flush=True)

    now = datetime.datetime(2026, 11, 30, 0, 30, tzinfo=datetime.UTC).isoformat()
    base = {c.pk: rng.uniform(55, 98) for c in compounds}
    first_day = LAST_DAY - datetime.timedelta(days=days - 1)
    started = time.perf_counter()
    columns = (
        "compound_id, street_id, district_id, city_id, day, score, band, stars, population, components, computed_at"
    )
    area_columns = "area_id, parent_id, day, score, band, stars, population, compounds, components, computed_at"
    with connection.cursor() as cursor:
        for offset in range(days):
            day = (first_day + datetime.timedelta(days=offset)).isoformat()
            buffer = io.StringIO()
            sums: dict[int, list[float]] = {}  # area id → [Σ score × population, Σ population, compounds]
            for c in compounds:
                base[c.pk] = min(100.0, max(30.0, base[c.pk] + rng.uniform(-1.5, 1.5)))
                score = round(base[c.pk], 2)
                street, district = c.street, c.street.parent
                buffer.write(
                    f"{c.pk}\t{street.pk}\t{district.pk}\t{city.pk}\t{day}\t{score}\t{band_for(score)}\t"
                    f"{stars_for(score)}\t{c.population}\t{components(score)}\t{now}\n"
                )
                for area_id in (street.pk, district.pk, city.pk):
                    acc = sums.setdefault(area_id, [0.0, 0.0, 0.0])
                    acc[0] += score * c.population
                    acc[1] += c.population
                    acc[2] += 1
            copy_rows(cursor, "safety_compoundindexsnapshot", columns, buffer)
            parents = {city.pk: "\\N", **{d.pk: str(city.pk) for d in districts}}
            parents |= {s.pk: str(s.parent_id) for s in streets}
            areas = io.StringIO()
            for area_id, (weighted, population, count) in sums.items():
                score = round(weighted / population, 2)
                areas.write(
                    f"{area_id}\t{parents[area_id]}\t{day}\t{score}\t{band_for(score)}\t{stars_for(score)}\t"
                    f"{int(population)}\t{int(count)}\t{components(score)}\t{now}\n"
                )
            copy_rows(cursor, "safety_areaindexsnapshot", area_columns, areas)
            if (offset + 1) % 30 == 0 or offset + 1 == days:
                print(f"  {offset + 1}/{days} days written ({time.perf_counter() - started:.0f} s)", flush=True)
        cursor.execute("ANALYZE safety_compoundindexsnapshot")
        cursor.execute("ANALYZE safety_areaindexsnapshot")
        cursor.execute("SELECT count(*) FROM safety_compoundindexsnapshot")
        total = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('safety_compoundindexsnapshot'))")
        size = cursor.fetchone()[0]
    print(f"{total} compound snapshots ({size} with indexes) in {time.perf_counter() - started:.0f} s", flush=True)
    add_alerts_and_cases(compounds, rng, alerts)
    return {"city": city.pk, "district": districts[0].pk, "street": streets[0].pk, "rows": total}


KINDS = ("stranger", "tailgating", "crowd", "ebike_in_building", "device_offline", "fire_lane", "watchlist_hit")
STATUSES = ("new", "acknowledged", "resolved", "resolved", "resolved", "false_alarm")


def add_alerts_and_cases(compounds: list, rng: random.Random, n_alerts: int) -> None:  # type: ignore[type-arg]
    """Coordinates for every compound, ``n_alerts`` alerts over the last 35 days, mediation figures."""
    from django.utils import timezone

    from events.models import Alert
    from mediators.models import CaseFigures
    from tenants.models import Compound

    started = time.perf_counter()
    for c in compounds:
        c.latitude = round(36.55 + rng.random() * 0.2, 6)
        c.longitude = round(116.85 + rng.random() * 0.3, 6)
    Compound.objects.bulk_update(compounds, ["latitude", "longitude"], batch_size=1000)
    now = timezone.now()
    batch = []
    for i in range(n_alerts):
        c = rng.choice(compounds)
        at = now - datetime.timedelta(minutes=rng.randint(0, 35 * 24 * 60))
        batch.append(
            Alert(
                compound_id=c.pk,
                street_id=c.street_id,
                district_id=c.street.parent_id,
                city_id=c.street.parent.parent_id,
                kind=rng.choice(KINDS),
                severity=rng.choice(("low", "medium", "high")),
                status=rng.choice(STATUSES),
                occurred_at=at,
                last_seen_at=at,
                count=rng.randint(1, 5),
            )
        )
        if len(batch) == 5000 or i + 1 == n_alerts:
            Alert.objects.bulk_create(batch)
            batch = []
    figures = [
        CaseFigures(compound_id=c.pk, category="neighbour", status=status, cases=rng.randint(0, 12), refreshed_at=now)
        for c in compounds
        for status in ("registered", "mediating", "agreement", "failed", "referred")
    ]
    CaseFigures.objects.bulk_create(figures, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("events_alert", "mediators_casefigures", "tenants_compound"):
            cursor.execute(f"ANALYZE {table}")
    print(
        f"{n_alerts} alerts, {len(figures)} mediation figure rows, coordinates "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def measure(client: object, area_id: int, warmup: int, requests: int, endpoint: str = "dashboard") -> list[float]:
    url = f"/api/safety/{endpoint}/?area={area_id}"
    for _ in range(warmup):
        response = client.get(url)  # type: ignore[attr-defined]
        assert response.status_code == 200, response.status_code
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return samples


def percentile(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def explain(city_id: int) -> None:
    from django.db import connection

    from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot

    day = AreaIndexSnapshot.objects.filter(area_id=city_id).order_by("-day").values_list("day", flat=True).first()
    ranked = CompoundIndexSnapshot.objects.filter(city_id=city_id, day=day).order_by("score", "compound_id")[:10]
    with connection.cursor() as cursor:
        for label, sql, params in (
            ("worst 10", *ranked.query.sql_with_params()),
            (
                "trend",
                *AreaIndexSnapshot.objects.filter(area_id=city_id, day__gt=day - datetime.timedelta(days=90))
                .order_by("day")
                .values_list("day", "score")
                .query.sql_with_params(),
            ),
        ):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
            print(f"plan of {label}:")
            for (line,) in cursor.fetchall():
                print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--compounds", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--alerts", type=int, default=100_000, help="alerts over the last 35 days")
    parser.add_argument("--keep", action="store_true", help=f"keep the {DB} database afterwards")
    args = parser.parse_args()
    if args.compounds < PER_STREET or args.days < 1 or args.requests < 20:
        parser.error("at least 50 compounds, 1 day and 20 requests")

    maintenance_url, bench_url = database_urls(DB)
    use_bench_database(bench_url)
    recreate_database(maintenance_url, DB)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections
        from django.test import Client
        from django.test.utils import setup_test_environment

        from district.models import Area, RoleAssignment
        from tests.factories import UserFactory

        started = time.perf_counter()
        call_command("migrate_all", verbosity=0)
        print(f"migrated in {time.perf_counter() - started:.0f} s", flush=True)
        ids = build(args.compounds, args.days, args.alerts)

        setup_test_environment()  # the test client's host is allowed
        user = UserFactory(username="bench-city")
        RoleAssignment.objects.create(user=user, role="city_bureau", area=Area.objects.get(pk=ids["city"]))
        client = Client()
        client.force_login(user)
        results = {}
        for level in ("city", "district", "street"):
            samples = measure(client, ids[level], args.warmup, args.requests)
            results[level] = (statistics.median(samples), percentile(samples, 95))
            print(
                f"{level:8s} dashboard: p50 {results[level][0]:.1f} ms, p95 {results[level][1]:.1f} ms "
                f"({args.requests} requests)",
                flush=True,
            )
        map_samples = measure(client, ids["city"], args.warmup, args.requests, "map")
        results["map"] = (statistics.median(map_samples), percentile(map_samples, 95))
        print(f"city map:           p50 {results['map'][0]:.1f} ms, p95 {results['map'][1]:.1f} ms", flush=True)
        explain(ids["city"])
        size = len(client.get(f"/api/safety/dashboard/?area={ids['city']}").content)
        print(
            f"city answer: {size} bytes; {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        connections.close_all()
    finally:
        if not args.keep:
            drop_database(maintenance_url, DB)
    print(
        json.dumps(
            {
                "compounds": args.compounds,
                "days": args.days,
                "snapshot_rows": ids["rows"],
                "p50_ms": round(results["city"][0], 1),
                "p95_ms": round(results["city"][1], 1),
                "district_p95_ms": round(results["district"][1], 1),
                "street_p95_ms": round(results["street"][1], 1),
                "alerts": args.alerts,
                "map_p50_ms": round(results["map"][0], 1),
                "map_p95_ms": round(results["map"][1], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
