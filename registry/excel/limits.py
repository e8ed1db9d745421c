"""Limits on an uploaded workbook, so that no file costs the server more than a real one would.

An .xlsx is a zip of XML parts, and a few megabytes of zip can hold an absurd workbook: 3 MB
held a sheet of 21 million blank rows (the server busy 369 s, +1.8 GB), 1.1 MB held shared
strings of 418 MB (issue #7). A reader is no defence of its own: the import's reader
(``registry.excel.reader``) streams a sheet, but keeps the shared strings whole and reads
every row a sheet holds, blank or not; openpyxl (the error file's writer, the exports) loads
the shared strings, the styles and the workbook part whole, and walks every sheet that does
not state its size (``<dimension>``) to its end. So a file is checked in two steps before
any of them reads it:

:func:`check_workbook_file`, at upload (``registry.forms.ImportForm``) and again in the job
    Cheap: it reads the zip's central directory, the part list and the first bytes of each
    worksheet, nothing else. The upload's size; a zip with an xlsx's parts; the size every
    part declares unpacked, alone, in total and against its packed size (zipfile never
    unpacks a part past its declared size: a part that lies fails its CRC check); the rows
    and columns a sheet's ``<dimension>`` states.
:func:`check_workbook_contents`, in the job, before the reader opens the file
    Streams every part through expat (no tree: constant memory) and stops at the first
    limit passed: rows (blank rows and skipped row numbers included), cells and columns per
    row, characters per cell, elements per row or per shared string, markup outside a
    sheet's cells, and no token (tag, comment) longer than a megabyte. The rules follow the
    element names (``row``, ``c``, ``si``), as openpyxl's parsers do, so a part does not escape
    them by sitting under another name.

The reader still counts rows (blank ones included), columns and cell lengths as it reads
(``registry.excel.reader.DataSheet.rows``), so the limits hold even for a file that skipped this.

The limits, and why they are what they are (settings ``REGISTRY_IMPORT_*``, the rest here),
measured on a street office's roster of 100,000 persons (issue #8, ``bench/import.py``):

- 10 MB upload: the roster weighs 6.5 MB as openpyxl (and our exports) write it, 6.0 MB as
  Excel saves it; with every column filled (a phone, tags and a note on every row), 8.1 MB.
- 250 MB unpacked in total, 200 MB per worksheet: the roster's sheet unpacks to 63 MB with
  inline strings, 37 MB with shared ones (92 MB and 46 MB filled); a sheet is streamed, so
  its size costs time (a few seconds per 100,000 rows and pass), not memory.
- 40 MB and 1,000,000 shared strings: the reader keeps them all, packed (about their text's
  size); the roster has 265,000 (7.3 MB), every distinct name, ID number and phone once.
  The costliest file within both caps adds about 35 MB to the worker
  (tests/registry/test_import_bombs.py measures it).
- 2 MB for every other part (styles, workbook, relationships, ...): they are parsed whole;
  real ones weigh kilobytes.
- Packed at most 100:1 (parts over 1 MB): real sheets pack 5-20:1; the shared-strings bomb
  was 380:1; below 1 MB the ratio cannot hurt.
- 100,000 data rows (``REGISTRY_IMPORT_MAX_ROWS``) and 1,000 blank rows
  (``REGISTRY_IMPORT_MAX_BLANK_ROWS``): every row a sheet holds is read, blank or not, so a
  sheet may hold its header, 100,000 rows of data and 1,000 blank rows, wherever they sit; a
  sheet that holds more is refused (not cut short: data after a long gap must not be lost
  silently). The refusal says to delete the empty rows below the data.
- 64 columns (``REGISTRY_IMPORT_MAX_COLUMNS``): the widest template has 15.
- 1,000 characters per cell (``REGISTRY_IMPORT_MAX_CELL_CHARS``): no column of the template
  takes more than 500.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import IO
from xml.parsers import expat

from django.conf import settings
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import column_index_from_string
from openpyxl.xml.constants import SHARED_STRINGS as SHARED_STRINGS_TYPE
from openpyxl.xml.constants import XLSM, XLSX, XLTM, XLTX

from registry.excel.errors import ImportRefusedError

__all__ = [
    "ImportLimits",
    "cell_too_long",
    "check_workbook_contents",
    "check_workbook_file",
    "not_xlsx_message",
    "open_zip",
    "too_large_message",
    "too_many_columns",
    "too_many_rows",
    "xml_parser",
]

MB = 1024 * 1024
MAX_PARTS = 1000  # a workbook has a dozen parts; a few hundred with many sheets and pictures
MAX_WORKSHEET_BYTES = 200 * MB
MAX_SHARED_STRINGS_BYTES = 40 * MB
MAX_OTHER_PART_BYTES = 2 * MB
MAX_PACKING_RATIO = 100
PACKING_RATIO_FROM_BYTES = 1 * MB
# Bytes of a worksheet outside <sheetData> (views, column widths, drop-downs, merged cells):
# openpyxl turns each element there into objects. The template's take 4 KB.
MAX_SHEET_MARKUP_BYTES = 256 * 1024
# Elements inside one row (its cells and theirs: values, rich-text runs and their fonts), and
# inside one shared string: openpyxl holds a row's, or a string's, whole tree at once.
MAX_ROW_ELEMENTS = 4096
MAX_STRING_ELEMENTS = 1024
# Shared strings: the reader keeps them all, packed (registry.excel.reader.SharedStrings). 100,000
# rows of distinct names, ID numbers, phones, addresses and notes make about 600,000.
MAX_SHARED_STRINGS = 1_000_000
# Attributes of an element inside a row (r, s, t, spans, ht, ... : a dozen at most, short).
MAX_ROW_ATTRIBUTES = 32
MAX_ROW_ATTRIBUTE_CHARS = 1024  # names and values of one element's attributes together
# Text inside <sheetData> but outside any cell (indentation between rows): openpyxl keeps it.
MAX_STRAY_CHARS = 1 * MB
MAX_TOKEN_BYTES = 1 * MB  # one tag or comment; expat holds a token whole until its end
CHUNK_BYTES = 64 * 1024
HEAD_BYTES = 64 * 1024  # read of a worksheet at upload, to find its <dimension>

CONTENT_TYPES = "[Content_Types].xml"
WORKBOOK = "xl/workbook.xml"
SHARED_STRINGS = "xl/sharedStrings.xml"
WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml")
# The parts openpyxl finds through [Content_Types].xml, and where every producer puts them:
# another name would escape the size caps above.
WORKBOOK_TYPES = frozenset({XLSX, XLSM, XLTX, XLTM})
CELL_REFERENCE = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")
DIGITS = "0123456789"
ENCRYPTED = 0x1  # general purpose flag bit 0 of a zip entry


@dataclass(frozen=True)
class ImportLimits:
    """The limits of the settings, read when a file is checked (tests override them)."""

    upload_bytes: int
    unpacked_bytes: int
    data_rows: int
    blank_rows: int
    columns: int
    cell_chars: int

    @classmethod
    def from_settings(cls) -> ImportLimits:
        return cls(
            upload_bytes=settings.REGISTRY_IMPORT_MAX_UPLOAD_BYTES,
            unpacked_bytes=settings.REGISTRY_IMPORT_MAX_UNPACKED_BYTES,
            data_rows=settings.REGISTRY_IMPORT_MAX_ROWS,
            blank_rows=settings.REGISTRY_IMPORT_MAX_BLANK_ROWS,
            columns=settings.REGISTRY_IMPORT_MAX_COLUMNS,
            cell_chars=settings.REGISTRY_IMPORT_MAX_CELL_CHARS,
        )

    @property
    def sheet_rows(self) -> int:
        """Rows a sheet may hold: its header, the data rows and the blank rows."""
        return 1 + self.data_rows + self.blank_rows


# --- Messages (the uploader's language; they say what to do) -----------------------------------


def not_xlsx_message() -> str:
    return _("The file is not an Excel workbook (.xlsx). Fill in the downloaded template and upload it as .xlsx.")


def too_large_message(limits: ImportLimits | None = None) -> str:
    limits = limits or ImportLimits.from_settings()
    return _("The file is larger than %(max)d MB: split it into several files.") % {"max": limits.upload_bytes // MB}


def _unpacks_too_large(part: str) -> ImportRefusedError:
    return ImportRefusedError(
        _(
            "The workbook unpacks to far more than its rows need (in %(part)s). Open it in Excel, delete the "
            "empty rows and columns after the data, save it as .xlsx and upload it again, or split it."
        )
        % {"part": part}
    )


def too_many_rows(limits: ImportLimits) -> ImportRefusedError:
    return ImportRefusedError(
        _(
            "A sheet of the workbook has more than %(max)d rows, empty rows included: delete the empty rows "
            "below the data, or split the file into several."
        )
        % {"max": limits.sheet_rows}
    )


def too_many_columns(limits: ImportLimits) -> ImportRefusedError:
    return ImportRefusedError(
        _("A sheet of the workbook has cells after column %(column)s: delete the columns after the data.")
        % {"column": get_column_letter(limits.columns)}
    )


def cell_too_long(limits: ImportLimits, row: int) -> ImportRefusedError:
    return ImportRefusedError(
        _("Row %(row)d holds a cell of more than %(max)d characters, more than any column takes.")
        % {"row": row, "max": limits.cell_chars}
    )


# --- Step 1: the zip's directory (at upload and in the job) -----------------------------------


def check_workbook_file(data: bytes) -> None:
    """Refuse ``data`` unless it looks like a workbook of a size an import may have.

    Raises :class:`ImportRefusedError` with a message for the uploader. Reads the zip's
    central directory, ``[Content_Types].xml`` and the first 64 KB of each worksheet only, so
    it is cheap enough for the request that uploads the file (see the module docstring).
    """
    limits = ImportLimits.from_settings()
    if len(data) > limits.upload_bytes:
        raise ImportRefusedError(too_large_message(limits))
    with open_zip(data) as archive:
        parts = archive.infolist()
        _check_part_sizes(parts, limits)
        _check_content_types(archive)
        for part in parts:
            if WORKSHEET.fullmatch(part.filename):
                _check_stated_dimension(archive, part, limits)


def open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(BytesIO(data))
    except Exception:
        # zipfile fails in several ways on other files; all mean the same to the uploader.
        raise ImportRefusedError(not_xlsx_message())


def _part_cap(name: str) -> int:
    if WORKSHEET.fullmatch(name):
        return MAX_WORKSHEET_BYTES
    if name == SHARED_STRINGS:
        return MAX_SHARED_STRINGS_BYTES
    return MAX_OTHER_PART_BYTES


def _check_part_sizes(parts: list[zipfile.ZipInfo], limits: ImportLimits) -> None:
    if len(parts) > MAX_PARTS:
        raise _unpacks_too_large(_("%(count)d parts") % {"count": len(parts)})
    names = {part.filename for part in parts}
    if CONTENT_TYPES not in names or WORKBOOK not in names or not any(WORKSHEET.fullmatch(n) for n in names):
        raise ImportRefusedError(not_xlsx_message())
    total = 0
    for part in parts:
        if part.flag_bits & ENCRYPTED or part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ImportRefusedError(not_xlsx_message())  # Excel never writes these
        packed_too_densely = (
            part.file_size > PACKING_RATIO_FROM_BYTES and part.file_size > MAX_PACKING_RATIO * part.compress_size
        )
        total += part.file_size
        if part.file_size > _part_cap(part.filename) or packed_too_densely or total > limits.unpacked_bytes:
            raise _unpacks_too_large(part.filename)


def _check_content_types(archive: zipfile.ZipFile) -> None:
    """The workbook and its shared strings where every producer puts them (openpyxl looks them up)."""
    overrides: dict[str, str] = {}

    def start(name: str, attributes: list[str]) -> None:
        if name.rpartition(":")[2] == "Override":
            found = dict(zip(attributes[::2], attributes[1::2], strict=True))
            overrides[found.get("PartName", "").lstrip("/")] = found.get("ContentType", "")

    with archive.open(CONTENT_TYPES) as stream:
        _parse(stream, start)
    for part, content_type in overrides.items():
        if (content_type in WORKBOOK_TYPES and part != WORKBOOK) or (
            content_type == SHARED_STRINGS_TYPE and part != SHARED_STRINGS
        ):
            raise ImportRefusedError(not_xlsx_message())


def _parse(stream: IO[bytes], start: Callable[[str, list[str]], None]) -> None:
    """Run ``start(name, attributes)`` on each element of a small part; refuse it if it is not XML."""
    parser = xml_parser()
    parser.StartElementHandler = start
    try:
        while chunk := stream.read(CHUNK_BYTES):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except (expat.ExpatError, zipfile.BadZipFile, EOFError):
        raise ImportRefusedError(not_xlsx_message())


class _HeadReadError(Exception):
    """The part of a worksheet before its cells has been read."""


def _check_stated_dimension(archive: zipfile.ZipFile, part: zipfile.ZipInfo, limits: ImportLimits) -> None:
    """Refuse a sheet whose ``<dimension>`` states more rows or columns than the limits.

    openpyxl believes it: a sheet stating 21 million rows is read as 21 million (blank) rows.
    A sheet without one is checked row by row in the job (:func:`check_workbook_contents`).
    """

    def start(name: str, attributes: list[str]) -> None:
        local = name.rpartition(":")[2]
        if local == "dimension":
            _check_reference(dict(zip(attributes[::2], attributes[1::2], strict=True)).get("ref", ""), limits)
        if local in ("dimension", "sheetData"):
            raise _HeadReadError

    parser = xml_parser()
    parser.StartElementHandler = start
    with archive.open(part) as stream:
        try:
            parser.Parse(stream.read(HEAD_BYTES), False)
        except _HeadReadError:
            pass
        except (expat.ExpatError, zipfile.BadZipFile, EOFError):
            raise ImportRefusedError(not_xlsx_message())


def _check_reference(reference: str, limits: ImportLimits) -> None:
    """A ``ref`` like ``A1:N21000000``: refuse it if its last row or column is past the limits."""
    last = CELL_REFERENCE.fullmatch(reference.rpartition(":")[2].strip())
    if last is None:
        return  # openpyxl refuses a reference it cannot read
    if int(last[2]) > limits.sheet_rows:
        raise too_many_rows(limits)
    if column_index_from_string(last[1].upper()) > limits.columns:
        raise too_many_columns(limits)


def xml_parser() -> expat.XMLParserType:
    """An expat parser that refuses any DTD: no entity can expand, no xlsx has one."""
    parser = expat.ParserCreate()
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.buffer_size = CHUNK_BYTES

    def refuse(*args: object) -> None:
        raise ImportRefusedError(not_xlsx_message())

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    return parser


# --- Step 2: every part, streamed (in the job) --------------------------------------------------


def check_workbook_contents(data: bytes) -> None:
    """Stream every part of an archive that passed :func:`check_workbook_file` through the limits.

    Raises :class:`ImportRefusedError` at the first limit passed: the time spent is that of the
    rows up to it, the memory constant. Parts that are not XML (pictures) are skipped at their
    first byte; XML that breaks off is left for openpyxl to refuse, after what came before the
    break was counted here.
    """
    limits = ImportLimits.from_settings()
    with open_zip(data) as archive:
        for part in archive.infolist():
            with archive.open(part) as stream:
                _PartScan(limits, part.filename).run(stream)


class _PartScan:
    """The limits on the elements of one part, applied as expat streams it."""

    def __init__(self, limits: ImportLimits, name: str) -> None:
        self.limits = limits
        self.name = name
        self.parser = xml_parser()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.text
        self.parser.CommentHandler = self.event
        self.parser.ProcessingInstructionHandler = self.event
        self.last_event = 0  # byte offset of the last token expat reported
        # Rows (worksheets)
        self.rows = 0  # <row> elements seen
        self.row_number = 0  # of the current or last row: its r, else the one before + 1
        self.row_depth = 0  # elements open inside the current row, the row included
        self.row_elements = 0
        self.cells = 0  # in the current row
        self.column = 0  # of the current or last cell of the row
        self.columns: dict[str, int] = {}  # column letters (as the references spell them) → column
        self.cell_depth = 0
        self.cell_chars = 0
        self.stray_chars = 0
        self.sheet_data_from: int | None = None  # byte offsets of <sheetData> and </sheetData>
        self.sheet_data_to: int | None = None
        # Shared strings
        self.strings = 0
        self.string_depth = 0
        self.string_elements = 0

    def run(self, stream: IO[bytes]) -> None:
        fed = 0
        try:
            while chunk := stream.read(CHUNK_BYTES):
                self.parser.Parse(chunk, False)
                fed += len(chunk)
                if fed - self.last_event > MAX_TOKEN_BYTES:
                    raise _unpacks_too_large(self.name)
                if WORKSHEET.fullmatch(self.name) and self.markup_bytes(fed) > MAX_SHEET_MARKUP_BYTES:
                    raise _unpacks_too_large(self.name)
            self.parser.Parse(b"", True)
        except expat.ExpatError:
            return  # not XML (a picture), or XML that breaks off: openpyxl refuses it (see above)
        except (zipfile.BadZipFile, EOFError):
            raise ImportRefusedError(not_xlsx_message())  # a damaged zip, or a part that lies about its size

    def markup_bytes(self, fed: int) -> int:
        """Bytes read so far outside the sheet's <sheetData>."""
        if self.sheet_data_from is None:
            return fed
        return self.sheet_data_from + (fed - self.sheet_data_to if self.sheet_data_to is not None else 0)

    def event(self, *args: object) -> None:
        self.last_event = self.parser.CurrentByteIndex

    def start(self, name: str, attributes: list[str]) -> None:
        self.last_event = self.parser.CurrentByteIndex
        # Called for every element of every part (a 100,000-row sheet has millions): kept lean.
        local = name.rpartition(":")[2] if ":" in name else name
        if self.row_depth:
            self.start_in_row(local, attributes)
        elif local == "row":
            self.start_row(attributes)
        elif local == "sheetData":
            self.sheet_data_from = self.parser.CurrentByteIndex
        elif local == "dimension":
            _check_reference(_attribute(attributes, "ref"), self.limits)
        if self.string_depth:
            self.string_depth += 1
            self.string_elements += 1
            if self.string_elements > MAX_STRING_ELEMENTS:
                raise _unpacks_too_large(self.name)
        elif local == "si":
            self.string_depth, self.string_elements = 1, 1
            self.strings += 1
            if self.strings > MAX_SHARED_STRINGS:
                raise _unpacks_too_large(self.name)

    def start_row(self, attributes: list[str]) -> None:
        self.check_attributes(attributes)
        self.rows += 1
        number = _attribute(attributes, "r")
        self.row_number = int(number) if number.isdigit() else self.row_number + 1
        if self.rows > self.limits.sheet_rows or self.row_number > self.limits.sheet_rows:
            raise too_many_rows(self.limits)
        self.row_depth, self.row_elements, self.cells, self.column = 1, 1, 0, 0

    def start_in_row(self, local: str, attributes: list[str]) -> None:
        if len(attributes) > 2 * MAX_ROW_ATTRIBUTES or sum(map(len, attributes)) > MAX_ROW_ATTRIBUTE_CHARS:
            raise _unpacks_too_large(self.name)  # check_attributes(), inlined: this runs for every cell
        self.row_depth += 1
        self.row_elements += 1
        if self.row_elements > MAX_ROW_ELEMENTS:
            raise _unpacks_too_large(self.name)
        if self.cell_depth:
            self.cell_depth += 1
        elif local == "c":
            self.cell_depth, self.cell_chars = 1, 0
            self.cells += 1
            self.column = self.column_of(_attribute(attributes, "r"))
            if self.cells > self.limits.columns or self.column > self.limits.columns:
                raise too_many_columns(self.limits)

    def column_of(self, reference: str) -> int:
        """The column of a cell reference like ``AB12``; the next column if it has none (or a bad one)."""
        letters = reference.rstrip(DIGITS)
        column = self.columns.get(letters)
        if column is None or letters == reference:
            found = CELL_REFERENCE.fullmatch(reference)
            if found is None:
                return self.column + 1
            column = self.columns[letters] = column_index_from_string(found[1].upper())
        return column

    def check_attributes(self, attributes: list[str]) -> None:
        if len(attributes) > 2 * MAX_ROW_ATTRIBUTES or sum(map(len, attributes)) > MAX_ROW_ATTRIBUTE_CHARS:
            raise _unpacks_too_large(self.name)

    def end(self, name: str) -> None:
        self.last_event = self.parser.CurrentByteIndex
        if self.cell_depth:
            self.cell_depth -= 1
        if self.row_depth:
            self.row_depth -= 1
        elif name.rpartition(":")[2] == "sheetData":
            self.sheet_data_to = self.parser.CurrentByteIndex
        if self.string_depth:
            self.string_depth -= 1

    def text(self, data: str) -> None:
        self.last_event = self.parser.CurrentByteIndex
        if self.cell_depth:
            self.cell_chars += len(data)
            if self.cell_chars > self.limits.cell_chars:
                raise cell_too_long(self.limits, self.row_number)
        elif self.row_depth or (self.sheet_data_from is not None and self.sheet_data_to is None):
            # Between the cells of a row, or between rows: openpyxl keeps it with the row.
            self.stray_chars += len(data)
            if self.stray_chars > MAX_STRAY_CHARS:
                raise _unpacks_too_large(self.name)


def _attribute(attributes: list[str], name: str) -> str:
    """The value of attribute ``name`` in expat's ordered list ``[name, value, name, value, ...]``."""
    for index in range(0, len(attributes), 2):
        if attributes[index] == name:
            return attributes[index + 1]
    return ""
