"""警情: entering, assigning and importing incidents (public schema, city-wide).

Writes: :func:`do_save_incident` (a police role enters or edits one), :func:`do_assign_incident`
(a person matches an unmatched incident to its compound) and :func:`do_import_incidents` (the
city's 110 dispatch export, CSV or .xlsx). Each runs in one transaction with its audit row.

**Import.** The first row holds the headers (Chinese as the dispatch system writes them, or our
field names): 接警编号 ``external_id`` (required), 警情类别 ``type``, 报警时间 ``occurred_at``,
发生地址 ``place``, 简要案情 ``summary`` (optional), 处置状态 ``status`` (optional),
标准地址编码 ``address_code`` (optional). Every bad row is reported with its row number, column
and reason, and the good rows are imported. A dispatch number the city already has is skipped,
so importing the same export again creates nothing (``Incident`` is unique on city and
external id). The file is bounded: :data:`MAX_BYTES`, :data:`MAX_ROWS` data rows,
:data:`MAX_COLUMNS`, :data:`MAX_CELL_CHARS`; an .xlsx passes the registry import's zip checks
(``registry.excel.limits``) before it is opened; at most :data:`MAX_REPORTED_ERRORS` errors are
listed (the rest counted).

**Matching a row to its compound** (:func:`match_compound`), among the compounds of the city:

1. ``address_code`` (a standard-address code, digits): the compound whose 12-digit code is a
   prefix of it (a standard address of a compound starts with the compound's code);
2. else ``place``: the compounds whose name, or whose address, appears in the place text; the
   longest such text wins (``阳光花园东区`` beats ``阳光花园``); a tie between two compounds, or no
   match, leaves the incident unmatched.

Unmatched incidents keep their street and district empty and are listed on the "unassigned"
page for a person to assign.
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from district.audit import do_record_audit, do_record_change
from district.models import Area, AuditAction
from district.realtime import send_event_on_commit
from safety.choices import IncidentSource, IncidentStatus, IncidentType
from safety.models import Incident
from tenants.models import Compound

__all__ = [
    "CompoundMatcher",
    "ImportReport",
    "IncidentImportError",
    "do_assign_incident",
    "do_import_incidents",
    "do_save_incident",
    "match_compound",
]

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
MAX_COLUMNS = 64
MAX_CELL_CHARS = 1000
MAX_REPORTED_ERRORS = 500

HEADERS: dict[str, str] = {
    "接警编号": "external_id",
    "警情编号": "external_id",
    "external_id": "external_id",
    "警情类别": "type",
    "警情类型": "type",
    "type": "type",
    "报警时间": "occurred_at",
    "发生时间": "occurred_at",
    "occurred_at": "occurred_at",
    "发生地址": "place",
    "发生地点": "place",
    "place": "place",
    "简要案情": "summary",
    "summary": "summary",
    "处置状态": "status",
    "status": "status",
    "标准地址编码": "address_code",
    "address_code": "address_code",
}
REQUIRED = ("external_id", "type", "occurred_at", "place")
TYPE_WORDS: dict[str, str] = {
    "刑事": IncidentType.CRIMINAL,
    "刑事案件": IncidentType.CRIMINAL,
    "治安": IncidentType.PUBLIC_ORDER,
    "治安案件": IncidentType.PUBLIC_ORDER,
    "火灾": IncidentType.FIRE,
    "消防": IncidentType.FIRE,
    "交通": IncidentType.TRAFFIC,
    "交通事故": IncidentType.TRAFFIC,
    "其他": IncidentType.OTHER,
    **{value: value for value in IncidentType.values},
}
STATUS_WORDS: dict[str, str] = {
    "": IncidentStatus.OPEN,
    "未处置": IncidentStatus.OPEN,
    "处置中": IncidentStatus.OPEN,
    "已处置": IncidentStatus.CLOSED,
    "已结": IncidentStatus.CLOSED,
    "已办结": IncidentStatus.CLOSED,
    **{value: value for value in IncidentStatus.values},
}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d%H%M%S")


class IncidentImportError(ValueError):
    """The file as a whole cannot be imported; ``message`` is fit to show to the uploader."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ImportReport:
    """What an import did, row by row for the rows it could not take."""

    rows: int = 0
    created: int = 0
    matched: int = 0
    unmatched: int = 0
    already_imported: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_not_listed: int = 0

    def error(self, row: int, column: str, message: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"row": row, "column": column, "message": message})
        else:
            self.errors_not_listed += 1

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.errors_not_listed


