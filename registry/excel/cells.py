"""Reading one cell into a model value, and writing a model value back into a cell.

Reading normalises exactly as the models' ``clean()`` do (ID numbers and credit codes upper
case without blanks, phones without ``+86``), so a re-imported row compares equal to the
stored one and counts as unchanged instead of being saved again.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils.datetime import from_excel

from registry.excel.columns import CellKind, Column
from registry.masking import mask_id_number, mask_phone
from registry.validators import check_phone, normalise, normalised_or_raw

__all__ = ["CellError", "cell_value", "is_blank", "parse_cell"]

ADDRESS_MAX_LENGTH = 16  # Address.number
# Words people add after the number ("3号楼", "2单元"); the address tree stores the bare number.
ADDRESS_SUFFIXES = {
    "building": ("号楼", "栋", "幢", "楼"),
    "unit": ("单元",),
    "floor": ("层", "楼"),
    "room": ("室", "号"),
}
TAG_SEPARATORS = re.compile(r"[、,，;；\s]+")
DATE_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
AREA_UNITS = re.compile(r"\s*(平方米|平米|㎡|m²|m2)$", re.IGNORECASE)
# Excel's serial dates run from 1900-01-01 (1) to 9999-12-31 (2958465).
EXCEL_SERIALS = range(1, 2958466)


class CellError(ValueError):
    """A cell that cannot be read; ``message`` is in the active language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_blank(raw: object) -> bool:
    """An empty cell, or one holding only blanks."""
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _text(raw: object) -> str:
    """A cell as text: numbers typed into a General cell come back without a trailing ".0"."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime.datetime):
        return raw.date().isoformat() if raw.time() == datetime.time() else raw.isoformat(sep=" ")
    return str(raw).strip()


def _choice(column: Column, raw: object) -> str:
    text = _text(raw)
    if not text:
        return str(column.default)
    assert column.choices is not None
    value = column.choices.parse(text)
    if value is None:
        raise CellError(
            _("“%(value)s” is not an accepted value; use one of: %(choices)s.")
            % {"value": text, "choices": "、".join(column.choices.labels)}
        )
    return value


def _tags(column: Column, raw: object) -> list[str]:
    assert column.choices is not None
    values, unknown = set(), []
    for word in TAG_SEPARATORS.split(_text(raw)):
        if word:
            value = column.choices.parse(word)
            if value is None:
                unknown.append(word)
            else:
                values.add(value)
    if unknown:
        raise CellError(
            _("Unknown tags: %(tags)s; use any of: %(choices)s.")
            % {"tags": "、".join(unknown), "choices": "、".join(column.choices.labels)}
        )
    return sorted(values)  # Person.clean() keeps tags sorted and unique


def _date(raw: object) -> datetime.date | None:
    if is_blank(raw):
        return None
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool) and int(raw) in EXCEL_SERIALS:
        # A date typed into a cell formatted as a number arrives as its serial number.
        return from_excel(raw).date()
    match = DATE_TEXT.fullmatch(unicodedata.normalize("NFKC", str(raw)).strip())
    if match:
        try:
            return datetime.date(*(int(part) for part in match.groups()))
        except ValueError:
            pass
    raise CellError(_("Not a date: use an Excel date or text like 2024-03-01 (YYYY-MM-DD)."))


def _integer(column: Column, raw: object) -> int:
    if is_blank(raw):
        return int(column.default)  # type: ignore[call-overload]
    if isinstance(raw, int | float) and not isinstance(raw, bool) and float(raw).is_integer():
        return int(raw)
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    raise CellError(_("Not a whole number."))


def _decimal(raw: object) -> Decimal | None:
    if is_blank(raw):
        return None
    if isinstance(raw, bool):
        raise CellError(_("Not a number."))
    # str() of a float is its shortest round-trip form: 85.3 stays 85.3, not 85.299999….
    text = AREA_UNITS.sub("", unicodedata.normalize("NFKC", str(raw)).strip())
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CellError(_("Not a number."))
    if not value.is_finite():
        raise CellError(_("Not a number."))
    return value


def _address(column: Column, raw: object) -> str:
    text = unicodedata.normalize("NFKC", _text(raw)).strip()
    for suffix in ADDRESS_SUFFIXES[column.field]:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text.removesuffix(suffix).strip()
            break
    if len(text) > ADDRESS_MAX_LENGTH:
        raise CellError(_("At most %(max)d characters.") % {"max": ADDRESS_MAX_LENGTH})
    return text


def parse_cell(column: Column, raw: object) -> object:
    """The model value of a cell of ``column``; raises :class:`CellError` when it cannot be read.

    Values the models validate themselves (ID checksums, phone formats, lengths) are only
    normalised here: the actions' ``full_clean()`` reports them, so the import refuses
    exactly what the forms refuse.
    """
    match column.kind:
        case CellKind.TEXT:
            return _text(raw)
        case CellKind.IDENTIFIER:
            return normalise(_text(raw))
        case CellKind.PHONE:
            text = _text(raw)
            return normalised_or_raw(check_phone, text) if text else ""
        case CellKind.CHOICE:
            return _choice(column, raw)
        case CellKind.TAGS:
            return _tags(column, raw)
        case CellKind.DATE:
            return _date(raw)
        case CellKind.INTEGER:
            return _integer(column, raw)
        case CellKind.DECIMAL:
            return _decimal(raw)
        case CellKind.ADDRESS:
            return _address(column, raw)
    raise AssertionError(f"unhandled cell kind {column.kind}")


def cell_value(column: Column, value: object, *, mask_pii: bool = False) -> object:
    """What to write into a cell of ``column`` for the model value ``value`` (export)."""
    if value is None or value == "":
        return None
    if column.kind == CellKind.CHOICE:
        assert column.choices is not None
        return column.choices.label(str(value))
    if column.kind == CellKind.TAGS:
        assert column.choices is not None
        return "、".join(column.choices.label(tag) for tag in value) or None  # type: ignore[attr-defined]
    if mask_pii and column.pii == "id":
        return mask_id_number(str(value))
    if mask_pii and column.pii == "phone":
        return mask_phone(str(value))
    if isinstance(value, str):
        # openpyxl refuses control characters that may sit in free-text notes.
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value
