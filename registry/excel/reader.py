"""The data sheet of an uploaded workbook, read row by row as it streams out of the zip.

openpyxl is not used to read imports: it parses with defusedxml's pure-Python parser, builds
an object per cell, and walks a sheet without a ``<dimension>`` whole before the first row
(issue #8: 100,000 rows took it 25 s, a third of an import's time). Here the sheet part is
streamed through expat (C, no tree) and each row handed on as a ``{column index: value}``
dict, so memory holds one chunk's rows, whatever the sheet's length; 100,000 rows take 4 s.

Only what an import needs is read, in the file's own parts: the workbook's sheet list and its
relationships (to find the data sheet), ``workbookPr date1904``, the shared strings, and the
number formats of the cell styles (a number in a date format is a date). Values are those
openpyxl's read-only mode gives with ``data_only=True``: text (shared, inline or a formula's
result) as ``str``, numbers as ``int`` or ``float``, numbers in a date format as ``datetime``,
booleans as ``bool``, error cells as their text (``#N/A``).

:class:`DataSheet` runs both checks of :mod:`registry.excel.limits` before it reads a byte of
XML, and applies the row, column and cell-length limits again as the rows go by.
"""

from __future__ import annotations

import posixpath
import zipfile
from array import array
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.utils.translation import gettext as _
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, WINDOWS_EPOCH, from_excel, from_ISO8601
from openpyxl.xml.constants import SHARED_STRINGS as SHARED_STRINGS_TYPE

from registry.excel.columns import HEADER_ALIASES, SheetSpec, spec_for
from registry.excel.errors import ImportRefusedError
from registry.excel.limits import (
    CHUNK_BYTES,
    CONTENT_TYPES,
    WORKBOOK,
    WORKSHEET,
    ImportLimits,
    cell_too_long,
    check_workbook_contents,
    check_workbook_file,
    not_xlsx_message,
    open_zip,
    too_many_columns,
    too_many_rows,
    xml_parser,
)
from registry.excel.templates import INSTRUCTIONS_TITLE

__all__ = ["DataSheet", "Line", "SheetRow", "header_positions"]

WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
STYLES = "xl/styles.xml"  # where openpyxl, and every producer, keeps them
DIGITS = "0123456789"
# A cell's value, and a sheet's row: {0-based column index: value}, empty cells left out.
Line = dict[int, Any]


@dataclass(frozen=True)
class SheetRow:
    """One non-empty data row: its Excel row number and its raw cells by header."""

    number: int
    cells: dict[str, Any]


def header_positions(spec: SheetSpec, header_row: Line | None) -> dict[str, int]:
    """Each expected header's column index; refuses the file if any is missing."""
    found: dict[str, int] = {}
    for index in sorted(header_row or {}):
        cell = (header_row or {})[index]
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


class SharedStrings:
    """The workbook's shared strings, packed: their UTF-8 bytes end to end and where each ends.

    A Python ``str`` per string costs 50-80 bytes besides its text; packed, the strings take
    about what their part's text does (bounded by ``limits.MAX_SHARED_STRINGS_BYTES``).
    """

    def __init__(self) -> None:
        self._text = bytearray()
        self._ends = array("I")

    def append(self, text: str) -> None:
        self._text += text.encode()
        self._ends.append(len(self._text))

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise IndexError(index)  # a cell's index is never negative: the file is damaged
        start = self._ends[index - 1] if index > 0 else 0
        return self._text[start : self._ends[index]].decode()


def _local(name: str) -> str:
    """An element's name without its namespace prefix (``x:row`` → ``row``)."""
    return name.rpartition(":")[2] if ":" in name else name


def _attributes(attributes: list[str]) -> dict[str, str]:
    return dict(zip(attributes[::2], attributes[1::2], strict=True))


def _parse_part(
    archive: zipfile.ZipFile,
    name: str,
    start: Callable[[str, list[str]], None],
    end: Callable[[str], None] | None = None,
    text: Callable[[str], None] | None = None,
) -> None:
    """Run the handlers over one part (already within its size cap); refuse XML that does not parse."""
    parser = xml_parser()
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if text is not None:
        parser.CharacterDataHandler = text
    try:
        with archive.open(name) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except Exception:
        # expat, zip and value errors all mean the same to the uploader.
        raise ImportRefusedError(not_xlsx_message())