def _event(incident: Incident, verb: str) -> None:
    groups = [f"safety.city.{incident.city_id}"]
    send_event_on_commit(groups, {"type": f"safety.incident.{verb}", "id": incident.pk})


def _tag(incident: Incident) -> None:
    """Copy street and district from the compound (empty while unmatched)."""
    if incident.compound_id is None:
        incident.street_id = incident.district_id = None
        return
    compound = Compound.objects.select_related("street").get(pk=incident.compound_id)
    incident.street_id = compound.street_id
    incident.district_id = compound.street.parent_id


@transaction.atomic
def do_save_incident(incident: Incident, *, acting_user: AbstractBaseUser | AnonymousUser) -> Incident:
    """Create or change an incident (police roles with ``safety.incidents``; the view checks the city).

    The compound, if any, must lie in the incident's city.
    """
    created = incident.pk is None
    before = None if created else Incident.objects.filter(pk=incident.pk).values().first()
    if incident.compound_id is not None:
        compound = Compound.objects.select_related("street__parent").get(pk=incident.compound_id)
        if compound.street.parent is None or compound.street.parent.parent_id != incident.city_id:
            raise ValidationError({"compound": _("The compound is not in this city.")})
    _tag(incident)
    if created and acting_user.is_authenticated:
        incident.created_by_id = acting_user.pk
    incident.full_clean(exclude=["created_by", "street", "district"])
    incident.save()
    fields = (
        ["external_id", "type", "occurred_at", "place", "summary", "status", "compound"]
        if before is None
        else [
            name
            for name in ("external_id", "type", "occurred_at", "place", "summary", "status", "compound")
            if before.get(name if name != "compound" else "compound_id")
            != getattr(incident, name if name != "compound" else "compound_id")
        ]
    )
    do_record_change(
        acting_user,  # type: ignore[arg-type]
        AuditAction.CREATE if created else AuditAction.UPDATE,
        incident,
        fields=fields,
        compound=incident.compound,
    )
    _event(incident, "created" if created else "updated")
    return incident


