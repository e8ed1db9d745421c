"""Import bombs (issue #7): each refused early, at upload or in the job, with the worker's memory bounded.

The bombs are built here, streamed into the zip part by part, so a sheet of 21 million rows
costs the test 0.4 s and 180 KB. Each is imported by a real job worker in a process of its
own (``manage.py procrastinate worker``), whose peak memory is read from /proc.

These tests commit (``committed_db``): the worker's connection must see the jobs. Each works
in a fresh compound that is dropped afterwards.
"""

from __future__ import annotations

import datetime
import functools
import io
import itertools
import os
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django_tenants.utils import tenant_context
from procrastinate.contrib.django.models import ProcrastinateJob

from registry.actions import do_create_import_job
from registry.excel import ImportRefusedError, check_workbook_file, read_rows, spec_for
from registry.excel.limits import MAX_SHARED_STRINGS, MAX_SHARED_STRINGS_BYTES, check_workbook_contents
from registry.models import ImportJob
from registry.tasks import purge_import_files
from tenants.models import Compound
from tests.registry.test_excel import person_row, workbook
from tests.registry.test_import_jobs import Worker, poll, reload

MB = 1024 * 1024
MAIN = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADERS = spec_for("persons").headers

# The growth of a worker's peak memory (VmHWM) an import in this module may cause. A refused
# bomb costs little more than its bytes (the file, at most 10 MB, read once from the database
# after its size was checked there; the zip's directory; the expat stream): measured at most
# 15 MB. The costliest file the caps admit, 1,000,000 shared strings filling 40 MB, which the
# reader keeps whole (packed, registry.excel.reader.SharedStrings), measured 35 MB. 64 MB is
# about twice that, so the allocator's moods do not fail the test, and a twenty-eighth of what
# the blank-row bomb cost before the limits (+1.8 GB).
PEAK_GROWTH_LIMIT_MB = 64
# Refused early: a refused job ends within this many seconds of its upload, worker pick-up
# included (the 21-million-row sheet took 369 s before).
REFUSED_WITHIN_S = 5.0


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


# --- Building workbooks, bombs included, part by part ------------------------------------------


def _content_types(shared_strings: bool) -> bytes:
    overrides = [
        ("/xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
        ("/xl/worksheets/sheet1.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"),
    ]
    if shared_strings:
        overrides.append(
            ("/xl/sharedStrings.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml")
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides)
        + "</Types>"
    ).encode()


RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _relationships(*targets: tuple[str, str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{n}" Type="{RELATIONSHIPS}/{kind}" Target="{target}"/>'
            for n, (kind, target) in enumerate(targets, start=1)
        )
        + "</Relationships>"
    ).encode()


WORKBOOK_PART = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN.decode()}" xmlns:r="{RELATIONSHIPS}">'
    '<sheets><sheet name="实有人口" sheetId="1" r:id="rId1"/></sheets></workbook>'
).encode()


