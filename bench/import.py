"""Benchmark of a street office's roster imported from Excel (issue #8): 100,000 persons, then the same file again.

Run from the project root::

    .venv/bin/python bench/import.py                 # 100,000 rows, then drops the bench database
    .venv/bin/python bench/import.py --rows 20000    # a smaller roster
    .venv/bin/python bench/import.py --keep          # keep smartpolice_import for inspection

It needs no preparation: it works in its own database, ``smartpolice_import``, on the server of
``$DATABASE_URL`` (127.0.0.1:5432 when unset; never the database named there), dropped and
created at the start (``migrate_all``) and dropped at the end. It

1. generates a persons workbook of ``--rows`` valid rows with openpyxl's write-only mode: Chinese
   names, resident ID numbers of several regions (1 % passports), phones for most, residence
   types, three persons to a room of 3-unit, 18-floor buildings (5 % without an address),
   move-in dates, a few move-outs, tags and notes;
2. creates a compound (``do_create_compound``) and its beat officer (社区民警), the uploader: a
   user who sees ID numbers, so re-imported rows are not counted lookups (``district.probes``);
3. uploads the workbook as an import job (``do_create_import_job``, as the upload page does) and
   runs it as the job worker does (``registry.tasks.import_workbook_job``: ``run_import`` in the
   compound's schema), in a process of its own, so its peak RSS (``ru_maxrss``) is that of one
   worker running one import;
4. uploads and runs the same file again: every row unchanged.

For each run it prints seconds, rows/s and peak RSS, and checks the job's counts. The last line
of output is JSON: ``{"rows": 100000, "import_s": …, "reimport_s": …, "peak_rss_mb": …, …}``.
Results are written up in docs/benchmarks.md ("Importing a street office's roster").
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchdb import ROOT, database_urls, drop_database, recreate_database, use_bench_database

BENCH_DB = "smartpolice_import"
COMPOUND_CODE = "370102001001"
OFFICER = "bench-minjing"

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬燕彩春菊凤洁梅琳素"
    "云莲真环雪荣爱妹香月莺媛瑞凡佳嘉琼勤珍贞莉娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉"
    "娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰"
    "爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思"
)
REGIONS = ("370102", "370103", "370104", "370105", "370112", "370181", "371302", "320102", "110101")
RESIDENCE = ("常住", "常住", "常住", "户籍", "户籍", "流动", "境外")
RELATIONS = ("房主", "家庭成员", "家庭成员", "租户")
TAGS = ("独居老人", "残疾人", "退役军人", "低保", "留守儿童")
NOTES = ("需定期走访", "行动不便，上门服务", "子女在外地", "新迁入")
PERSONS_PER_ROOM = 3
UNITS, FLOORS, ROOMS_PER_FLOOR = 3, 18, 4


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (``ru_maxrss``; Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_mb(key: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0]) / 1024
    raise KeyError(key)


def reset_peak() -> bool:
    """Start measuring VmHWM afresh (Linux: "5" resets it to the current RSS)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- The workbook ---------------------------------------------------------------------------------


