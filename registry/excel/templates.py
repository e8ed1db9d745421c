"""The downloadable template workbooks: headers, drop-downs, text-formatted columns, a 说明 sheet.

Exports start from the same workbook (:func:`new_workbook`), so an export is a filled-in
template that can be imported again as it is.
"""

from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from registry.excel.columns import CellKind, Column, SheetSpec, spec_for

__all__ = ["INSTRUCTIONS_TITLE", "new_workbook", "template_filename", "template_workbook", "workbook_bytes"]

INSTRUCTIONS_TITLE = "说明"
LAST_ROW = 1048576  # Excel's last row: drop-downs and text format reach every row a user may fill
TEXT_FORMAT = "@"
DATE_FORMAT = "yyyy-mm-dd"
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
GENERAL_NOTES = (
    "第一行为表头，请勿修改、删除或调换表头文字；数据从第二行开始，每行一条。",
    "红色表头（下表中标 * 者）为必填列；完全空白的行会被跳过。",
    "选项列请用下拉选择，也可直接填写选项的中文名称。",
    "重复导入同一文件不会产生重复数据：已有记录按识别列更新，内容相同的记录保持不变。",
    "更新已有记录时，以文件内容为准：留空的单元格会清空该项。",
    "证件号码、电话、楼栋房号等列已设为文本格式，请勿改为数字格式，以免丢失位数或前导零。",
)


def template_filename(kind: str) -> str:
    """The download name of the template of ``kind``, e.g. "实有人口导入模板.xlsx"."""
    return f"{spec_for(kind).title}导入模板.xlsx"


def _choice_validation(column: Column, letter: str) -> DataValidation:
    assert column.choices is not None
    # An inline list: Excel allows 255 characters, the longest table (证件类型) uses about 50.
    formula = '"' + ",".join(column.choices.labels) + '"'
    validation = DataValidation(
        type="list",
        formula1=formula,
        allow_blank=True,
        showErrorMessage=True,
        errorTitle=column.header,
        error="请从下拉列表中选择。",
    )
    validation.add(f"{letter}2:{letter}{LAST_ROW}")
    return validation


def _write_data_sheet(sheet: Worksheet, spec: SheetSpec) -> None:
    sheet.title = spec.title
    sheet.append(spec.headers)
    for index, column in enumerate(spec.columns, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=1, column=index)
        header.font = Font(bold=True, color="C00000" if column.required else "000000")
        header.fill = HEADER_FILL
        header.alignment = Alignment(horizontal="center")
        dimension = sheet.column_dimensions[letter]
        dimension.width = column.width
        if column.is_text_cell:
            dimension.number_format = TEXT_FORMAT
        elif column.kind == CellKind.DATE:
            dimension.number_format = DATE_FORMAT
        if column.kind == CellKind.CHOICE:
            sheet.add_data_validation(_choice_validation(column, letter))
    sheet.freeze_panes = "A2"


def _choices_text(column: Column) -> str:
    if column.choices is None:
        return ""
    separator = "、" if column.kind == CellKind.TAGS else " / "
    return separator.join(column.choices.labels)


def _write_instructions(sheet: Worksheet, spec: SheetSpec) -> None:
    sheet.title = INSTRUCTIONS_TITLE
    sheet.append([f"{spec.title}导入说明"])
    sheet["A1"].font = Font(bold=True, size=14)
    for note in GENERAL_NOTES:
        sheet.append([f"· {note}"])
    sheet.append([])
    sheet.append(["列名", "必填", "说明", "可选值"])
    heading_row = sheet.max_row
    for cell in sheet[heading_row]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for column in spec.columns:
        help_text = column.help or ("必填。" if column.required else "选填。")
        sheet.append([column.header, "*" if column.required else "", help_text, _choices_text(column)])
    for letter, width in zip("ABCD", (16, 6, 70, 60), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=heading_row + 1):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def new_workbook(kind: str) -> tuple[Workbook, Worksheet]:
    """A workbook with the data sheet of ``kind`` (headers only) first, then its 说明 sheet."""
    spec = spec_for(kind)
    workbook = Workbook()
    data = workbook.active
    assert data is not None
    _write_data_sheet(data, spec)
    _write_instructions(workbook.create_sheet(), spec)
    workbook.active = 0
    return workbook, data


def workbook_bytes(workbook: Workbook) -> bytes:
    """The .xlsx file of ``workbook``."""
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def template_workbook(kind: str) -> bytes:
    """The empty template of ``kind`` ("persons", "houses", "organisations") as .xlsx bytes."""
    workbook, _data = new_workbook(kind)
    return workbook_bytes(workbook)
