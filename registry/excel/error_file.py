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
from registry.excel.importer import _data_sheet, _header_positions, _open

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
    """
    spec = spec_for(kind)
    by_row: dict[int, list[dict[str, Any]]] = {}
    for error in errors:
        by_row.setdefault(int(error["row"]), []).append(error)
    source = _open(file_bytes)
    out = Workbook()
    sheet = out.active
    assert sheet is not None
    try:
        data = _data_sheet(source, spec)
        sheet.title = data.title
        lines = data.iter_rows(values_only=True)
        first: tuple[Any, ...] | None = next(lines, None)
        # The reason column of an earlier error file, imported again, is replaced by a fresh one.
        keep = [
            i for i, cell in enumerate(first or ()) if not (isinstance(cell, str) and cell.strip() == REASON_HEADER)
        ]
        header = [(first or ())[i] for i in keep]
        positions = _header_positions(spec, tuple(header))
        reason_column = len(header) + 1
        sheet.append([*header, REASON_HEADER])
        sheet.cell(row=1, column=reason_column).font = Font(bold=True, color="FFC00000")
        for number, line in enumerate(lines, start=2):
            row_errors = by_row.get(number)
            if not row_errors:
                continue
            sheet.append([line[i] if i < len(line) else None for i in keep])
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
    finally:
        source.close()
    buffer = BytesIO()
    out.save(buffer)
    return buffer.getvalue()