def id_number(rng: random.Random, n: int) -> str:
    """A distinct, valid resident ID number for row ``n`` (birth date and order number vary with ``n``)."""
    from registry.validators import id_check_char

    birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=n % 20000)
    first17 = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{(n // 20000) * 2 + rng.randint(0, 1):03d}"
    return first17 + id_check_char(first17)


def room_of(household: int) -> tuple[str, str, str, str]:
    """Building, unit, floor and room numbers of a household, filling each building in turn."""
    per_building = UNITS * FLOORS * ROOMS_PER_FLOOR
    building, rest = divmod(household, per_building)
    unit, rest = divmod(rest, FLOORS * ROOMS_PER_FLOOR)
    floor, room = divmod(rest, ROOMS_PER_FLOOR)
    return str(building + 1), str(unit + 1), str(floor + 1), f"{floor + 1}{room + 1:02d}"


def person_rows(count: int, seed: int = 8) -> Iterator[list[Any]]:
    """The template's header, then ``count`` valid person rows in its column order."""
    from registry.excel import spec_for

    rng = random.Random(seed)
    yield spec_for("persons").headers
    for n in range(count):
        passport = rng.random() < 0.01
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" if rng.random() < 0.85 else None
        address: tuple[str | None, ...] = room_of(n // PERSONS_PER_ROOM) if rng.random() < 0.95 else (None,) * 4
        move_in = datetime.datetime(2000, 1, 1) + datetime.timedelta(days=rng.randrange(9000))
        move_out = move_in + datetime.timedelta(days=rng.randrange(1, 900)) if rng.random() < 0.03 else None
        yield [
            name,
            "护照" if passport else "居民身份证",
            f"E{n:08d}" if passport else id_number(rng, n),
            phone,
            "境外" if passport else rng.choice(RESIDENCE),
            *address,
            rng.choice(RELATIONS) if address[0] else None,
            move_in,
            move_out,
            rng.choice(TAGS) if rng.random() < 0.05 else None,
            rng.choice(NOTES) if rng.random() < 0.02 else None,
        ]


def write_workbook(path: Path, count: int) -> None:
    """The persons sheet, streamed to ``path`` (write-only mode: constant memory)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("实有人口")
    date_cells = {10, 11}  # 入住日期, 迁出日期: Excel dates, as a filled-in template has them
    for number, row in enumerate(person_rows(count)):
        if number:
            for index in date_cells:
                if row[index] is not None:
                    cell = WriteOnlyCell(sheet, value=row[index])
                    cell.number_format = "yyyy-mm-dd"
                    row[index] = cell
        sheet.append(row)
    book.save(path)


# --- One import, in a process of its own ------------------------------------------------------------


def run_job(job_id: int) -> None:
    """Child process: run import job ``job_id`` as the worker does; print one JSON line."""
    import django

    django.setup()
    from django.db import connection
    from django_tenants.utils import tenant_context

    from district.models import AuditEntry
    from registry.excel import run_import
    from registry.models import ImportJob
    from tenants.models import Compound

    compound = Compound.objects.get(code=COMPOUND_CODE)
    with tenant_context(compound):
        job = ImportJob.objects.defer("file").get(pk=job_id)  # as registry.tasks.import_workbook_job
        audit_before = AuditEntry.objects.count()
        rss_before = memory_mb("VmRSS")
        # The process's peak so far is Django's start; the import's own peak is measured from here.
        peak_reset = reset_peak()
        started, cpu_started = time.perf_counter(), time.process_time()
        run_import(job, compound)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        import_peak = memory_mb("VmHWM") if peak_reset else peak_rss_mb()
        peak = peak_rss_mb()  # before anything else the bench reads
        job = ImportJob.objects.defer("file").get(pk=job_id)
        audit_rows = AuditEntry.objects.count() - audit_before  # the log lives in public: any schema sees it
    connection.set_schema_to_public()
    print(
        json.dumps(
            {
                "status": job.status,
                "message": job.message,
                "total": job.total_rows,
                "created": job.created_count,
                "updated": job.updated_count,
                "unchanged": job.unchanged_count,
                "errors": len(job.errors),
                "first_errors": job.errors[:3],
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "rss_before_mb": rss_before,
                "import_peak_mb": import_peak,
                "peak_rss_mb": peak,
                "audit_rows": audit_rows,
            },
            ensure_ascii=False,
        )
    )


def measured_run(job_id: int, env: dict[str, str]) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--run-job", str(job_id)], cwd=ROOT, env=env, check=True, capture_output=True
    ).stdout.decode()
    return json.loads(output.strip().splitlines()[-1])


def describe(label: str, rows: int, run: dict[str, Any]) -> str:
    return (
        f"{label:9} {run['seconds']:6.1f} s ({run['cpu_seconds']:.1f} s CPU)  {rows / run['seconds']:6.0f} rows/s"
        f"  peak RSS {run['peak_rss_mb']:.0f} MB (ru_maxrss; during the import {run['import_peak_mb']:.0f} MB,"
        f" {run['rss_before_mb']:.0f} MB before)  created {run['created']}, updated {run['updated']},"
        f" unchanged {run['unchanged']}, errors {run['errors']}; {run['audit_rows']} audit rows"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="persons in the workbook (default 100,000)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    parser.add_argument("--run-job", type=int, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()

    maintenance_url, bench_url = database_urls(BENCH_DB)
    env = use_bench_database(bench_url)
    if args.run_job is not None:
        run_job(args.run_job)
        return

    recreate_database(maintenance_url, BENCH_DB)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections
    from django_tenants.utils import tenant_context

    from district.models import Area, RoleAssignment
    from registry.actions import do_create_import_job
    from registry.models import Address, House, Person
    from tenants.actions import do_create_compound

    results: dict[str, Any] = {"load_start": os.getloadavg()[0]}
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        call_command("migrate_all", verbosity=0, stdout=io.StringIO())
        city = Area.objects.create(level="city", code="370100", name="济南市")
        district = Area.objects.create(level="district", code="370102", name="历下区", parent=city)
        street = Area.objects.create(level="street", code="370102001", name="解放路街道", parent=district)
        compound = do_create_compound(street=street, name="阳光花园", code=COMPOUND_CODE)
        from django.contrib.auth import get_user_model

        officer = get_user_model().objects.create_user(OFFICER, password=None)
        RoleAssignment.objects.create(user=officer, role="beat_officer", compound=compound)

        path = workdir / "persons.xlsx"
        started = time.perf_counter()
        write_workbook(path, args.rows)
        results["generate_s"] = time.perf_counter() - started
        data = path.read_bytes()
        results["workbook_mb"] = len(data) / 1024 / 1024
        print(f"workbook: {args.rows} rows, {results['workbook_mb']:.1f} MB, written in {results['generate_s']:.1f} s")

        runs = {}
        for label in ("import", "reimport"):
            with tenant_context(compound):
                # The upload page's action: the file and the queued job in one transaction.
                job = do_create_import_job(kind="persons", filename="人口.xlsx", content=data, acting_user=officer)
            connections.close_all()
            runs[label] = run = measured_run(job.pk, env)
            print(describe(label, args.rows, run), flush=True)
            if run["status"] != "done" or run["errors"]:
                raise SystemExit(
                    f"{label} did not import cleanly: {run['status']} {run['message']} {run['first_errors']}"
                )
        assert (runs["import"]["created"], runs["reimport"]["unchanged"]) == (args.rows, args.rows), runs
        with tenant_context(compound):
            counts = (Person.objects.count(), House.objects.count(), Address.objects.count())
        assert counts[0] == args.rows, counts
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            results["postgres"] = cursor.fetchone()[0]
        results["load_end"] = os.getloadavg()[0]
    finally:
        connections.close_all()
        for leftover in workdir.iterdir():
            leftover.unlink()
        workdir.rmdir()
        if not args.keep:
            drop_database(maintenance_url, BENCH_DB)

    imported, again = runs["import"], runs["reimport"]
    print(f"persons {counts[0]}, houses {counts[1]}, addresses {counts[2]}")
    figures = {
        "rows": args.rows,
        "import_s": round(imported["seconds"], 1),
        "reimport_s": round(again["seconds"], 1),
        "peak_rss_mb": round(max(imported["peak_rss_mb"], again["peak_rss_mb"])),
        "import_rows_per_s": round(args.rows / imported["seconds"]),
        "reimport_rows_per_s": round(args.rows / again["seconds"]),
        "import_cpu_s": round(imported["cpu_seconds"], 1),
        "reimport_cpu_s": round(again["cpu_seconds"], 1),
        "import_peak_rss_mb": round(imported["peak_rss_mb"]),
        "reimport_peak_rss_mb": round(again["peak_rss_mb"]),
        "peak_during_import_mb": round(imported["import_peak_mb"]),
        "peak_during_reimport_mb": round(again["import_peak_mb"]),
        "worker_rss_before_mb": round(imported["rss_before_mb"]),
        "import_audit_rows": imported["audit_rows"],
        "reimport_audit_rows": again["audit_rows"],
        "workbook_mb": round(results["workbook_mb"], 1),
        "houses": counts[1],
        "addresses": counts[2],
        "cpus": os.cpu_count(),
        "load_start": round(results["load_start"], 2),
        "load_end": round(results["load_end"], 2),
        "postgres": results["postgres"],
        "python": platform.python_version(),
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
