"""The error file of an import: the uploaded sheet's failed rows, bad cells filled, a reason column.

Staff fix the cells in this file and import it as it is: its header row is the uploaded one
(the importer ignores the extra 原因 column), and its rows keep their uploaded values.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import PurePath
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from registry.excel.columns import spec_for
from registry.excel.reader import DataSheet, header_positions

__all__ = ["REASON_HEADER", "error_filename", "error_workbook"]

REASON_HEADER = "原因"
BAD_CELL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")


def error_filename(filename: str) -> str:
    """``人口.xlsx`` → ``人口-错误.xlsx``."""
    return f"{PurePath(filename).stem or 'import'}-错误.xlsx"


def error_workbook(kind: str, file_bytes: bytes, errors: list[dict[str, Any]]) -> bytes:
    """The header and the failed rows of the uploaded workbook, bad cells highlighted, reasons appended.

    ``errors`` is the job's report (``{"row", "column", "message"}``); raises
    ``ImportRefusedError`` if the file no longer reads (it was read once, so only if damaged).
    The uploaded sheet is streamed: only its failed rows are kept.
    """
    spec = spec_for(kind)
    by_row: dict[int, list[dict[str, Any]]] = {}
    for error in errors:
        by_row.setdefault(int(error["row"]), []).append(error)
    with DataSheet(kind, file_bytes) as source:
        title, first = source.title, source.header
        failed = [(number, line) for number, line in source.lines() if number in by_row]
    # Every column the header or a failed row fills, as the sheet had them.
    width = 1 + max((index for line in [first, *(line for _n, line in failed)] for index in line), default=-1)
    # The reason column of an earlier error file, imported again, is replaced by a fresh one.
    keep = [i for i in range(width) if not (isinstance(first.get(i), str) and first[i].strip() == REASON_HEADER)]
    header = [first.get(i) for i in keep]
    positions = header_positions(spec, dict(enumerate(header)))
    out = Workbook()
    sheet = out.active
    assert sheet is not None
    sheet.title = title
    reason_column = len(header) + 1
    sheet.append([*header, REASON_HEADER])
    sheet.cell(row=1, column=reason_column).font = Font(bold=True, color="FFC00000")
    for number, line in failed:
        row_errors = by_row[number]
        sheet.append([line.get(i) for i in keep])
        at = sheet.max_row
        for error in row_errors:
            index = positions.get(error["column"])
            if index is not None:
                sheet.cell(row=at, column=index + 1).fill = BAD_CELL
        reason = sheet.cell(row=at, column=reason_column)
        reason.value = "；".join(f"{error['column']}：{error['message']}" for error in row_errors)
        reason.alignment = Alignment(wrap_text=True)
    for column in spec.columns:
        if column.is_text_cell and column.header in positions:
            letter = get_column_letter(positions[column.header] + 1)
            for cell in sheet[letter][1:]:
                cell.number_format = "@"
    sheet.column_dimensions[get_column_letter(reason_column)].width = 60
    buffer = BytesIO()
    out.save(buffer)
    return buffer.getvalue()
