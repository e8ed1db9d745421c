"""Importing a filled-in template: read, validate every row, save the good ones, report the rest.

The workbook is streamed (:mod:`registry.excel.reader`) once to count its rows and to refuse it
as a whole if it must be (more rows than allowed, a masked export); the rows are kept in a
temporary file meanwhile (:class:`Spool`) and imported from it, :data:`BATCH_ROWS` at a time,
so memory holds a batch, not the file's rows. In a batch,
each row is read and checked on its own (every problem of a row is reported at once), then the
batch's records are looked up, validated and written together through the registry's bulk
actions (:mod:`registry.excel.records`): a bad row is reported and skipped without losing the
rows around it. Errors name the Excel row number and the Chinese column header, with a message
in the active language, so staff can fix the file and import it again (re-importing creates
nothing twice: see ``records``).

An import job (:func:`run_import`, run by the job worker) commits each batch in one
transaction with the job's counters and errors so far, and with the audit rows of what the
batch wrote. A worker killed half-way leaves the rows, the counts and the audit rows of its
last committed batch, nothing of the batch it was in; running the job again resumes after the
last batch, and the final counts are those of one uninterrupted run.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from district.typing import AnyUser
from registry.excel.cells import CellError, is_blank, parse_cell
from registry.excel.columns import SheetSpec
from registry.excel.errors import ImportRefusedError
from registry.excel.limits import ImportLimits, too_large_message
from registry.excel.reader import DataSheet, SheetRow
from registry.excel.records import Duplicate, ImportSession, Outcome, ParsedRow, natural_key, save_rows
from registry.models import ImportJob
from tenants.models import Compound

__all__ = [
    "BATCH_ROWS",
    "ImportInterruptedError",
    "ImportRefusedError",
    "ImportResult",
    "SheetRow",
    "import_workbook",
    "read_rows",
    "run_import",
]

logger = logging.getLogger(__name__)

# Rows imported together: one lookup per kind, one bulk write and one audit row per verb, and for
# a job one commit with its counters (the checkpoint a restarted import resumes from, and the
# step of the progress bar). 100,000 rows make 50 batches of about a second each
# (docs/benchmarks.md): a restart redoes at most that, and the bar moves every second.
BATCH_ROWS = 2000
SPOOL_ROWS = 1000  # rows pickled together into the spool (registry.excel.importer.Spool)

Progress = Callable[[int, int], None]


class ImportInterruptedError(Exception):
    """``run_import`` did not finish the job here: asked to stop, or another run holds the job.

    The job is left at its last checkpoint, still ``running``: run it again (later) to resume.
    """


@dataclass
class ImportResult:
    """What an import did. ``errors`` holds ``{"row", "column", "message"}`` dicts, in row order."""

    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Rows not imported (a row may have several errors)."""
        return len({error["row"] for error in self.errors})

    def add_error(self, row: int, column: str, message: str) -> None:
        """Report one problem of one row."""
        self.errors.append({"row": row, "column": column, "message": str(message)})


def read_rows(kind: str, file_bytes: bytes) -> list[SheetRow]:
    """The non-empty data rows of a workbook of ``kind``, all at once; raises :class:`ImportRefusedError`.

    For small files and tests: imports stream them (:class:`DataSheet`), which refuses a file
    that is not an .xlsx, whose first row lacks a template header, with more than
    ``settings.REGISTRY_IMPORT_MAX_ROWS`` rows, or past the limits of
    :mod:`registry.excel.limits` (checked before the file is opened, and again as the rows
    are read: blank rows count). Columns not in the template are ignored.
    """
    with DataSheet(kind, file_bytes) as sheet:  # refuses an unknown kind too
        return list(sheet.rows())


def masked_copy_message() -> str:
    return _(
        "This is a masked export (its ID numbers and phones read like 3701**********123X): it cannot be "
        "imported back. Import an export made by someone who sees the full numbers, or fill in the template."
    )