@transaction.atomic
def do_assign_incident(
    incident: Incident, compound: Compound, *, acting_user: AbstractBaseUser | AnonymousUser
) -> Incident:
    """Match an incident to its compound by hand (the "unassigned" list); tags street and district."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    incident.compound = compound
    return do_save_incident(incident, acting_user=acting_user)


# --- Import ---------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a dispatch number typed as a number
    return str(value).strip()


def _read_csv(data: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise IncidentImportError(_("The file is neither UTF-8 nor GB18030 text."))
    rows: list[list[Any]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            rows.append(row)
            if len(rows) > MAX_ROWS + 1:
                raise IncidentImportError(_("The file has more than %(max)d rows.") % {"max": MAX_ROWS})
    except csv.Error as exc:
        raise IncidentImportError(_("The CSV file cannot be read: %(reason)s") % {"reason": exc}) from None
    return rows


def _read_xlsx(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    from registry.excel.errors import ImportRefusedError
    from registry.excel.limits import check_workbook_contents, check_workbook_file

    try:
        check_workbook_file(data)
        check_workbook_contents(data)
    except ImportRefusedError as exc:
        raise IncidentImportError(exc.message) from None
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl fails in many ways on damaged files; all mean the same here
        raise IncidentImportError(_("The file is not a readable .xlsx workbook.")) from None
    try:
        rows: list[list[Any]] = []
        for row in book.worksheets[0].iter_rows(values_only=True):
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 1:
                raise IncidentImportError(_("The file has more than %(max)d rows.") % {"max": MAX_ROWS})
        return rows
    finally:
        book.close()


def read_table(filename: str, data: bytes) -> list[list[Any]]:
    """The rows of an uploaded export (header first), bounded; refuses what it cannot read."""
    if len(data) > MAX_BYTES:
        raise IncidentImportError(_("The file is larger than %(mb)d MB.") % {"mb": MAX_BYTES // (1024 * 1024)})
    name = filename.lower()
    if name.endswith(".csv"):
        rows = _read_csv(data)
    elif name.endswith(".xlsx"):
        rows = _read_xlsx(data)
    else:
        raise IncidentImportError(_("Upload the export as a .csv or .xlsx file."))
    while rows and all(_cell(v) == "" for v in rows[-1]):
        rows.pop()
    if not rows:
        raise IncidentImportError(_("The file is empty."))
    if any(len(row) > MAX_COLUMNS for row in rows):
        raise IncidentImportError(_("The file has more than %(max)d columns.") % {"max": MAX_COLUMNS})
    return rows


def _columns(header: list[Any]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        key = HEADERS.get(_cell(raw)) or HEADERS.get(_cell(raw).lower())
        if key is not None and key not in positions:
            positions[key] = index
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        raise IncidentImportError(_("The first row lacks the columns: %(columns)s.") % {"columns": ", ".join(missing)})
    return positions


def _parse_time(raw: Any) -> datetime.datetime:
    if isinstance(raw, datetime.datetime):
        value = raw
    else:
        text = _cell(raw).replace("T", " ")
        for fmt in TIME_FORMATS:
            try:
                value = datetime.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            try:
                value = datetime.datetime.fromisoformat(_cell(raw))
            except ValueError:
                raise ValueError(_("Not a time: write it as 2026-11-20 14:03.")) from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    if not datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC) <= value <= timezone.now() + datetime.timedelta(days=1):
        raise ValueError(_("The time is not between 2000 and today."))
    return value


@dataclass
class Candidate:
    """A compound of the city and the texts that name it."""

    compound_id: int
    code: str
    texts: tuple[str, ...]


def city_candidates(city: Area) -> list[Candidate]:
    """The compounds of ``city``, each with its name and address (texts of at least 2 characters)."""
    compounds = Compound.objects.filter(street__path__startswith=f"{city.path}/").values_list(
        "pk", "code", "name", "address"
    )
    return [
        Candidate(pk, code, tuple(t.strip() for t in (name, address) if len(t.strip()) >= 2))
        for pk, code, name, address in compounds
    ]


class CompoundMatcher:
    """The compound a row belongs to, among a city's (see the module docstring for the rule).

    Every name and address of the city's compounds goes into one Aho–Corasick automaton, so a
    row's place is read once whatever the number of compounds (a loop over 5,000 compounds'
    texts cost 4 ms per row).
    """

    def __init__(self, candidates: list[Candidate]) -> None:
        self.by_code = {c.code: c.compound_id for c in candidates}
        self.code_lengths = sorted({len(c.code) for c in candidates})
        owners: dict[str, set[int]] = {}
        for c in candidates:
            for text in c.texts:
                owners.setdefault(text, set()).add(c.compound_id)
        self.automaton: ahocorasick.Automaton | None = None
        if owners:
            self.automaton = ahocorasick.Automaton()
            for text, ids in owners.items():
                self.automaton.add_word(text, (len(text), tuple(sorted(ids))))
            self.automaton.make_automaton()

    def match(self, place: str, address_code: str = "") -> int | None:
        code = address_code.strip()
        if code.isdigit():
            by_code = {self.by_code[code[:n]] for n in self.code_lengths if code[:n] in self.by_code}
            if len(by_code) == 1:
                return by_code.pop()
        if self.automaton is None:
            return None
        best: dict[int, int] = {}
        for _end, (length, ids) in self.automaton.iter(place):
            for pk in ids:
                best[pk] = max(best.get(pk, 0), length)
        if not best:
            return None
        top = max(best.values())
        winners = [pk for pk, length in best.items() if length == top]
        return winners[0] if len(winners) == 1 else None


def match_compound(candidates: list[Candidate], place: str, address_code: str = "") -> int | None:
    """The compound a row belongs to (one row; an import builds one :class:`CompoundMatcher`)."""
    return CompoundMatcher(candidates).match(place, address_code)


def _parse_row(row: list[Any], columns: dict[str, int], number: int, report: ImportReport) -> dict[str, Any] | None:
    def get(name: str) -> Any:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else None

    values: dict[str, Any] = {}
    ok = True

    def fail(column: str, message: str) -> None:
        nonlocal ok
        ok = False
        report.error(number, column, message)

    for name in ("external_id", "place", "summary", "address_code"):
        text = _cell(get(name))
        limit = {"external_id": 40, "place": 200, "summary": 1000, "address_code": 64}[name]
        if len(text) > min(limit, MAX_CELL_CHARS):
            fail(name, _("Longer than %(max)d characters.") % {"max": limit})
        elif name in REQUIRED and not text:
            fail(name, _("This cell is required."))
        values[name] = text
    kind = TYPE_WORDS.get(_cell(get("type")))
    if kind is None:
        fail("type", _("Unknown incident type: use 刑事, 治安, 火灾, 交通 or 其他."))
    values["type"] = kind
    status = STATUS_WORDS.get(_cell(get("status")))
    if status is None:
        fail("status", _("Unknown status: use 未处置 or 已处置."))
    values["status"] = status
    try:
        values["occurred_at"] = _parse_time(get("occurred_at"))
    except ValueError as exc:
        fail("occurred_at", str(exc))
    return values if ok else None


@transaction.atomic
def do_import_incidents(
    city: Area, filename: str, data: bytes, *, acting_user: AbstractBaseUser | AnonymousUser
) -> ImportReport:
    """Import a 110 dispatch export of ``city``: new incidents, matched where possible; the report.

    Raises :class:`IncidentImportError` when the file as a whole cannot be read. Rows already
    imported (same dispatch number in the city) are counted, not created again; bad rows are
    reported and skipped. One audit row names every incident created.
    """
    rows = read_table(filename, data)
    columns = _columns(rows[0])
    report = ImportReport()
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if all(_cell(v) == "" for v in row):
            continue
        report.rows += 1
        values = _parse_row(row, columns, number, report)
        if values is None:
            continue
        first = seen.get(values["external_id"])
        if first is not None:
            report.error(number, "external_id", _("Same dispatch number as row %(row)d.") % {"row": first})
            continue
        seen[values["external_id"]] = number
        parsed.append((number, values))
    existing = set(Incident.objects.filter(city=city, external_id__in=list(seen)).values_list("external_id", flat=True))
    candidates = city_candidates(city)
    matcher = CompoundMatcher(candidates)
    tags = {
        pk: (street_id, district_id)
        for pk, street_id, district_id in Compound.objects.filter(
            pk__in=[c.compound_id for c in candidates]
        ).values_list("pk", "street_id", "street__parent_id")
    }
    new: list[Incident] = []
    for _number, values in parsed:
        if values["external_id"] in existing:
            report.already_imported += 1
            continue
        compound_id = matcher.match(values["place"], values.pop("address_code"))
        street_id, district_id = tags.get(compound_id, (None, None)) if compound_id else (None, None)
        new.append(
            Incident(
                city=city,
                compound_id=compound_id,
                street_id=street_id,
                district_id=district_id,
                source=IncidentSource.DISPATCH,
                created_by_id=acting_user.pk if acting_user.is_authenticated else None,
                **values,
            )
        )
        if compound_id:
            report.matched += 1
        else:
            report.unmatched += 1
    # The unique constraint settles a race with a concurrent import of the same file.
    created = Incident.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    report.created = len(created)
    if new:
        ids = list(
            Incident.objects.filter(city=city, external_id__in=[i.external_id for i in new]).values_list(
                "pk", flat=True
            )
        )
        do_record_audit(
            acting_user,  # type: ignore[arg-type]
            AuditAction.CREATE,
            object_ids=ids,
            object_type="safety.incident",
            detail={"fields": sorted(REQUIRED), "import": filename[:100], "created": len(ids)},
        )
        send_event_on_commit([f"safety.city.{city.pk}"], {"type": "safety.incident.imported", "count": len(ids)})
    return report
