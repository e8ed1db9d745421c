"""Benchmark of compound provisioning and of re-migrating every compound.

Run from the project root::

    .venv/bin/python bench/provision.py            # 200 compounds, then drops the bench database
    .venv/bin/python bench/provision.py --keep     # leave smartpolice_bench for inspection

It works in its own database, ``smartpolice_bench``, on the server of ``$DATABASE_URL``
(127.0.0.1:5432 when unset): dropped and created at the start, dropped at the end. It measures

* the first creation of the template schema (``ensure_template_schema``);
* ``tenants.actions.do_create_compound`` for each of N compounds (row, domain and schema, by
  whatever ``tenants.provisioning`` does), plus a few more at the end on new connections;
* for comparison, two other ways to build a compound schema, with no compounds yet and again
  after N: running every tenant migration into an empty schema (``migrate_schemas --schema``),
  and django-tenants' ``clone_schema`` of the template (each on a new connection);
* a no-op ``migrate_schemas`` (stock django-tenants: public + every compound), per compound;
* our ``migrate_all`` (migrates only schemas with pending migrations), per compound.

The last line of output is JSON, starting
``{"compounds": 200, "create_s_median": …, "noop_migrate_s_per_compound": …, …}``.
Results are written up in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchdb import database_urls, drop_database, recreate_database, use_bench_database

BENCH_DB = "smartpolice_bench"


def timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def progress(done: int, total: int, note: str) -> None:
    """One line redrawn in place on a terminal; every tenth step otherwise (logs stay short)."""
    width = 30
    filled = width * done // total
    line = f"[{'#' * filled}{'.' * (width - filled)}] {100 * done // total:3d}% {done}/{total} {note}"
    if sys.stdout.isatty():
        print(f"\r{line}\033[K", end="\n" if done == total else "", flush=True)
    elif done % 10 == 0 or done == total:
        print(line, flush=True)


def summary(samples: list[float]) -> dict[str, float]:
    if len(samples) == 1:
        return dict.fromkeys(("median", "p90", "min", "max", "mean"), samples[0])
    deciles = statistics.quantiles(samples, n=10, method="inclusive")
    return {
        "median": statistics.median(samples),
        "p90": deciles[8],
        "min": min(samples),
        "max": max(samples),
        "mean": statistics.fmean(samples),
    }


def describe(stats: dict[str, float]) -> str:
    return (
        f"median {stats['median']:.3f} s, p90 {stats['p90']:.3f}, min {stats['min']:.3f}, "
        f"max {stats['max']:.3f}, mean {stats['mean']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--compounds", type=int, default=200, help="compounds to create (at least 20; default 200)")
    parser.add_argument("--samples", type=int, default=5, help="samples of each comparison measurement (default 5)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    if args.compounds < 20:
        parser.error("--compounds must be at least 20 for a meaningful median")
    if args.samples < 1:
        parser.error("--samples must be at least 1")

    maintenance_url, bench_url = database_urls(BENCH_DB)
    use_bench_database(bench_url)  # before anything imports the settings; DEBUG off for 200 schemas
    recreate_database(maintenance_url, BENCH_DB)

    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection, connections
    from django_tenants.clone import CloneSchema

    from district.models import Area
    from tenants.actions import do_create_compound
    from tenants.models import Compound
    from tenants.provisioning import ensure_template_schema, template_schema

    quiet = {"interactive": False, "verbosity": 0}
    n = args.compounds

    def drop_schema(schema: str) -> None:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')

    def by_migrations(label: str) -> list[float]:
        """A schema built by running every tenant migration into it (no template involved)."""
        samples = []
        for i in range(args.samples):
            schema = f"bench_migrated_{i}"
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{schema}"')
            samples.append(timed(lambda s=schema: call_command("migrate_schemas", schema_name=s, tenant=True, **quiet)))
            drop_schema(schema)
            print(f"  schema by migrations {label} {i + 1}/{args.samples}: {samples[-1]:.3f} s", flush=True)
        return samples

    def by_clone(label: str) -> list[float]:
        """django-tenants' clone_schema of the template, each on a new connection.

        A new connection each time: on one long-lived connection the clone also slows down
        with every schema that connection has created (see docs/benchmarks.md).
        """
        samples = []
        for i in range(args.samples):
            schema = f"bench_cloned_{i}"
            connections.close_all()
            samples.append(timed(lambda s=schema: CloneSchema().clone_schema(template_schema(), s, "DATA")))
            drop_schema(schema)
            print(f"  schema by clone_schema {label} {i + 1}/{args.samples}: {samples[-1]:.3f} s", flush=True)
        return samples

    # Other work on the machine (2 cores shared with the database) moves every figure: record it.
    results: dict[str, Any] = {"load_start": os.getloadavg()[0]}
    try:
        results["shared_migrate_s"] = timed(lambda: call_command("migrate_schemas", shared=True, **quiet))
        results["template_s"] = timed(ensure_template_schema)
        call_command("migrate_all", verbosity=0, stdout=io.StringIO())
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            results["postgres"] = cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename <> 'django_migrations'",
                [template_schema()],
            )
            results["tables_per_schema"] = cursor.fetchone()[0]

        migrated_start = by_migrations("(no compounds yet)")
        cloned_start = by_clone("(no compounds yet)")

        city = Area.objects.create(level="city", code="370100", name="济南市")
        district = Area.objects.create(level="district", code="370102", name="历下区", parent=city)
        # A street holds at most 999 compounds (3-digit sequence); spread them over a few.
        streets = [
            Area.objects.create(level="street", code=f"370102{s:03d}", name=f"基准街道{s}", parent=district)
            for s in range(1, 5)
        ]
        connections.close_all()
        create = []
        for i in range(n):
            street = streets[i % len(streets)]
            create.append(timed(lambda k=i, s=street: do_create_compound(street=s, name=f"基准小区{k + 1:03d}")))
            progress(i + 1, n, f"compounds created, last {create[-1]:.3f} s")
        assert Compound.objects.count() == n

        results["noop_migrate_schemas_s"] = timed(lambda: call_command("migrate_schemas", **quiet))
        print(f"  no-op migrate_schemas over {n} compounds: {results['noop_migrate_schemas_s']:.2f} s", flush=True)
        results["noop_migrate_all_s"] = timed(lambda: call_command("migrate_all", verbosity=0, stdout=io.StringIO()))
        print(f"  no-op migrate_all over {n} compounds: {results['noop_migrate_all_s']:.2f} s", flush=True)

        migrated_end = by_migrations(f"(after {n} compounds)")
        cloned_end = by_clone(f"(after {n} compounds)")
        # Does do_create_compound carry state across calls on one connection? A few more, each
        # on a new connection, compared with the last ones of the main loop.
        fresh = []
        for i in range(args.samples):
            connections.close_all()
            fresh.append(timed(lambda k=i: do_create_compound(street=streets[0], name=f"基准新连接{k + 1}")))
        results["load_end"] = os.getloadavg()[0]
    finally:
        connections.close_all()
        if not args.keep:
            drop_database(maintenance_url, BENCH_DB)

    stats = summary(create)
    first, last = statistics.median(create[:20]), statistics.median(create[-20:])
    rows = [
        ("machine", f"{os.cpu_count()} CPUs ({platform.machine()}), load {results['load_start']:.2f} at start"),
        ("PostgreSQL / Python", f"{results['postgres']} / {platform.python_version()}"),
        ("tables per compound schema", f"{results['tables_per_schema']}"),
        ("public schema migrations", f"{results['shared_migrate_s']:.3f} s"),
        ("template schema, first creation", f"{results['template_s']:.3f} s"),
        (f"do_create_compound, {n} runs", describe(stats)),
        ("  median of the first / last 20", f"{first:.3f} s / {last:.3f} s"),
        ("  after the loop, on new connections", f"median {statistics.median(fresh):.3f} s"),
        (
            "schema by migrations, at 0 / at N",
            f"{statistics.median(migrated_start):.3f} s / {statistics.median(migrated_end):.3f} s",
        ),
        (
            "schema by clone_schema, at 0 / at N",
            f"{statistics.median(cloned_start):.3f} s / {statistics.median(cloned_end):.3f} s",
        ),
        (
            "no-op migrate_schemas, per compound",
            f"{results['noop_migrate_schemas_s'] / n:.3f} s ({results['noop_migrate_schemas_s']:.2f} s in all)",
        ),
        (
            "no-op migrate_all, per compound",
            f"{results['noop_migrate_all_s'] / n:.4f} s ({results['noop_migrate_all_s']:.2f} s in all)",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    figures = {
        "compounds": n,
        "create_s_median": round(stats["median"], 3),
        "noop_migrate_s_per_compound": round(results["noop_migrate_schemas_s"] / n, 3),
        "create_s_p90": round(stats["p90"], 3),
        "create_s_min": round(stats["min"], 3),
        "create_s_max": round(stats["max"], 3),
        "create_s_first20_median": round(first, 3),
        "create_s_last20_median": round(last, 3),
        "create_s_new_connection_median": round(statistics.median(fresh), 3),
        "template_s": round(results["template_s"], 3),
        "migrations_schema_s_median_at_0": round(statistics.median(migrated_start), 3),
        "migrations_schema_s_median_at_n": round(statistics.median(migrated_end), 3),
        "clone_schema_s_median_at_0": round(statistics.median(cloned_start), 3),
        "clone_schema_s_median_at_n": round(statistics.median(cloned_end), 3),
        "noop_migrate_all_s_per_compound": round(results["noop_migrate_all_s"] / n, 4),
        "tables_per_schema": results["tables_per_schema"],
        "cpus": os.cpu_count(),
        "load_start": round(results["load_start"], 2),
        "load_end": round(results["load_end"], 2),
        "postgres": results["postgres"],
        "python": platform.python_version(),
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
