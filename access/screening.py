"""Batch screening (part 4): a list of ID numbers (an employer's new hires) against the watch-list.

A beat officer (or the district branch, or the city bureau) pastes the numbers or uploads a
one-column .csv/.xlsx on a compound's screening page. Every line is checked as a resident ID
number (GB 11643); bad lines are reported by line number and not screened. The good ones are
stored as an ``access.ScreeningBatch`` and screened by a job (``access.tasks_screening``),
queued in the transaction that stores the batch.

The job screens the batch in chunks of :data:`CHUNK_SIZE`: one query per chunk against the
in-force entries of the compound's city, then the chunk's hits, their alerts and the new
``done`` count commit together. A worker killed half-way leaves the batch at its last
committed chunk, and the job, run again, resumes there: nothing is screened twice and no hit
raises two alerts. Each hit raises a ``screening_hit`` alert of the compound (high severity),
which its beat officer, street, district and city hear of (``events.actions.do_raise_alert``).
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import ScreeningBatch
from access.watchlist import in_force_q
from district.audit import do_record_change
from district.jobs import defer_in_compound
from district.models import AuditAction
from district.permissions import SCREEN_IDS, has_capability
from district.realtime import send_event_on_commit
from district.typing import AnyUser
from events.actions import access_group, do_raise_alert
from events.choices import Severity
from events.models import AreaTagged, WatchlistEntry
from registry.excel import ImportRefusedError, check_workbook_file
from registry.excel.limits import check_workbook_contents
from registry.validators import check_id_number
from tenants.models import Compound

__all__ = [
    "ALERT_KIND",
    "CHUNK_SIZE",
    "SCREEN_IDS_TASK",
    "UPLOAD_MAX_BYTES",
    "ParsedIds",
    "ScreeningInterruptedError",
    "do_create_screening_batch",
    "do_screen_next_chunk",
    "parse_id_lines",
    "read_id_file",
    "run_screening",
]

# The job's name (access.tasks_screening registers it; actions sit below tasks and queue by name).
SCREEN_IDS_TASK = "access.screen_ids"
ALERT_KIND = "screening_hit"
# One query per chunk: 500 numbers in an IN list is one index scan; a 5,000-number batch reports
# progress ten times.
CHUNK_SIZE = 500
# A one-column file of 5,000 ID numbers weighs about 100 KB as .csv and 60 KB as .xlsx.
UPLOAD_MAX_BYTES = 1024 * 1024
# A line longer than this is no ID number: it is reported without being read further.
MAX_LINE_CHARS = 64
_DIGIT = re.compile(r"\d")


class ScreeningInterruptedError(Exception):
    """The worker is stopping: the job is queued again and resumes from its last chunk."""


@dataclass
class ParsedIds:
    """What a list of lines holds: the valid numbers (normalised, each once) and the bad lines."""

    numbers: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    duplicates: int = 0


def _too_many() -> ValidationError:
    return ValidationError(
        _("A batch holds at most %(n)d ID numbers; split the list.") % {"n": settings.ACCESS_SCREENING_MAX_IDS},
        code="too_many",
    )


def parse_id_lines(lines: Iterable[str], *, today: datetime.date | None = None) -> ParsedIds:
    """Check each line as a resident ID number; blank lines are skipped.

    A first line without a single digit is a column header and is skipped too. More than
    ``ACCESS_SCREENING_MAX_IDS`` non-blank lines refuse the whole list (``ValidationError``).
    """
    parsed = ParsedIds()
    seen: set[str] = set()
    filled = 0
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or (number == 1 and not _DIGIT.search(text)):
            continue
        filled += 1
        if filled > settings.ACCESS_SCREENING_MAX_IDS:
            raise _too_many()
        if len(text) > MAX_LINE_CHARS:
            parsed.invalid.append((number, _("The line is too long to be an ID number.")))
            continue
        try:
            normalised = check_id_number(text, today=today).number
        except ValidationError as exc:
            parsed.invalid.append((number, " ".join(exc.messages)))
            continue
        if normalised in seen:
            parsed.duplicates += 1
            continue
        seen.add(normalised)
        parsed.numbers.append(normalised)
    return parsed


def _cell_text(value: object) -> str:
    """A spreadsheet cell as text; a number typed into Excel comes back as its digits."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # Excel keeps 15 significant digits: an 18-digit number typed as a number has lost its
        # last digits, and its check digit will say so.
        return str(int(value))
    return str(value)


