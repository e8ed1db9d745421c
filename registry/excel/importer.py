"""Importing a filled-in template: read, validate every row, save the good ones, report the rest.

Each row is saved in its own savepoint, so a bad row is reported and skipped without losing
the rows around it. Errors name the Excel row number and the Chinese column header, with a
message in the active language, so staff can fix the file and import it again (re-importing
creates nothing twice: see ``records``).

An import job (:func:`run_import`, run by the job worker) commits its rows in batches of
:data:`BATCH_ROWS`, each in one transaction with the job's counters and errors so far. A worker
killed half-way leaves the rows and the counts of its last committed batch, nothing of the
batch it was in; running the job again resumes after the last batch, and the final counts are
those of one uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from district.typing import AnyUser
from registry.excel.cells import CellError, is_blank, parse_cell
from registry.excel.columns import HEADER_ALIASES, SheetSpec, spec_for
from registry.excel.errors import ImportRefusedError
from registry.excel.limits import (
    ImportLimits,
    cell_too_long,
    check_workbook_contents,
    check_workbook_file,
    not_xlsx_message,
    too_large_message,
    too_many_columns,
    too_many_rows,
)
from registry.excel.records import ImportSession, NaturalKey, Outcome, natural_key, save_row
from registry.excel.templates import INSTRUCTIONS_TITLE
from registry.models import ImportJob
from tenants.models import Compound

__all__ = [
    "BATCH_ROWS",
    "PROGRESS_EVERY",
    "ImportInterruptedError",
    "ImportRefusedError",
    "ImportResult",
    "SheetRow",
    "import_workbook",
    "read_rows",
    "run_import",
]

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 50  # rows between two progress reports of import_workbook()
# Rows committed together with the job's counters by run_import(): the checkpoint a restarted
# import resumes from, and the step of the progress bar. Large enough that commits cost little
# next to the rows (savepoints are cheap, commits wait for the disk), small enough that a
# restart redoes little and the progress bar moves.
BATCH_ROWS = 100

Progress = Callable[[int, int], None]


class ImportInterruptedError(Exception):
    """``run_import`` did not finish the job here: asked to stop, or another run holds the job.

    The job is left at its last checkpoint, still ``running``: run it again (later) to resume.
    """


@dataclass(frozen=True)
class SheetRow:
    """One non-empty data row: its Excel row number and its raw cells by header."""

    number: int
    cells: dict[str, Any]


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


def _open(file_bytes: bytes) -> Workbook:
    """The workbook, read-only, once it passed the limits (openpyxl alone would load a bomb whole)."""
    check_workbook_file(file_bytes)
    check_workbook_contents(file_bytes)
    try:
        return load_workbook(BytesIO(file_bytes), read_only=True, data_only=True)
    except Exception:
        # openpyxl fails in many ways on foreign files (zip, XML, key and value errors);
        # all mean the same to the uploader.
        raise ImportRefusedError(not_xlsx_message())


def _data_sheet(workbook: Workbook, spec: SheetSpec) -> Worksheet:
    """The sheet named like the template's, else the first one that is not the 说明 sheet."""
    if spec.title in workbook.sheetnames:
        return workbook[spec.title]
    for name in workbook.sheetnames:
        if name != INSTRUCTIONS_TITLE:
            return workbook[name]
    raise ImportRefusedError(_("The workbook has no data sheet."))