def _write(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> None:
    with archive.open(name, "w", force_zip64=True) as part:
        for chunk in chunks:
            part.write(chunk)


def xlsx(sheet: Iterable[bytes], shared_strings: Iterable[bytes] | None = None, *, level: int = 9) -> bytes:
    """A minimal workbook of one sheet, "实有人口", its XML (and the shared strings') streamed from chunks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", _content_types(shared_strings is not None))
        archive.writestr("_rels/.rels", _relationships(("officeDocument", "xl/workbook.xml")))
        archive.writestr("xl/workbook.xml", WORKBOOK_PART)
        parts = [("worksheet", "worksheets/sheet1.xml")]
        if shared_strings is not None:
            parts.append(("sharedStrings", "sharedStrings.xml"))
        archive.writestr("xl/_rels/workbook.xml.rels", _relationships(*parts))
        _write(archive, "xl/worksheets/sheet1.xml", sheet)
        if shared_strings is not None:
            _write(archive, "xl/sharedStrings.xml", shared_strings)
    return buffer.getvalue()


def _inline(reference: str, text: str) -> bytes:
    return f'<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def header_row() -> bytes:
    """Row 1 with the persons template's headers, so that only the bomb can refuse the file."""
    cells = b"".join(_inline(f"{openpyxl.utils.get_column_letter(n)}1", h) for n, h in enumerate(HEADERS, 1))
    return b'<row r="1">' + cells + b"</row>"


def sheet(body: Iterable[bytes] = (), *, dimension: str | None = None) -> Iterator[bytes]:
    """The XML of a persons sheet: the header row, then ``body`` (rows' XML, in chunks)."""
    yield b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="' + MAIN + b'">'
    if dimension:
        yield f'<dimension ref="{dimension}"/>'.encode()
    yield b"<sheetData>" + header_row()
    yield from body
    yield b"</sheetData></worksheet>"


def numbered_rows(first: int, last: int, per_chunk: int = 100_000) -> Iterator[bytes]:
    """``<row r="N"/>`` for N in first..last: blank rows that still pack only 7:1."""
    for start in range(first, last + 1, per_chunk):
        yield b"".join(b'<row r="%d"/>' % n for n in range(start, min(start + per_chunk, last + 1)))


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


# --- The bombs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bomb:
    name: str
    builder: Callable[[], bytes]
    refused_at_upload: bool  # by the cheap check of the zip's directory; else by the job's streaming
    message: str  # a piece of the refusal, in English (at upload)…
    message_zh: str  # …and in Chinese (the worker's language, settings.LANGUAGE_CODE)

    def build(self) -> bytes:
        return _built(self.builder)


@functools.cache
def _built(builder: Callable[[], bytes]) -> bytes:
    """Each bomb is built once per test run (the largest take a second)."""
    return builder()


def blank_rows_21_million() -> bytes:
    """The reported bomb: 21 million blank rows (126 MB of XML) in a 180 KB file."""
    return xlsx(sheet(itertools.repeat(b"<row/>" * 100_000, 210)))


def blank_rows_stated() -> bytes:
    """A sheet whose <dimension> claims 21 million rows: openpyxl would read as many."""
    return xlsx(sheet(numbered_rows(2, 10), dimension="A1:N21000000"))


def blank_rows_unstated() -> bytes:
    """300,000 numbered blank rows and no <dimension>: packs 7:1, 5 MB of XML, passes the zip checks."""
    return xlsx(sheet(numbered_rows(2, 300_000)))


def row_numbers_skipped() -> bytes:
    """One row numbered 1,048,576: openpyxl yields every blank row up to it."""
    return xlsx(sheet([b'<row r="1048576">' + _inline("A1048576", "张三") + b"</row>"]))


def cells_in_one_row() -> bytes:
    """200,000 cells in one row (one element tree in openpyxl's hands), packing 7:1."""
    return xlsx(sheet([b'<row r="2">', b"".join(b"<c><v>%d</v></c>" % n for n in range(200_000)), b"</row>"]))


def one_long_cell() -> bytes:
    """A cell of 5 million characters (random, so that it packs 2:1)."""
    text = os.urandom(2_500_000).hex().encode()
    return xlsx(sheet([b'<row r="2"><c r="A2" t="inlineStr"><is><t>', text, b"</t></is></c></row>"]))


def shared_strings_418_mb() -> bytes:
    """The reported bomb: one shared string of 418 MB, in 1.9 MB."""
    strings = [b'<sst xmlns="' + MAIN + b'"><si><t>', *itertools.repeat(b"A" * MB, 418), b"</t></si></sst>"]
    return xlsx(sheet(), strings, level=1)


def shared_strings_at_the_cap() -> bytes:
    """Not a bomb: as many shared strings as the caps allow, as long as they allow.

    1,000,000 distinct strings (the reader keeps their text packed, and where each ends),
    filling the 40 MB cap. Imported, not refused: this measures what the caps let through.
    """
    strings = [b'<sst xmlns="' + MAIN + b'">']
    room = MAX_SHARED_STRINGS_BYTES - 64 * 1024 - len(strings[0]) - len(b"</sst>")
    width = room // MAX_SHARED_STRINGS - len(b"<si><t>1000000</t></si>")
    strings += [b"<si><t>%d%s</t></si>" % (1_000_000 + n, b"x" * width) for n in range(MAX_SHARED_STRINGS)]
    strings.append(b"</sst>")
    return xlsx(sheet(), [b"".join(strings)])


def zip_without_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"".join(sheet()))
    return buffer.getvalue()