def read_id_file(name: str, data: bytes) -> list[str]:
    """The first column of an uploaded .csv or .xlsx, as lines (``ValidationError`` if refused)."""
    if len(data) > UPLOAD_MAX_BYTES:
        raise ValidationError(
            _("The file is larger than %(kb)d KB.") % {"kb": UPLOAD_MAX_BYTES // 1024}, code="too_large"
        )
    lower = name.lower()
    if lower.endswith(".csv") or lower.endswith(".txt"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            # Excel on a Chinese Windows saves CSV in GB 18030 (GBK).
            text = data.decode("gb18030", errors="replace")
        rows = csv.reader(io.StringIO(text, newline=""))
        try:
            return [row[0] if row else "" for row in rows]
        except csv.Error:
            raise ValidationError(_("The CSV file cannot be read."), code="csv") from None
    if lower.endswith(".xlsx"):
        return _xlsx_first_column(data)
    raise ValidationError(_("Upload a .csv or .xlsx file with one ID number per row."), code="format")


def _xlsx_first_column(data: bytes) -> list[str]:
    from openpyxl import load_workbook  # only the requests that upload a workbook pay for it

    try:
        # The registry import's limits: the zip's directory, then every part streamed, before
        # openpyxl opens anything (registry.excel.limits).
        check_workbook_file(data)
        check_workbook_contents(data)
    except ImportRefusedError as exc:
        raise ValidationError(exc.message, code="refused") from None
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        # openpyxl fails in many ways on damaged files; all mean the same to the uploader.
        raise ValidationError(_("The Excel file cannot be read."), code="xlsx") from None
    lines: list[str] = []
    filled = 0
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(max_col=1, values_only=True):
            text = _cell_text(row[0] if row else None)
            lines.append(text)
            filled += bool(text.strip())
            if filled > settings.ACCESS_SCREENING_MAX_IDS + 1:  # + a header
                raise _too_many()
    finally:
        workbook.close()
    return lines


@transaction.atomic
def do_create_screening_batch(
    compound: Compound, id_numbers: list[str], *, label: str = "", acting_user: AnyUser | None
) -> ScreeningBatch:
    """Store a batch of valid, distinct ID numbers and queue its screening, in one transaction.

    Runs in ``compound``'s schema. The audit row counts the numbers; it never holds them.
    """
    if getattr(connection, "tenant", None) != compound:
        raise RuntimeError("screening batches are stored in their compound's schema (tenant_context)")
    if acting_user is not None and not has_capability(acting_user, SCREEN_IDS, compound):
        raise PermissionDenied
    if not id_numbers:
        raise ValidationError(_("There is no valid ID number to screen."), code="empty")
    if len(id_numbers) > settings.ACCESS_SCREENING_MAX_IDS:
        raise _too_many()
    batch = ScreeningBatch.objects.create(
        label=label.strip()[:128],
        id_numbers=list(id_numbers),
        total=len(id_numbers),
        created_by_id=acting_user.pk if acting_user is not None and acting_user.is_authenticated else None,
    )
    # In this transaction: a batch that got a 2xx is never lost, and a failed one queues nothing.
    defer_in_compound(SCREEN_IDS_TASK, compound, batch_id=batch.pk)
    fields = ["id_numbers", "total", *(["label"] if batch.label else [])]
    do_record_change(
        acting_user, AuditAction.CREATE, batch, fields=fields, compound=compound, detail={"count": batch.total}
    )
    send_event_on_commit(
        [access_group(compound.pk)], {"type": "access.screening.created", "id": batch.pk, "total": batch.total}
    )
    return batch


@transaction.atomic
def do_screen_next_chunk(
    batch_id: int, compound: Compound, *, now: datetime.datetime | None = None, chunk_size: int = CHUNK_SIZE
) -> ScreeningBatch:
    """Screen the batch's next chunk; its hits, their alerts and the progress commit together.

    Idempotent by construction: the chunk is ``id_numbers[done:done + chunk_size]`` and ``done``
    moves only in the transaction that records the chunk's hits. A finished batch is returned
    as it is.
    """
    batch = ScreeningBatch.objects.select_for_update().get(pk=batch_id)
    if batch.finished_at is not None:
        return batch
    now = now or timezone.now()
    chunk = batch.id_numbers[batch.done : batch.done + chunk_size]
    if chunk:
        city_id = AreaTagged.tags_for(compound)["city_id"]
        position = {number: batch.done + offset for offset, number in enumerate(chunk)}
        entries = WatchlistEntry.objects.filter(in_force_q(now), city_id=city_id, id_number__in=chunk)
        hits = []
        for entry in entries.order_by("pk"):
            alert = do_raise_alert(
                compound,
                kind=ALERT_KIND,
                occurred_at=now,
                severity=Severity.HIGH,
                fold_key=f"screening:{batch.pk}:{entry.pk}",
                detail={"screening_batch_id": batch.pk},
                watch_entry_id=entry.pk,
            )
            hits.append(
                {
                    "index": position[entry.id_number],
                    "id_number": entry.id_number,
                    "entry_id": entry.pk,
                    "kind": entry.kind,
                    "alert_id": alert.pk,
                }
            )
        batch.hits = [*batch.hits, *sorted(hits, key=lambda hit: (hit["index"], hit["entry_id"]))]
        batch.done += len(chunk)
    if batch.done >= batch.total:
        batch.finished_at = now
    batch.save(update_fields=["done", "hits", "finished_at"])
    send_event_on_commit(
        [access_group(compound.pk)],
        {
            "type": "access.screening.finished" if batch.finished_at else "access.screening.progress",
            "id": batch.pk,
            "done": batch.done,
            "total": batch.total,
            "hits": len(batch.hits),
        },
    )
    return batch


def run_screening(
    batch_id: int,
    compound: Compound,
    *,
    should_stop: Callable[[], bool] | None = None,
    now: Callable[[], datetime.datetime] = timezone.now,
    chunk_size: int = CHUNK_SIZE,
) -> ScreeningBatch:
    """Screen the batch to its end, chunk by chunk, from wherever it stands (the job's body).

    ``should_stop`` is asked before each chunk: when it says so, :class:`ScreeningInterruptedError`
    leaves the batch at its last committed chunk for the next run.
    """
    while True:
        if should_stop is not None and should_stop():
            raise ScreeningInterruptedError
        batch = do_screen_next_chunk(batch_id, compound, now=now(), chunk_size=chunk_size)
        if batch.finished_at is not None:
            return batch