def _header_positions(spec: SheetSpec, header_row: tuple[Any, ...] | None) -> dict[str, int]:
    """Each expected header's column index; refuses the file if any is missing."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header_row or ()):
        if isinstance(cell, str):
            # Tolerate the "*" some people add to mark a required column, and older header words.
            name = cell.strip().strip("*＊").strip()
            found.setdefault(HEADER_ALIASES.get(name, name), index)
    missing = [header for header in spec.headers if header not in found]
    if len(missing) == len(spec.headers):
        raise ImportRefusedError(
            _("The first row of the sheet holds none of the expected headers (%(headers)s): use the template.")
            % {"headers": "、".join(spec.headers)}
        )
    if missing:
        raise ImportRefusedError(
            _("Column headers missing from the first row: %(headers)s. Use the template and keep its first row.")
            % {"headers": "、".join(missing)}
        )
    return {header: found[header] for header in spec.headers}


def read_rows(kind: str, file_bytes: bytes) -> list[SheetRow]:
    """The non-empty data rows of a workbook of ``kind``; raises :class:`ImportRefusedError`.

    Refuses a file that is not an .xlsx, whose first row lacks a template header, with more
    than ``settings.REGISTRY_IMPORT_MAX_ROWS`` rows, or past the limits of
    :mod:`registry.excel.limits` (checked before the file is opened, and again here as the
    rows are read: blank rows count). Columns not in the template are ignored.
    """
    try:
        spec = spec_for(kind)
    except ValueError:
        raise ImportRefusedError(_("Unknown kind of import: %(kind)s.") % {"kind": kind})
    limits = ImportLimits.from_settings()
    max_rows = limits.data_rows
    workbook = _open(file_bytes)
    try:
        sheet = _data_sheet(workbook, spec)
        lines = sheet.iter_rows(values_only=True)
        positions = _header_positions(spec, next(lines, None))
        rows: list[SheetRow] = []
        for number, line in enumerate(lines, start=2):
            if number > limits.sheet_rows:
                raise too_many_rows(limits)
            if len(line) > limits.columns:
                raise too_many_columns(limits)
            cells = {header: line[index] if index < len(line) else None for header, index in positions.items()}
            if any(isinstance(value, str) and len(value) > limits.cell_chars for value in cells.values()):
                raise cell_too_long(limits, number)
            if all(is_blank(value) for value in cells.values()):
                continue
            if len(rows) == max_rows:
                raise ImportRefusedError(
                    _("The file has more than %(max)d rows: split it into several files.") % {"max": max_rows}
                )
            rows.append(SheetRow(number, cells))
        return rows
    except ImportRefusedError:
        raise
    except Exception:
        # A sheet is read lazily: a damaged file may only fail here.
        raise ImportRefusedError(not_xlsx_message())
    finally:
        workbook.close()


def masked_copy_message() -> str:
    return _(
        "This is a masked export (its ID numbers and phones read like 3701**********123X): it cannot be "
        "imported back. Import an export made by someone who sees the full numbers, or fill in the template."
    )


def refuse_masked_copy(spec: SheetSpec, rows: list[SheetRow]) -> None:
    """Refuse a masked export sent back: most of its ID and phone cells are masks (``*``).

    Each such row would otherwise be reported with its own "not a valid number" errors; the
    uploader needs one answer about the file.
    """
    headers = [column.header for column in spec.columns if column.pii]
    filled = masked = 0
    for row in rows:
        for header in headers:
            value = row.cells.get(header)
            if isinstance(value, str) and value.strip():
                filled += 1
                masked += "*" in value or "＊" in value
    if masked and masked * 2 > filled:
        raise ImportRefusedError(masked_copy_message())


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


def _parse(spec: SheetSpec, row: SheetRow, result: ImportResult) -> dict[str, Any] | None:
    """The row's model values, or ``None`` after reporting its unreadable cells."""
    values, bad = _parse_cells(spec, row, result)
    return None if bad else values


def _model_errors(spec: SheetSpec, values: dict[str, Any], skip: set[str]) -> ValidationError | None:
    """The model's own errors about the readable cells of a row that failed anyway.

    A row with unreadable cells never reaches ``save_row``; the model's ``full_clean()`` is run
    here with the readable values (the unreadable fields excluded), so the report names every
    problem of the row at once, not the next one after each fix.
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
    errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    for field_name, messages in errors.items():
        header = spec.key_header if field_name == NON_FIELD_ERRORS else spec.header_for_field(field_name)
        for message in messages:
            result.add_error(row, header, message)


def _report_model_errors(
    spec: SheetSpec, row: int, values: dict[str, Any], skip: set[str], result: ImportResult, since: int
) -> None:
    """Add the model's errors about the fields not in ``skip``, each not yet reported for the row."""
    exc = _model_errors(spec, values, skip)
    if exc is None:
        return
    found = ImportResult()
    _report_validation_error(spec, row, exc, found)
    known = {(error["column"], error["message"]) for error in result.errors[since:]}
    for error in found.errors:
        if (error["column"], error["message"]) not in known:
            known.add((error["column"], error["message"]))
            result.errors.append(error)


