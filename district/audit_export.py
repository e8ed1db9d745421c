"""The audit log as a file (CSV or Excel), in words, for the city bureau.

The files hold the same columns as the page (``district.audit_display``), plus the raw ids a
later inquiry needs to find the rows and records again. They are built from a bounded list
of rows (``MAX_EXPORT_ROWS``); a cut file says so in its last line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from district.audit_display import AuditRow

__all__ = ["EXPORT_FORMATS", "MAX_EXPORT_ROWS", "audit_csv", "audit_xlsx"]

# An export past this many rows is cut (newest rows kept): the file is built in memory inside
# the request, and an inquiry that needs more narrows the filters (dates, compound) instead.
MAX_EXPORT_ROWS = 50_000

# Cells a spreadsheet would read as a formula (OWASP "CSV injection"): usernames and reasons
# are typed by users, and a file opened by an investigator must never run what they typed.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _headers() -> list[str]:
    return [
        _("time"),
        _("user"),
        _("action"),
        _("compound"),
        _("record type"),
        _("record"),
        _("changed fields"),
        _("details"),
        _("reason"),
        _("IP address"),
        _("summary"),
        _("audit entry id"),
        _("record ids"),
    ]


def _cells(row: AuditRow) -> list[str | int]:
    entry = row.entry
    return [
        row.at,
        row.who,
        row.action,
        row.compound,
        row.record_type,
        row.record,
        row.fields,
        row.details,
        entry.reason,
        entry.ip or "",
        row.summary,
        entry.pk,
        " ".join(str(pk) for pk in entry.object_ids),
    ]


def truncation_note(limit: int) -> str:
    return _("Only the newest %(limit)s rows are in this file: narrow the filters to export the rest.") % {
        "limit": limit
    }


def _safe_text(value: str | int) -> str | int:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def audit_csv(rows: Iterable[AuditRow], *, truncated_at: int | None = None) -> bytes:
    """The rows as UTF-8 CSV with a byte-order mark (without it, Excel reads Chinese as GBK)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_headers())
    for row in rows:
        writer.writerow([_safe_text(v) for v in _cells(row)])
    if truncated_at is not None:
        writer.writerow([truncation_note(truncated_at)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def audit_xlsx(rows: Iterable[AuditRow], *, truncated_at: int | None = None) -> bytes:
    """The rows as one worksheet (write-only mode: 50,000 rows stay fast and small in memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Audit log")[:31])  # Excel's limit on sheet names
    for letter, width in zip("ABCDEFGHIJKLM", (20, 14, 18, 24, 12, 18, 28, 40, 24, 15, 60, 10, 20), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_headers())
    for row in rows:
        sheet.append([_xlsx_value(sheet, value) for value in _cells(row)])
    if truncated_at is not None:
        sheet.append([truncation_note(truncated_at)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_value(sheet: WriteOnlyWorksheet, value: str | int) -> Cell | str | int | None:
    """A plain value (fast), None for an empty cell, or a text cell for what looks like a formula."""
    if value == "":
        return None
    if isinstance(value, str) and value.startswith("="):
        # openpyxl stores text beginning with "=" as a formula; keep what users typed text.
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    return value


EXPORT_FORMATS: dict[str, tuple[Callable[..., bytes], str]] = {
    "csv": (audit_csv, "text/csv; charset=utf-8"),
    "xlsx": (audit_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
