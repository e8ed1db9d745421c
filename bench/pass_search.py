"""Benchmark of the pass search (案件研判): 90 days of one busy compound among 50 others.

Run from the project root::

    .venv/bin/python bench/pass_search.py               # 3,000 events/day × 90 days + 50 compounds of noise
    .venv/bin/python bench/pass_search.py --noise-per-day 200 --runs 10     # a quicker, smaller run
    .venv/bin/python bench/pass_search.py --keep        # keep smartpolice_passes for inspection

It needs no preparation. It drops and creates its own database ``smartpolice_passes`` on the
server of ``$DATABASE_URL`` (127.0.0.1:5432 when unset; never the database named there),
migrates it, creates 51 compounds (``do_create_compound``) with 12 devices each, 2,000
residents in the busy one, and inserts the events with ``generate_series`` SQL straight into
the partitioned ``events_accessevent`` (monthly partitions made first by
``events.partitions``): ``--per-day`` events a day for the busy compound and ``--noise-per-day``
for each of the 50 others, over ``--days`` days, at random times, with kinds, persons, plates
and devices spread as at a real gate. Then ``ANALYZE``, and for each search the pages and the
API run (``access.passes``: the filterset, one keyset page of 50, the names of the page):

* by person over 90 days (``person=<id>``), and by a resident's name (``q=``, resolved in the
  compound's schema first);
* by plate over 90 days;
* by device over 7 days;
* by time window only (the default last 7 days, a 1-hour window 45 days back, and the
  third page of the 7 days by cursor);
* refused passages (``decision=deny``) over 90 days.

Each is run ``--runs`` times with other persons, plates, devices and windows; the time is the
whole in-process work of a page (filterset, query, names), and separately the API request
through Django's handler (``GET /c/<code>/api/access/events/``, in process, no network).
``EXPLAIN`` of each search's page query checks that it reads the composite index meant for
it (``event_person_time``, ``event_plate_time``, ``event_device_time``,
``event_compound_time``) and only the partitions of its window.

The last line of output is JSON starting ``{"events": N, "compound_events": n, "p50_ms": …,
"p95_ms": …}`` (p50 and p95 over every search run, in process). Results are written up in
docs/benchmarks.md ("Pass search").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from datetime import timedelta
from typing import Any

from benchdb import database_urls, drop_database, recreate_database, use_bench_database

BENCH_DB = "smartpolice_passes"
NOISE_COMPOUNDS = 50
DEVICES = 12
PERSONS = 2000
PLATES = 800

# Which index each search should read (the parent index of the partitions' indexes).
EXPECTED_INDEX = {
    "person_90d": "event_person_time",
    "name_90d": "event_person_time",
    "plate_90d": "event_plate_time",
    "device_7d": "event_device_time",
    "window_7d": "event_compound_time",
    "window_1h": "event_compound_time",
    "window_7d_page3": "event_compound_time",
    "deny_90d": "event_compound_time",
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


INSERT = """
INSERT INTO events_accessevent (
    occurred_at, received_at, kind, decision, direction, reason, person_id, visitor_pass_id, plate, card_no,
    similarity, margin, face_index, faces_in_capture, liveness, snapshot, actor_id, detail,
    city_id, compound_id, district_id, street_id, device_id, watch_entry_id
)
SELECT t, t,
    CASE WHEN r < 0.60 THEN 'face' WHEN r < 0.75 THEN 'card' WHEN r < 0.95 THEN 'plate' ELSE 'pin' END,
    CASE WHEN r2 < 0.03 THEN 'deny' ELSE 'open' END,
    CASE WHEN r2 < 0.5 THEN 'in' ELSE 'out' END,
    CASE WHEN r2 < 0.03 THEN 'unknown' ELSE '' END,
    CASE WHEN r < 0.75 THEN 1 + floor(random() * %(persons)s)::int END,
    NULL,
    CASE WHEN r >= 0.75 AND r < 0.95 THEN '鲁A' || lpad(floor(random() * %(plates)s)::int::text, 5, '0') ELSE '' END,
    '',
    CASE WHEN r < 0.60 THEN 0.6 + random() * 0.4 END, NULL, NULL, NULL, '',
    CASE WHEN r < 0.60 THEN 'access/bench/snapshots/' || md5(r::text) || '.jpg' ELSE '' END,
    NULL, '{}'::jsonb,
    %(city)s, %(compound)s, %(district)s, %(street)s,
    %(device0)s + floor(random() * %(devices)s)::int, NULL