def _read_shared_strings(archive: zipfile.ZipFile) -> SharedStrings:
    """The shared strings, as openpyxl reads them: the text of ``<t>`` and rich-text runs, no phonetics."""
    strings = SharedStrings()
    if not _declares_shared_strings(archive):
        return strings  # openpyxl finds them through [Content_Types].xml, or not at all
    parts: list[str] = []
    state = {"in_si": False, "phonetic": 0, "collect": False}

    def start(name: str, attributes: list[str]) -> None:
        local = _local(name)
        if local == "si":
            state["in_si"] = True
            parts.clear()
        elif local == "rPh":
            state["phonetic"] += 1
        elif local == "t" and state["in_si"] and not state["phonetic"]:
            state["collect"] = True

    def end(name: str) -> None:
        local = _local(name)
        if local == "t":
            state["collect"] = False
        elif local == "rPh":
            state["phonetic"] -= 1
        elif local == "si":
            state["in_si"] = False
            # openpyxl's own reading of Excel's escaped underscore (_x005F_), kept for the same values.
            strings.append("".join(parts).replace("x005F_", ""))

    def text(data: str) -> None:
        if state["collect"]:
            parts.append(data)

    _parse_part(archive, "xl/sharedStrings.xml", start, end, text)
    return strings


def _declares_shared_strings(archive: zipfile.ZipFile) -> bool:
    declared = False

    def start(name: str, attributes: list[str]) -> None:
        nonlocal declared
        if _local(name) == "Override" and _attributes(attributes).get("ContentType") == SHARED_STRINGS_TYPE:
            declared = True  # limits.check_workbook_file made sure it names xl/sharedStrings.xml

    _parse_part(archive, CONTENT_TYPES, start)
    return declared


def _read_date_styles(archive: zipfile.ZipFile) -> tuple[frozenset[int], frozenset[int]]:
    """The cell styles (``s``) whose number format is a date, and those that are a duration."""
    if STYLES not in archive.namelist():
        return frozenset(), frozenset()
    custom: dict[int, str] = {}
    formats: list[int] = []
    depth = {"cellXfs": 0}

    def start(name: str, attributes: list[str]) -> None:
        local = _local(name)
        if local == "numFmt":
            found = _attributes(attributes)
            custom[int(found.get("numFmtId", 0))] = found.get("formatCode", "")
        elif local == "cellXfs":
            depth["cellXfs"] += 1
        elif local == "xf" and depth["cellXfs"]:
            formats.append(int(_attributes(attributes).get("numFmtId", 0)))

    def end(name: str) -> None:
        if _local(name) == "cellXfs":
            depth["cellXfs"] -= 1

    _parse_part(archive, STYLES, start, end)
    dates, durations = set(), set()
    for index, format_id in enumerate(formats):
        code = custom.get(format_id) or BUILTIN_FORMATS.get(format_id) or ""
        if is_date_format(code):
            dates.add(index)
        if is_timedelta_format(code):
            durations.add(index)
    return frozenset(dates), frozenset(durations)


@dataclass(frozen=True)
class _SheetEntry:
    name: str
    part: str  # the zip member, e.g. xl/worksheets/sheet1.xml ("" for a target that is no worksheet)


def _read_workbook(archive: zipfile.ZipFile) -> tuple[list[_SheetEntry], datetime]:
    """The sheets in workbook order with their parts, and the workbook's date epoch."""
    targets: dict[str, str] = {}

    def relationship(name: str, attributes: list[str]) -> None:
        if _local(name) == "Relationship":
            found = _attributes(attributes)
            target = found.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            targets[found.get("Id", "")] = path

    if WORKBOOK_RELS in archive.namelist():
        _parse_part(archive, WORKBOOK_RELS, relationship)
    sheets: list[tuple[str, str]] = []
    epoch = {"value": WINDOWS_EPOCH}

    def start(name: str, attributes: list[str]) -> None:
        local = _local(name)
        if local == "sheet":
            found = _attributes(attributes)
            # The relationship id is r:id, whatever the prefix of the relationships namespace.
            rel = next((value for key, value in found.items() if key.rpartition(":")[2] == "id" and ":" in key), "")
            sheets.append((found.get("name", ""), rel))
        elif local == "workbookPr" and _attributes(attributes).get("date1904", "").lower() in ("1", "true"):
            epoch["value"] = CALENDAR_MAC_1904

    _parse_part(archive, WORKBOOK, start)
    entries = []
    for name, rel in sheets:
        part = targets.get(rel, "")
        entries.append(_SheetEntry(name, part if WORKSHEET.fullmatch(part) else ""))
    return entries, epoch["value"]


