"""Exporting registry rows as a filled-in template, so an export can be imported again as it is."""

from __future__ import annotations

from typing import Any

from django.db import models
from openpyxl.worksheet.worksheet import Worksheet

from registry.excel.cells import cell_value
from registry.excel.columns import ADDRESS_FIELDS, CellKind, SheetKind, SheetSpec, spec_for
from registry.excel.templates import DATE_FORMAT, TEXT_FORMAT, new_workbook, workbook_bytes
from registry.masking import visible_tags
from registry.models import Address

__all__ = ["export_filename", "export_workbook"]

# Persons are placed by their house's room: fetch the house with the person.
RELATED: dict[str, tuple[str, ...]] = {
    SheetKind.PERSONS: ("house",),
    SheetKind.HOUSES: (),
    SheetKind.ORGANISATIONS: (),
    "vehicles": ("owner",),
    "leases": ("house", "tenant"),
}


def _field_value(obj: Any, path: str) -> Any:
    """``obj``'s value of ``path``: an attribute, a relation's ("owner.name"; None if unset), or a method's result."""
    for name in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj() if callable(obj) else obj


class AddressPaths:
    """Building/unit/floor/room numbers of address nodes, from one query of the whole tree.

    A compound's tree has a few thousand nodes: loading it once beats a query per row.
    """

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[int | None, str]] | None = None

    def numbers(self, address_id: int | None) -> dict[str, str]:
        """The address columns' values for ``address_id`` (empty below its level)."""
        if self._nodes is None:
            self._nodes = {
                pk: (parent, number) for pk, parent, number in Address.objects.values_list("pk", "parent_id", "number")
            }
        path: list[str] = []
        while address_id is not None:
            address_id, number = self._nodes[address_id]
            path.insert(0, number)
        return dict(zip(ADDRESS_FIELDS, path + [""] * (len(ADDRESS_FIELDS) - len(path)), strict=True))


def _row_values(spec: SheetSpec, obj: models.Model, paths: AddressPaths) -> dict[str, Any]:
    """The model values of one record by column field, its address as building/unit/floor/room."""
    values = {
        column.field: _field_value(obj, column.field) for column in spec.columns if column.field not in ADDRESS_FIELDS
    }
    if not any(column.field in ADDRESS_FIELDS for column in spec.columns):
        return values
    # A person's or a lease's address is their house's room.
    holder: Any = obj.house if spec.kind in (SheetKind.PERSONS, "leases") else obj  # type: ignore[attr-defined]
    address_id = holder.address_id if holder is not None else None
    values.update(paths.numbers(address_id))
    return values


def _write_row(sheet: Worksheet, spec: SheetSpec, row: int, values: dict[str, Any], mask_pii: bool) -> None:
    for index, column in enumerate(spec.columns, start=1):
        value: Any = cell_value(column, values.get(column.field), mask_pii=mask_pii)  # a value openpyxl writes
        cell = sheet.cell(row=row, column=index, value=value)
        if column.is_text_cell:
            cell.number_format = TEXT_FORMAT
        elif column.kind == CellKind.DATE:
            cell.number_format = DATE_FORMAT
        if isinstance(value, str) and value.startswith("="):
            # Text that looks like a formula stays text: never run a formula a resident typed.
            cell.data_type = "s"


def export_workbook(
    kind: str,
    queryset: models.QuerySet,
    *,
    mask_pii: bool = False,
    police_tags: bool = False,
    exported_ids: list[int] | None = None,
) -> bytes:
    """The rows of ``queryset`` as an .xlsx in the template's layout.

    Run it inside the compound's ``tenant_context``. ``mask_pii`` masks ID numbers and
    phones (``registry.masking``); a masked export is for reading only: its masked values
    fail validation if someone imports it, so it can never overwrite real ones.
    ``exported_ids`` receives the id of every row written, read in the same pass, so the
    audit log names exactly the records in the file. Police-only tags (重点人员) are left out
    unless ``police_tags`` (the user holds ``registry.key_person`` here, issue #7).
    """
    spec = spec_for(kind)
    if queryset.model is not spec.model:
        raise ValueError(f"a {kind} export needs a {spec.model.__name__} queryset, not {queryset.model.__name__}")
    workbook, sheet = new_workbook(kind)
    paths = AddressPaths()
    rows = queryset.select_related(*RELATED[spec.kind]) if RELATED[spec.kind] else queryset
    for row, obj in enumerate(rows.iterator(chunk_size=1000), start=2):
        values = _row_values(spec, obj, paths)
        if "tags" in values:
            values["tags"] = visible_tags(values["tags"], police=police_tags)
        _write_row(sheet, spec, row, values, mask_pii)
        if exported_ids is not None:
            exported_ids.append(obj.pk)
    return workbook_bytes(workbook)


def export_filename(kind: str, today: str) -> str:
    """The download name of an export, e.g. "实有人口-2026-03-01.xlsx" for ``today="2026-03-01"``."""
    return f"{spec_for(kind).title}-{today}.xlsx"