class Spool:
    """The data rows of a sheet, kept in a temporary file as they are counted, for the import to read back.

    Every row must be read before the first is imported (the file is refused as a whole if it
    holds too many rows, or is a masked export), and reading the sheet's XML again would cost
    as much as that first pass (4 s for 100,000 rows). Their values are kept instead, pickled a
    thousand rows at a time into a private temporary file (13 MB for 100,000 rows) and read back
    in a tenth of that time: memory holds a batch, not the file's rows. The file holds only values this
    process read from the sheet and wrote itself, and goes when the import ends.
    """

    def __init__(self, sheet: DataSheet) -> None:
        self.headers = list(sheet.positions)
        self.file = tempfile.TemporaryFile(prefix="registry-import-")  # noqa: SIM115  (closed by close())
        self.count = 0
        self._pending: list[tuple[int, tuple[Any, ...]]] = []

    def add(self, row: SheetRow) -> None:
        self._pending.append((row.number, tuple(row.cells.values())))
        self.count += 1
        if len(self._pending) == SPOOL_ROWS:
            self._flush()

    def _flush(self) -> None:
        pickle.dump(self._pending, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self._pending = []

    def rows(self) -> Iterator[SheetRow]:
        """The rows kept, in sheet order (once all are added)."""
        if self._pending:
            self._flush()
        self.file.seek(0)
        while True:
            try:
                chunk = pickle.load(self.file)  # noqa: S301  (written above by this process, from the sheet)
            except EOFError:
                return
            for number, values in chunk:
                yield SheetRow(number, dict(zip(self.headers, values, strict=True)))

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def count_rows(sheet: DataSheet, spool: Spool | None = None) -> int:
    """The sheet's data rows, counted (and kept in ``spool``); refuses the file if it has too many,
    or is a masked export sent back.

    A masked export has most of its ID and phone cells masked (``*``). Each such row would
    otherwise be reported with its own "not a valid number" errors; the uploader needs one
    answer about the file.
    """
    headers = [column.header for column in sheet.spec.columns if column.pii]
    count = filled = masked = 0
    for row in sheet.rows():
        count += 1
        if spool is not None:
            spool.add(row)
        for header in headers:
            value = row.cells.get(header)
            if isinstance(value, str) and value.strip():
                filled += 1
                masked += "*" in value or "＊" in value
    if masked and masked * 2 > filled:
        raise ImportRefusedError(masked_copy_message())
    return count


def _parse_cells(spec: SheetSpec, row: SheetRow, result: ImportResult) -> tuple[dict[str, Any], set[str]]:
    """The row's readable model values, and the fields whose cells were reported unreadable."""
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for column in spec.columns:
        raw = row.cells[column.header]
        if column.required and is_blank(raw):
            result.add_error(row.number, column.header, _("This column is required."))
            bad.add(column.field)
            continue
        try:
            values[column.field] = parse_cell(column, raw)
        except CellError as exc:
            result.add_error(row.number, column.header, exc.message)
            bad.add(column.field)
    return values, bad


def _parse(spec: SheetSpec, row: SheetRow) -> dict[str, Any] | None:
    """The row's model values, or ``None`` if a cell is unreadable."""
    values, bad = _parse_cells(spec, row, ImportResult())
    return None if bad else values


def _model_errors(spec: SheetSpec, values: dict[str, Any], skip: set[str]) -> ValidationError | None:
    """The model's own errors about the readable cells of a row that failed anyway.

    A row with unreadable cells is not saved; the model's ``full_clean()`` is run here with the
    readable values (the unreadable fields excluded), so the report names every problem of the
    row at once, not the next one after each fix.
    """
    model = spec.model
    names = {f.name for f in model._meta.concrete_fields}
    instance = model()
    for name, value in values.items():
        if name in names and name not in skip:
            setattr(instance, name, value)
    exclude = {name for name in names if name not in values or name in skip}
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            return None
        kept = {field: errors for field, errors in exc.error_dict.items() if field not in exclude}
        return ValidationError(kept) if kept else None
    return None


def _report_validation_error(spec: SheetSpec, row: int, exc: ValidationError, result: ImportResult) -> None:
    """Each message of ``exc`` under the column of its field (row-wide ones under the key column), once."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    known = {(error["column"], error["message"]) for error in result.errors if error["row"] == row}
    for field_name, messages in errors.items():
        header = spec.key_header if field_name == NON_FIELD_ERRORS else spec.header_for_field(field_name)
        for message in messages:
            if (header, str(message)) not in known:
                known.add((header, str(message)))
                result.add_error(row, header, message)


def _import_batch(
    spec: SheetSpec, rows: list[SheetRow], session: ImportSession, seen: dict[Hashable, int], result: ImportResult
) -> None:
    """Import one batch of rows: count what was saved, report every problem of the others (in row order).

    A row with unreadable cells is reported with them and with whatever the model finds wrong
    with the rest; a readable row is saved with the batch (``records.save_rows``), or reported
    with the model's errors, as a duplicate of an earlier row, or as refused by the database.
    """
    reports: dict[int, ImportResult] = {}
    parsed: dict[int, ParsedRow] = {}
    for row in rows:
        report = ImportResult()
        values, bad = _parse_cells(spec, row, report)
        if bad:
            model_errors = _model_errors(spec, values, bad)
            if model_errors is not None:
                _report_validation_error(spec, row.number, model_errors, report)
            reports[row.number] = report
        else:
            parsed[row.number] = ParsedRow(row.number, values, natural_key(spec, values))
    for number, outcome in save_rows(spec, list(parsed.values()), session, seen).items():
        if isinstance(outcome, Duplicate):
            report = reports[number] = ImportResult()
            message = _("Same record as row %(row)d of this file; fill it in once.") % {"row": outcome.row}
            report.add_error(number, parsed[number].key.header, message)
        elif isinstance(outcome, ValidationError):
            report = reports[number] = ImportResult()
            _report_validation_error(spec, number, outcome, report)
        elif outcome == Outcome.CREATED:
            result.created += 1
        elif outcome == Outcome.UPDATED:
            result.updated += 1
        else:
            result.unchanged += 1
    for number in sorted(reports):
        result.errors += reports[number].errors


def _batches(rows: Iterable[SheetRow], size: int) -> Iterator[list[SheetRow]]:
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


def import_workbook(
    kind: str,
    file_bytes: bytes,
    compound: Compound,
    progress: Progress | None = None,
    *,
    acting_user: AnyUser | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ImportResult:
    """Import a workbook of ``kind`` into ``compound``'s schema; raises :class:`ImportRefusedError`.

    ``acting_user`` is the uploader, whose rights the actions apply (only police roles may
    set or clear 重点人员); ``None`` is a system import. ``progress(processed, total)`` is
    called before the first row and after each batch of ``batch_rows`` rows, each committed on
    its own: run it outside a long transaction of your own if others should see rows as they
    are saved. Uploads are imported by :func:`run_import` instead, in the job worker.
    """
    with DataSheet(kind, file_bytes) as sheet, Spool(sheet) as spool:  # refuses an unknown kind too
        result = ImportResult(total=count_rows(sheet, spool))
        session = ImportSession(compound, acting_user)
        seen: dict[Hashable, int] = {}
        if progress:
            progress(0, result.total)
        done = 0
        with tenant_context(compound):
            for batch in _batches(spool.rows(), batch_rows):
                with transaction.atomic():
                    _import_batch(sheet.spec, batch, session, seen, result)
                done += len(batch)
                if progress:
                    progress(done, result.total)
    return result


def _uploader(job: ImportJob) -> AnyUser | None:
    """The user who uploaded ``job``; an anonymous one (no rights) if that user is gone."""
    if job.created_by_id is None:
        return None
    return get_user_model().objects.filter(pk=job.created_by_id).first() or AnonymousUser()


def _keys_saved_before(spec: SheetSpec, rows: Iterable[SheetRow], errors: list[dict[str, Any]]) -> dict[Hashable, int]:
    """The natural keys of the rows a previous run saved, as the ``seen`` map it had built.

    A row was saved if it has no error in the report: parsing it again (no database) gives its
    key, so a later row repeating it is still reported as a duplicate after a restart.
    """
    failed = {error["row"] for error in errors}
    seen: dict[Hashable, int] = {}
    for row in rows:
        if row.number in failed:
            continue
        values = _parse(spec, row)
        if values is not None:
            seen.setdefault(natural_key(spec, values).value, row.number)
    return seen


# The fields a run writes; a resumed run starts from them.
PROGRESS_FIELDS = [
    "status",
    "total_rows",
    "processed_rows",
    "created_count",
    "updated_count",
    "unchanged_count",
    "errors",
]


def _checkpoint(job: ImportJob, processed: int, result: ImportResult) -> None:
    job.processed_rows = processed
    job.created_count, job.updated_count, job.unchanged_count = result.created, result.updated, result.unchanged
    job.errors = result.errors
    job.save(update_fields=["processed_rows", "created_count", "updated_count", "unchanged_count", "errors"])


def _uploaded_file(job: ImportJob) -> bytes:
    """The file of ``job``, read from the database only if its size is one an upload may have.

    The upload form refuses larger files; one stored otherwise (an older upload) would cost the
    worker several times its size on the way from the database.
    """
    jobs = ImportJob.objects.filter(pk=job.pk)
    size = jobs.annotate(size=Length("file")).values_list("size", flat=True).get()
    if size > ImportLimits.from_settings().upload_bytes:
        raise ImportRefusedError(too_large_message())
    return bytes(jobs.values_list("file", flat=True).get())


def _import_in_batches(
    job: ImportJob, compound: Compound, should_stop: Callable[[], bool] | None, batch_rows: int
) -> None:
    """Import the rows of ``job`` after its checkpoint, committing each batch with the counters."""
    with DataSheet(job.kind, _uploaded_file(job)) as sheet, Spool(sheet) as spool:  # refuses an unknown kind too
        total = count_rows(sheet, spool)
        start = min(job.processed_rows, total)
        # Counts and errors continue from the checkpoint (all zero on a first run).
        result = ImportResult(
            total=total,
            created=job.created_count,
            updated=job.updated_count,
            unchanged=job.unchanged_count,
            errors=list(job.errors),
        )
        rows = spool.rows()
        seen = _keys_saved_before(sheet.spec, islice(rows, start), result.errors)
        # The audit rows of the writes name the job: one import's rows can be told from another's.
        session = ImportSession(compound, _uploader(job), detail={"import_job": job.pk})
        if job.total_rows != total:
            job.total_rows = total
            job.save(update_fields=["total_rows"])
        done = start
        for batch in _batches(rows, batch_rows):
            if should_stop and should_stop():
                raise ImportInterruptedError(f"import job {job.pk} stopped after {done} of {total} rows")
            with transaction.atomic():
                _import_batch(sheet.spec, batch, session, seen, result)
                done += len(batch)
                _checkpoint(job, done, result)


def _try_lock(job: ImportJob, compound: Compound) -> bool:
    """Take the session lock of this job; ``False`` if another connection holds it.

    A job is only retried once its worker looks dead (district.jobs), but a worker that was
    merely stuck could come back: the lock makes sure one run at a time writes the job. It
    goes with the connection, so a killed worker's lock is released by PostgreSQL at once.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [_lock_key(job, compound)])
        return bool(cursor.fetchone()[0])


def _unlock(job: ImportJob, compound: Compound) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [_lock_key(job, compound)])
    except DatabaseError:
        # The session is gone, and its lock with it; do not hide the error that ended the run.
        logger.warning("could not unlock Excel import job %s", job.pk, exc_info=True)