def _number(text: str) -> int | float:
    return float(text) if "." in text or "E" in text or "e" in text else int(text)


class _RowScan:
    """expat handlers that turn a worksheet's XML into ``(row number, Line)`` pairs."""

    def __init__(self, sheet: DataSheet) -> None:
        self.sheet = sheet
        self.limits = sheet.limits
        self.done: list[tuple[int, Line]] = []
        self.row_number = 0
        self.line: Line = {}
        self.column = 0
        self.kind = "n"
        self.style = 0
        self.value: str | None = None
        self.inline: list[str] | None = None  # the runs of an inline string, inside <is>
        self.phonetic = 0
        self.parts: list[str] = []
        self.collect = False
        self.columns: dict[str, int] = {}  # "AB" → 27: a sheet has few distinct column letters

    def start(self, name: str, attributes: dict[str, str]) -> None:
        # Called for every element of the sheet (millions in a large one): kept lean.
        local = name if ":" not in name else name.rpartition(":")[2]
        if local == "c":
            self.kind = attributes.get("t", "n")
            style = attributes.get("s")
            self.style = int(style) if style else 0
            self.value, self.inline = None, None
            reference = attributes.get("r")
            if reference:
                letters = reference.rstrip(DIGITS).replace("$", "").upper()
                column = self.columns.get(letters)
                if column is None:
                    if not (0 < len(letters) <= 3 and letters.isascii() and letters.isalpha()):
                        raise ValueError(f"not a cell reference: {reference!r}")  # refused as not an xlsx
                    column = 0
                    for letter in letters:
                        column = column * 26 + ord(letter) - 64
                    self.columns[letters] = column
                self.column = column
            else:
                self.column += 1
            if self.column > self.limits.columns:
                raise too_many_columns(self.limits)
        elif local == "v" or (local == "t" and self.inline is not None and not self.phonetic):
            self.collect = True
            self.parts = []
        elif local == "is":
            self.inline = []
        elif local == "rPh":
            self.phonetic += 1
        elif local == "row":
            number = attributes.get("r")
            self.row_number = _row_number(number) if number else self.row_number + 1
            if self.row_number > self.limits.sheet_rows:
                raise too_many_rows(self.limits)
            self.line = {}
            self.column = 0

    def end(self, name: str) -> None:
        local = name if ":" not in name else name.rpartition(":")[2]
        if local == "c":
            value = self.cell_value()
            if value is not None:
                self.line[self.column - 1] = value
        elif local == "v":
            if self.collect and self.inline is None:
                self.value = "".join(self.parts)
            self.collect = False
        elif local == "t":
            if self.collect and self.inline is not None:
                self.inline.append("".join(self.parts))
            self.collect = False
        elif local == "rPh":
            self.phonetic -= 1
        elif local == "row":
            self.done.append((self.row_number, self.line))

    def text(self, data: str) -> None:
        if self.collect:
            self.parts.append(data)

    def cell_value(self) -> Any:
        """The cell's value as openpyxl gives it with ``data_only=True`` (``None`` for an empty one)."""
        kind = self.kind
        if kind == "inlineStr":
            return None if self.inline is None else "".join(self.inline)
        value = self.value or None
        if value is None:
            return None
        if kind == "n":
            number = _number(value)
            if self.style in self.sheet.date_styles:
                try:
                    return from_excel(number, self.sheet.epoch, timedelta=self.style in self.sheet.duration_styles)
                except (OverflowError, ValueError):
                    return "#VALUE!"  # openpyxl's reading of a date out of range
            return number
        if kind == "s":
            return self.sheet.shared_strings[int(value)]
        if kind == "b":
            return bool(int(value))
        if kind == "d":
            return from_ISO8601(value)
        return value  # "str" (a formula's text), "e" (an error such as #N/A)


def _row_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