FROM (
    SELECT now() - random() * %(days)s * interval '1 day' AS t, random() AS r, random() AS r2
    FROM generate_series(1, %(n)s)
) AS src
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--days", type=int, default=90, help="days of events (default 90)")
    parser.add_argument("--per-day", type=int, default=3000, help="events a day of the busy compound (default 3000)")
    parser.add_argument(
        "--noise-per-day", type=int, default=500, help="events a day of each of the 50 other compounds (default 500)"
    )
    parser.add_argument("--runs", type=int, default=30, help="runs of each search (default 30)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    if args.days < 8 or args.per_day < 100 or args.runs < 3:
        parser.error("at least 8 days, 100 events a day and 3 runs")

    maintenance_url, bench_url = database_urls(BENCH_DB)
    use_bench_database(bench_url)
    recreate_database(maintenance_url, BENCH_DB)

    import django

    django.setup()

    try:
        results = run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(maintenance_url, BENCH_DB)
    report(args, results)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.client import RequestFactory
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from access.passes import AccessEventFilterSet, describe_events, events_of, page_of
    from district.models import Area
    from events.models import AccessEvent, DeviceIndex
    from events.partitions import ensure_partition
    from registry.models import Person
    from tenants.actions import do_create_compound
    from tenants.provisioning import ensure_template_schema

    quiet = {"interactive": False, "verbosity": 0}
    results: dict[str, Any] = {"load_start": os.getloadavg()[0]}
    started = time.perf_counter()
    call_command("migrate_schemas", shared=True, **quiet)
    ensure_template_schema()
    call_command("migrate_all", verbosity=0, stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        results["postgres"] = cursor.fetchone()[0]

    city = Area.objects.create(level="city", code="370100", name="济南市")
    district = Area.objects.create(level="district", code="370102", name="历下区", parent=city)
    street = Area.objects.create(level="street", code="370102001", name="基准街道", parent=district)
    busy = do_create_compound(street=street, name="繁忙小区")
    others = [do_create_compound(street=street, name=f"噪声小区{i + 1:02d}") for i in range(NOISE_COMPOUNDS)]
    devices: dict[int, list[DeviceIndex]] = {}
    for compound in [busy, *others]:
        devices[compound.pk] = DeviceIndex.objects.bulk_create(
            DeviceIndex(uid=f"DB{compound.pk:06d}{d:02d}", compound=compound, kind="face_gate", key_hash="0" * 64)
            for d in range(DEVICES)
        )
    with tenant_context(busy):
        from access.models import Device

        Device.objects.bulk_create(
            Device(uid=d.uid, name=f"闸机{i + 1}", kind="face_gate") for i, d in enumerate(devices[busy.pk])
        )
        surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
        Person.objects.bulk_create(
            Person(
                name=f"{surnames[i % 20]}{given[(i // 20) % 24]}{given[(i * 7) % 24]}",
                id_number=f"B{i:017d}",
            )
            for i in range(PERSONS)
        )
        person_ids = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    print(f"set-up: 51 compounds, {len(person_ids)} residents in {time.perf_counter() - started:.1f} s", flush=True)

    now = timezone.now()
    day = now - timedelta(days=args.days + 1)
    while day <= now + timedelta(days=31):
        ensure_partition(day)
        day += timedelta(days=28)

    def insert(compound: Any, n: int) -> None:
        with connection.cursor() as cursor:
            # Bulk loading: a crash would lose only bench rows.
            cursor.execute("SET synchronous_commit = off")
            cursor.execute(
                INSERT,
                {
                    "persons": PERSONS,
                    "plates": PLATES,
                    "city": city.pk,
                    "district": district.pk,
                    "street": street.pk,
                    "compound": compound.pk,
                    "device0": devices[compound.pk][0].pk,
                    "devices": DEVICES,
                    "days": args.days,
                    "n": n,
                },
            )

    t0 = time.perf_counter()
    insert(busy, args.per_day * args.days)
    for i, compound in enumerate(others):
        insert(compound, args.noise_per_day * args.days)
        if (i + 1) % 10 == 0:
            print(f"  noise compounds inserted: {i + 1}/{NOISE_COMPOUNDS}", flush=True)
    results["insert_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_accessevent")
    results["analyze_s"] = time.perf_counter() - t0
    results["events"] = AccessEvent.objects.count()
    results["compound_events"] = AccessEvent.objects.filter(compound_id=busy.pk).count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'events_accessevent'::regclass"
        )
        results["table_mb"] = float(cursor.fetchone()[0]) / 2**20
    print(
        f"inserted {results['events']:,} events ({results['compound_events']:,} of the busy compound) "
        f"in {results['insert_s']:.1f} s, ANALYZE {results['analyze_s']:.1f} s, {results['table_mb']:.0f} MB",
        flush=True,
    )

    # --- The searches ----------------------------------------------------------------------
    user = get_user_model().objects.create(username="bench-root", is_superuser=True)
    factory = RequestFactory()
    rng = random.Random(20261201)
    uids = [d.uid for d in devices[busy.pk]]
    with tenant_context(busy):
        names = dict(Person.objects.values_list("pk", "name"))

    def iso(moment: Any) -> str:
        return moment.isoformat()

    def params(kind: str) -> dict[str, str]:
        quarter = {"from": iso(now - timedelta(days=90)), "to": iso(now)}
        if kind == "person_90d":
            return {"person": str(rng.choice(person_ids)), **quarter}
        if kind == "name_90d":
            return {"q": names[rng.choice(person_ids)], **quarter}
        if kind == "plate_90d":
            return {"plate": f"鲁A{rng.randrange(PLATES):05d}", **quarter}
        if kind == "device_7d":
            return {"device": rng.choice(uids), "from": iso(now - timedelta(days=7))}
        if kind == "window_7d":
            return {}
        if kind == "window_1h":
            start = now - timedelta(days=45, minutes=rng.randrange(1440))
            return {"from": iso(start), "to": iso(start + timedelta(hours=1))}
        if kind == "deny_90d":
            return {"decision": "deny", **quarter}
        raise ValueError(kind)

    def page(query: dict[str, str], cursor: str | None = None) -> tuple[Any, Any]:
        request = factory.get("/", query)
        request.user = user
        request.tenant = busy
        filterset = AccessEventFilterSet(query, queryset=events_of(busy), request=request)
        assert filterset.is_valid(), filterset.errors
        result = page_of(filterset.qs, cursor)
        describe_events(result.events, whole_names=True)
        return filterset, result

    timings: dict[str, list[float]] = {kind: [] for kind in EXPECTED_INDEX}
    rows: dict[str, list[int]] = {kind: [] for kind in EXPECTED_INDEX}
    with tenant_context(busy):
        for kind in EXPECTED_INDEX:
            page(params("window_7d" if kind == "window_7d_page3" else kind))  # warm the caches of this search
        for _ in range(args.runs):
            for kind in EXPECTED_INDEX:
                if kind == "window_7d_page3":
                    _fs, first = page({})
                    _fs, second = page({}, first.next_cursor)
                    t0 = time.perf_counter()
                    _fs, third = page({}, second.next_cursor)
                    timings[kind].append((time.perf_counter() - t0) * 1000)
                    rows[kind].append(len(third.events))
                    continue
                query = params(kind)
                t0 = time.perf_counter()
                _fs, result = page(query)
                timings[kind].append((time.perf_counter() - t0) * 1000)
                rows[kind].append(len(result.events))

        # EXPLAIN of each search's page query: the index it reads and the partitions it touches.
        plans: dict[str, dict[str, Any]] = {}
        index_parent = parent_indexes(connection)
        for kind in EXPECTED_INDEX:
            query = params("window_7d" if kind == "window_7d_page3" else kind)
            filterset, first = page(query)
            qs = filterset.qs.order_by("-occurred_at", "-id")
            if kind == "window_7d_page3":
                from django.db.models import Q

                at = first.events[-1].occurred_at
                qs = qs.filter(
                    Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=first.events[-1].pk), occurred_at__lte=at
                )
            plan = json.loads(qs[:51].explain(format="json", analyze=True))
            used = set()
            scanned = set()
            walk_plan(plan[0]["Plan"], used, scanned)
            parents = {index_parent.get(name, name) for name in used}
            plans[kind] = {
                "indexes": sorted(parents),
                "partitions": len(scanned),
                "seq_scan": any(name for name in scanned if name.startswith("seq:")),
                "ok": EXPECTED_INDEX[kind] in parents,
                "ms": plan[0]["Execution Time"],
            }

    # The API through Django's handler (in process): serialisation and the permission boundary included.
    client = Client()
    client.force_login(user)
    api: list[float] = []
    url = f"/c/{busy.code}/api/access/events/"
    client.get(url)  # the first request loads the URL resolver, the schema's imports and the session
    for _ in range(args.runs):
        for kind in ("person_90d", "plate_90d", "device_7d", "window_7d"):
            query = params(kind)
            t0 = time.perf_counter()
            response = client.get(url, query)
            api.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content[:300]
    results.update(timings=timings, rows=rows, plans=plans, api=api, load_end=os.getloadavg()[0])
    return results