BOMBS = [
    Bomb("21 million blank rows", blank_rows_21_million, True, "unpacks", "解压后"),
    Bomb("dimension of 21 million rows", blank_rows_stated, True, "more than 101001 rows", "超过 101001 行"),
    Bomb("300,000 blank rows, no dimension", blank_rows_unstated, False, "more than 101001 rows", "超过 101001 行"),
    Bomb("row number 1,048,576", row_numbers_skipped, False, "more than 101001 rows", "超过 101001 行"),
    Bomb("200,000 cells in a row", cells_in_one_row, False, "after column BL", "在 BL 列之后"),
    Bomb("a cell of 5 million characters", one_long_cell, False, "more than 1000 characters", "超过 1000 个字符"),
    Bomb("shared strings of 418 MB", shared_strings_418_mb, True, "unpacks", "解压后"),
    Bomb("11 MB of random bytes", lambda: random_bytes(11 * MB), True, "larger than 10 MB", "文件超过 10 MB"),
    Bomb("1 MB of random bytes", lambda: random_bytes(MB), True, "not an Excel workbook", "不是 Excel 工作簿"),
    Bomb("a zip without a workbook", zip_without_workbook, True, "not an Excel workbook", "不是 Excel 工作簿"),
]


# --- Refused at upload: a 4xx, nothing stored -----------------------------------------------------


def upload(client: Client, compound: Compound, data: bytes) -> Any:
    return client.post(
        f"/c/{compound.code}/import/", {"kind": "persons", "file": SimpleUploadedFile("人口.xlsx", data)}
    )


def nothing_stored(compound: Compound) -> bool:
    with tenant_context(compound):
        jobs = ImportJob.objects.exists()
    return not jobs and not ProcrastinateJob.objects.exists()


def test_each_bomb_the_zip_directory_betrays_is_refused_at_upload(fresh_compound, committed_superuser):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(committed_superuser)
    for bomb in BOMBS:
        if not bomb.refused_at_upload:
            continue
        data = bomb.build()

        started = time.monotonic()
        response = upload(client, fresh_compound, data)
        took = time.monotonic() - started

        assert response.status_code == (413 if len(data) > 10 * MB else 422), bomb.name
        assert bomb.message in response.content.decode(), bomb.name
        assert nothing_stored(fresh_compound), bomb.name
        assert took < 2, f"{bomb.name}: refused after {took:.1f} s"
    client.logout()


@pytest.mark.parametrize("bomb", [b for b in BOMBS if b.refused_at_upload], ids=lambda b: b.name)
def test_the_upload_check_reads_the_zip_directory_only(bomb):
    data = bomb.build()
    tracemalloc.start()
    try:
        with pytest.raises(ImportRefusedError):
            check_workbook_file(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MB, f"{bomb.name}: the check allocated {peak / MB:.1f} MB"


def test_refusals_are_worded_in_the_uploaders_language(fresh_compound, committed_superuser):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(committed_superuser)
    html = upload(client, fresh_compound, blank_rows_stated()).content.decode()
    assert "超过 101001 行" in html
    html = upload(client, fresh_compound, _built(shared_strings_418_mb)).content.decode()
    assert "解压后" in html
    response = upload(client, fresh_compound, random_bytes(11 * MB))
    assert response.status_code == 413 and "文件超过 10 MB" in response.content.decode()
    client.logout()


def test_the_template_and_a_full_upload_pass_the_upload_check(fresh_compound, committed_superuser):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(committed_superuser)
    response = upload(client, fresh_compound, workbook("persons", [person_row()]))
    assert response.status_code == 302
    client.logout()


# --- Refused by the worker, streaming: quickly, with its memory bounded -----------------------------


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of process ``pid``, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0])
    return values