class DataSheet:
    """The data sheet of a workbook of one kind, checked, with its header row read.

    Construction refuses, with :class:`ImportRefusedError`, a file past the limits (both checks
    of :mod:`registry.excel.limits`), one without a data sheet, and one whose first row lacks a
    header of the template. :meth:`lines` and :meth:`rows` stream the rows below the header
    again each time they are called.
    """

    def __init__(self, kind: str, data: bytes) -> None:
        try:
            self.spec = spec_for(kind)
        except ValueError:
            raise ImportRefusedError(_("Unknown kind of import: %(kind)s.") % {"kind": kind})
        self.limits = ImportLimits.from_settings()
        check_workbook_file(data)
        check_workbook_contents(data)
        self._archive = open_zip(data)
        try:
            sheets, self.epoch = _read_workbook(self._archive)
            self.title, self._part = self._choose(sheets)
            self.shared_strings = _read_shared_strings(self._archive)
            self.date_styles, self.duration_styles = _read_date_styles(self._archive)
            lines = self._scan()
            first = next(lines, None)
            self.header: Line = first[1] if first is not None and first[0] == 1 else {}
            lines.close()
            self.positions = header_positions(self.spec, self.header)
        except BaseException:
            self.close()
            raise

    def _choose(self, sheets: list[_SheetEntry]) -> tuple[str, str]:
        """The sheet named like the template's, else the first one that is not the 说明 sheet."""
        chosen = next((sheet for sheet in sheets if sheet.name == self.spec.title), None)
        chosen = chosen or next((sheet for sheet in sheets if sheet.name != INSTRUCTIONS_TITLE), None)
        if chosen is None:
            raise ImportRefusedError(_("The workbook has no data sheet."))
        if not chosen.part or chosen.part not in self._archive.namelist():
            raise ImportRefusedError(not_xlsx_message())  # a chart sheet, or a sheet whose part is missing
        return chosen.name, chosen.part

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> DataSheet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scan(self) -> Generator[tuple[int, Line], None, None]:
        """Every row of the sheet, header included, as ``(row number, Line)``; empty rows may be absent."""
        scan = _RowScan(self)
        parser = xml_parser()
        parser.ordered_attributes = False  # a dict, built by expat: the cells' r, t and s at C speed
        parser.StartElementHandler = scan.start
        parser.EndElementHandler = scan.end
        parser.CharacterDataHandler = scan.text
        try:
            with self._archive.open(self._part) as stream:
                yield from self._feed(parser, stream, scan)
        except ImportRefusedError:
            raise
        except GeneratorExit:
            raise
        except Exception:
            # A damaged part, a cell that is not what its type says, a shared string that does not exist.
            raise ImportRefusedError(not_xlsx_message())

    @staticmethod
    def _feed(parser: Any, stream: IO[bytes], scan: _RowScan) -> Iterator[tuple[int, Line]]:
        while chunk := stream.read(CHUNK_BYTES):
            parser.Parse(chunk, False)
            if scan.done:
                yield from scan.done
                scan.done = []
        parser.Parse(b"", True)
        yield from scan.done

    def lines(self) -> Iterator[tuple[int, Line]]:
        """The rows below the header as ``(row number, Line)``, blank ones included if the file has them."""
        for number, line in self._scan():
            if number > 1:
                yield number, line

    def rows(self) -> Iterator[SheetRow]:
        """The non-empty data rows, their cells by header; refuses a sheet of more rows than allowed.

        Columns not in the template are ignored. Cells longer than the limit are refused as
        they are read (a shared string is only an index in the sheet, so only here is its
        length known). Blank rows are skipped, but count towards the sheet's limit.
        """
        positions = list(self.positions.items())
        max_rows, cell_chars = self.limits.data_rows, self.limits.cell_chars
        count = 0
        for number, line in self.lines():
            if not line:
                continue  # no cell at all (the common blank row)
            cells: dict[str, Any] = {}
            blank = True
            for header, index in positions:
                cells[header] = value = line.get(index)
                if isinstance(value, str):
                    if len(value) > cell_chars:
                        raise cell_too_long(self.limits, number)
                    blank = blank and (not value or value.isspace())
                elif value is not None:
                    blank = False
            if blank:
                continue
            if count == max_rows:
                raise ImportRefusedError(
                    _("The file has more than %(max)d rows: split it into several files.") % {"max": max_rows}
                )
            count += 1
            yield SheetRow(number, cells)