def parent_indexes(connection: Any) -> dict[str, str]:
    """Partition index name → the parent index it is attached to (``event_person_time`` …)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relkind = 'I'"
        )
        return dict(cursor.fetchall())


def walk_plan(node: dict[str, Any], used: set[str], scanned: set[str]) -> None:
    if "Index Name" in node:
        used.add(node["Index Name"])
    scans = ("Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Seq Scan")
    if node.get("Node Type") in scans and node.get("Actual Loops", 1):
        prefix = "seq:" if node["Node Type"] == "Seq Scan" else ""
        scanned.add(prefix + node.get("Relation Name", "?"))
    for child in node.get("Plans", []):
        walk_plan(child, used, scanned)


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    timings: dict[str, list[float]] = results["timings"]
    every = [ms for samples in timings.values() for ms in samples]
    print()
    load = f"load {results['load_start']:.2f} → {results['load_end']:.2f}"
    print(f"machine: {os.cpu_count()} CPUs ({platform.machine()}), PostgreSQL {results['postgres']}, {load}")
    print(
        f"{'search':<18} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>5}  index (expected)           partitions"
    )
    for kind, samples in timings.items():
        plan = results["plans"][kind]
        mark = "ok" if plan["ok"] else "MISSING"
        print(
            f"{kind:<18} {statistics.median(samples):8.1f} {percentile(samples, 0.95):8.1f} {max(samples):8.1f} "
            f"{round(statistics.mean(results['rows'][kind])):5d}  {','.join(plan['indexes']) or '-'} "
            f"({EXPECTED_INDEX[kind]}: {mark})"
            f"  {plan['partitions']}{' SEQ SCAN' if plan['seq_scan'] else ''}  (query {plan['ms']:.1f} ms)"
        )
    api = results["api"]
    print(f"{'API (4 searches)':<18} {statistics.median(api):8.1f} {percentile(api, 0.95):8.1f} {max(api):8.1f}")
    missing = [kind for kind, plan in results["plans"].items() if not plan["ok"]]
    if missing:
        print(f"WARNING: searches not reading their index: {', '.join(missing)}")
    figures = {
        "events": results["events"],
        "compound_events": results["compound_events"],
        "p50_ms": round(statistics.median(every), 1),
        "p95_ms": round(percentile(every, 0.95), 1),
        "max_ms": round(max(every), 1),
        "api_p50_ms": round(statistics.median(api), 1),
        "api_p95_ms": round(percentile(api, 0.95), 1),
        **{f"{kind}_p95_ms": round(percentile(samples, 0.95), 1) for kind, samples in timings.items()},
        "indexes_ok": not missing,
        "explain_ms": {kind: round(plan["ms"], 2) for kind, plan in results["plans"].items()},
        "days": args.days,
        "runs": args.runs,
        "insert_s": round(results["insert_s"], 1),
        "table_mb": round(results["table_mb"]),
        "cpus": os.cpu_count(),
        "load_start": round(results["load_start"], 2),
        "load_end": round(results["load_end"], 2),
        "postgres": results["postgres"],
        "python": platform.python_version(),
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