def reset_peak(pid: int) -> bool:
    """Start measuring the peak of ``pid`` afresh (Linux: "5" resets VmHWM to VmRSS)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def worker_registered() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_workers")
        return cursor.fetchone()[0]


@dataclass
class Measured:
    name: str
    status: str
    message: str
    seconds: float
    peak_growth_mb: float


def import_in_worker(worker: Worker, compound: Compound, user: Any, data: bytes, name: str) -> Measured:
    """Queue ``data`` as an import (past the upload check) and measure the worker that runs it."""
    pid = worker.process.pid
    # Without clear_refs, the growth of the peak since the worker started.
    before = memory_kb(pid)["VmRSS" if reset_peak(pid) else "VmHWM"]
    started = time.monotonic()
    with tenant_context(compound):
        job = do_create_import_job(kind="persons", filename=f"{name}.xlsx", content=data, acting_user=user)
    job = poll(
        lambda: reload(job, compound),
        lambda job: job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED) or worker.process.poll() is not None,
        timeout=60,
        what=f"the import of {name}",
    )
    seconds = time.monotonic() - started
    peak = memory_kb(pid)["VmHWM"]
    return Measured(name, job.status, job.message, seconds, (peak - before) / 1024)


def test_each_bomb_is_refused_by_the_worker_quickly_with_its_memory_bounded(
    fresh_compound, committed_superuser, test_database_url, tmp_path
):
    bombs = [(bomb, bomb.build()) for bomb in BOMBS]
    admitted = shared_strings_at_the_cap()
    worker = Worker("bombs-test", test_database_url, tmp_path)
    try:
        poll(
            worker_registered,
            lambda count: count > 0 or worker.process.poll() is not None,
            timeout=60,
            what="the worker's start",
        )
        # Settle the worker's first-job costs (connections, lazy imports) before measuring.
        import_in_worker(worker, fresh_compound, committed_superuser, workbook("persons", [person_row()]), "warm-up")
        results = [import_in_worker(worker, fresh_compound, committed_superuser, d, b.name) for b, d in bombs]
        cap = import_in_worker(worker, fresh_compound, committed_superuser, admitted, "shared strings at the cap")
    finally:
        worker.stop()

    print("\nbomb                                  status   seconds  peak RSS growth")
    for result in [*results, cap]:
        print(f"{result.name:38} {result.status:8} {result.seconds:6.2f}   {result.peak_growth_mb:6.1f} MB")
    for (bomb, _data), result in zip(bombs, results, strict=True):
        assert result.status == ImportJob.Status.FAILED, (bomb.name, result, worker.output())
        assert bomb.message_zh in result.message, (bomb.name, result.message)
        assert result.seconds < REFUSED_WITHIN_S, (bomb.name, result.seconds)
        assert result.peak_growth_mb < PEAK_GROWTH_LIMIT_MB, (bomb.name, result.peak_growth_mb)
    # Admitted and read whole by openpyxl: its memory is bounded by the cap on the part's size.
    assert cap.status == ImportJob.Status.DONE, (cap, worker.output())
    assert cap.peak_growth_mb < PEAK_GROWTH_LIMIT_MB, cap.peak_growth_mb


# --- The limits' edges, in this process ----------------------------------------------------------


@override_settings(REGISTRY_IMPORT_MAX_ROWS=5, REGISTRY_IMPORT_MAX_BLANK_ROWS=3)
def test_blank_rows_count_up_to_the_allowance_wherever_they_are():
    def rows(*cells: str | None) -> bytes:
        body = [
            b'<row r="%d">' % n + (_inline(f"A{n}", text) if text else b"") + b"</row>"
            for n, text in enumerate(cells, start=2)
        ]
        return xlsx(sheet(body))

    five_and_three_blank = rows("甲", None, "乙", "丙", None, "丁", None, "戊")
    check_workbook_contents(five_and_three_blank)
    assert len(read_rows("persons", five_and_three_blank)) == 5
    one_blank_more = rows("甲", None, "乙", "丙", None, "丁", None, "戊", None)
    with pytest.raises(ImportRefusedError, match="more than 9 rows"):
        check_workbook_contents(one_blank_more)
    with pytest.raises(ImportRefusedError, match="more than 9 rows"):
        read_rows("persons", xlsx(sheet([b'<row r="10"/>'])))  # a skipped row number counts as a row


@override_settings(REGISTRY_IMPORT_MAX_COLUMNS=14, REGISTRY_IMPORT_MAX_CELL_CHARS=10)
def test_columns_and_cell_lengths_are_checked_as_the_rows_are_read():
    def one_row(*cells: bytes) -> bytes:
        return xlsx(sheet([b'<row r="2">' + b"".join(cells) + b"</row>"]))

    check_workbook_contents(one_row(_inline("N2", "x" * 10)))
    with pytest.raises(ImportRefusedError, match="after column N"):
        check_workbook_contents(one_row(_inline("O2", "x")))
    with pytest.raises(ImportRefusedError, match="Row 2 holds a cell of more than 10 characters"):
        check_workbook_contents(one_row(_inline("A2", "x" * 11)))
    # A shared string is only an index in the sheet: its length is checked as the row is read.
    strings = [b'<sst xmlns="' + MAIN + b'"><si><t>' + b"x" * 11 + b"</t></si></sst>"]
    shared = xlsx(sheet([b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>']), strings)
    check_workbook_contents(shared)
    with pytest.raises(ImportRefusedError, match="Row 2 holds a cell of more than 10 characters"):
        read_rows("persons", shared)


def test_entities_are_refused_and_openpyxl_parses_with_defusedxml():
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<sst xmlns="' + MAIN + b'"><si><t>&b;</t></si></sst>'
    )
    with pytest.raises(ImportRefusedError, match="not an Excel workbook"):
        read_rows("persons", xlsx(sheet(), [laughs]))
    # openpyxl reads with defusedxml when it is installed (requirements.txt): its own refusal of entities.
    assert openpyxl.DEFUSEDXML


def test_a_workbook_part_elsewhere_is_refused():
    """openpyxl finds the workbook and its strings through [Content_Types].xml: no escaping the caps by renaming."""
    data = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx(sheet(), [b'<sst xmlns="' + MAIN + b'"/>']))) as source,
        zipfile.ZipFile(data, "w") as target,
    ):
        for part in source.infolist():
            content = source.read(part)
            if part.filename == "[Content_Types].xml":
                content = content.replace(b"/xl/sharedStrings.xml", b"/xl/media/strings.xml")
            target.writestr(part.filename.replace("sharedStrings", "media/strings"), content)
    with pytest.raises(ImportRefusedError, match="not an Excel workbook"):
        check_workbook_file(data.getvalue())


# --- Retention, run by a real worker (the rest: test_import_retention.py) ---------------------------


def test_the_daily_purge_runs_in_a_worker_as_of_its_scheduled_time(fresh_compound, committed_superuser, run_jobs):
    scheduled = datetime.datetime(2026, 12, 1, 19, 0, tzinfo=datetime.UTC)
    with tenant_context(fresh_compound):
        job = do_create_import_job(
            kind="persons", filename="人口.xlsx", content=blank_rows_stated(), acting_user=committed_superuser
        )
    run_jobs()  # the import fails (the bomb); the file stays until the retention period is over
    with tenant_context(fresh_compound):
        ImportJob.objects.filter(pk=job.pk).update(finished_at=scheduled - datetime.timedelta(days=8))

    purge_import_files.defer(timestamp=int(scheduled.timestamp()))
    run_jobs()

    with tenant_context(fresh_compound):
        job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, bytes(job.file)) == (ImportJob.Status.FAILED, b"")
    assert "101001" in job.message  # the report stays
    assert not ProcrastinateJob.objects.exists()  # both jobs succeeded (and were deleted)