def _lock_key(job: ImportJob, compound: Compound) -> str:
    return f"registry.import:{compound.schema_name}:{job.pk}"


def run_import(
    job: ImportJob,
    compound: Compound,
    *,
    should_stop: Callable[[], bool] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ImportJob:
    """Run the import of ``job`` in ``compound``, or resume it from its last checkpoint.

    Rows are committed ``batch_rows`` at a time, each batch in one transaction with the job's
    progress, counts and errors so far (see the module docstring). The rows are saved with
    the rights of the job's uploader (``created_by_id``). A job already done or failed is
    left as it is.

    Raises :class:`ImportInterruptedError`, leaving the job ``running`` at its checkpoint, when
    ``should_stop()`` (asked before each batch) answers true, or when another connection is
    running this job right now (a worker presumed dead that is only slow, or whose session the
    server has not yet closed).

    Never raises for a bad file: the job ends ``failed`` with its reason in ``message``.
    An unexpected error is logged and also ends the job ``failed``, so it never stays "running".
    """
    with tenant_context(compound):
        if job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
            return job
        if not _try_lock(job, compound):
            raise ImportInterruptedError(f"import job {job.pk} is being run by another connection")
        try:
            return _run_locked(job, compound, should_stop, batch_rows)
        finally:
            _unlock(job, compound)


def _run_locked(
    job: ImportJob, compound: Compound, should_stop: Callable[[], bool] | None, batch_rows: int
) -> ImportJob:
    # The caller's copy may predate a run that died after its last checkpoint.
    job.refresh_from_db(fields=PROGRESS_FIELDS)
    if job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        return job
    job.status = ImportJob.Status.RUNNING
    job.save(update_fields=["status"])
    try:
        _import_in_batches(job, compound, should_stop, batch_rows)
    except ImportInterruptedError:
        raise
    except ImportRefusedError as exc:
        job.status, job.message = ImportJob.Status.FAILED, exc.message
    except Exception:
        logger.exception("Excel import job %s failed", job.pk)
        job.refresh_from_db(fields=PROGRESS_FIELDS)  # what the last committed batch recorded
        job.status = ImportJob.Status.FAILED
        job.message = _("The import stopped on an unexpected error. Rows saved before it are kept.")
    else:
        job.status = ImportJob.Status.DONE
        # The counts and errors are on the job; ``message`` is kept for why a job failed.
        job.message = ""
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "finished_at"])
    return job