def _import_row(
    spec: SheetSpec, row: SheetRow, session: ImportSession, seen: dict[Any, int], result: ImportResult
) -> None:
    """Parse, check and save one row in its own savepoint, counting it or reporting its errors.

    A failed row is reported whole: its unreadable cells, then whatever the model finds wrong
    with the rest (each problem once).
    """
    errors_before = len(result.errors)
    values, bad = _parse_cells(spec, row, result)
    if bad:
        _report_model_errors(spec, row.number, values, bad, result, errors_before)
        return
    key: NaturalKey = natural_key(spec, values)
    if key.value in seen:
        result.add_error(
            row.number,
            key.header,
            _("Same record as row %(row)d of this file; fill it in once.") % {"row": seen[key.value]},
        )
        return
    session.discard()  # whatever a failed row before this one found was rolled back with it
    try:
        with transaction.atomic():
            outcome = save_row(spec, values, session)
    except ValidationError as exc:
        _report_validation_error(spec, row.number, exc, result)
        reported = {spec.header_for_field(name) for name in getattr(exc, "error_dict", {})}
        skip = {column.field for column in spec.columns if column.header in reported}
        _report_model_errors(spec, row.number, values, skip, result, errors_before)
        return
    except (IntegrityError, DataError):
        # Validation passed but the database refused (e.g. the same record saved meanwhile).
        logger.warning("Excel import row %s refused by the database", row.number, exc_info=True)
        result.add_error(row.number, spec.key_header, _("The database refused this row; please import it again."))
        return
    session.keep()
    seen[key.value] = row.number
    if outcome == Outcome.CREATED:
        result.created += 1
    elif outcome == Outcome.UPDATED:
        result.updated += 1
    else:
        result.unchanged += 1


def import_workbook(
    kind: str,
    file_bytes: bytes,
    compound: Compound,
    progress: Progress | None = None,
    *,
    acting_user: AnyUser | None = None,
) -> ImportResult:
    """Import a workbook of ``kind`` into ``compound``'s schema; raises :class:`ImportRefusedError`.

    ``acting_user`` is the uploader, whose rights the actions apply (only police roles may
    set or clear 重点人员); ``None`` is a system import. ``progress(processed, total)`` is
    called before the first row, every :data:`PROGRESS_EVERY` rows and after the last.
    Run it outside a long transaction of your own if others should see rows as they are saved.
    """
    rows = read_rows(kind, file_bytes)  # refuses an unknown kind too
    spec = spec_for(kind)
    refuse_masked_copy(spec, rows)
    result = ImportResult(total=len(rows))
    session = ImportSession(compound, acting_user)
    seen: dict[Any, int] = {}
    if progress:
        progress(0, result.total)
    with tenant_context(compound):
        for done, row in enumerate(rows, start=1):
            _import_row(spec, row, session, seen, result)
            if progress and (done % PROGRESS_EVERY == 0 or done == result.total):
                progress(done, result.total)
    return result


def _uploader(job: ImportJob) -> AnyUser | None:
    """The user who uploaded ``job``; an anonymous one (no rights) if that user is gone."""
    if job.created_by_id is None:
        return None
    return get_user_model().objects.filter(pk=job.created_by_id).first() or AnonymousUser()


def _keys_saved_before(spec: SheetSpec, rows: list[SheetRow], errors: list[dict[str, Any]]) -> dict[Any, int]:
    """The natural keys of the rows a previous run saved, as the ``seen`` map it had built.

    A row was saved if it has no error in the report: parsing it again (no database) gives its
    key, so a later row repeating it is still reported as a duplicate after a restart.
    """
    failed = {error["row"] for error in errors}
    seen: dict[Any, int] = {}
    for row in rows:
        if row.number in failed:
            continue
        values = _parse(spec, row, ImportResult())
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
    rows = read_rows(job.kind, _uploaded_file(job))  # refuses an unknown kind too
    spec = spec_for(job.kind)
    refuse_masked_copy(spec, rows)
    start = min(job.processed_rows, len(rows))
    # Counts and errors continue from the checkpoint (all zero on a first run).
    result = ImportResult(
        total=len(rows),
        created=job.created_count,
        updated=job.updated_count,
        unchanged=job.unchanged_count,
        errors=list(job.errors),
    )
    seen = _keys_saved_before(spec, rows[:start], result.errors)
    session = ImportSession(compound, _uploader(job))
    if job.total_rows != len(rows):
        job.total_rows = len(rows)
        job.save(update_fields=["total_rows"])
    for offset in range(start, len(rows), batch_rows):
        if should_stop and should_stop():
            raise ImportInterruptedError(f"import job {job.pk} stopped after {offset} of {len(rows)} rows")
        batch = rows[offset : offset + batch_rows]
        with transaction.atomic():
            for row in batch:
                _import_row(spec, row, session, seen, result)
            _checkpoint(job, offset + len(batch), result)


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
