"""Saving parsed rows through the registry's bulk actions, a batch at a time, keyed by natural key.

A row finds its record by the key a person would use to say "the same one" (证件类型+证件号码,
the room's address, the credit code), so importing a file twice changes nothing the second
time. A batch's records are looked up with one query per kind, then validated and written by
``registry.actions.do_bulk_save`` (one audit row and one event per verb and batch, not one per
row). The rooms the rows name are looked up in bulk and remembered for the rest of the import;
those missing are created, also in bulk, only for rows that are written
(``do_ensure_address_paths``), so a row refused by validation leaves no address behind.

Rows are saved in file order as far as it matters: a row naming the same record as an earlier
row of the batch (the same key, or for organisations the same stored record found another way)
waits for a later round of the batch, which sees what the earlier row did. The first row of a
key that is saved claims it; a later row with that key is a :class:`Duplicate`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from district.typing import AnyUser
from registry import actions
from registry.actions import AddressPath
from registry.bulk import BulkOutcome, BulkRecord, stored_state
from registry.choices import AddressLevel
from registry.excel.columns import ADDRESS_FIELDS, SheetKind, SheetSpec
from registry.models import Address, House, Organisation, Person
from tenants.models import Compound

__all__ = ["Duplicate", "ImportSession", "NaturalKey", "Outcome", "ParsedRow", "RowResult", "natural_key", "save_rows"]

Values = dict[str, Any]
Outcome = BulkOutcome

PERSON_FIELDS = (
    "name",
    "id_type",
    "id_number",
    "phone",
    "residence_type",
    "relation",
    "move_in_date",
    "move_out_date",
    "tags",
    "notes",
)
HOUSE_FIELDS = ("use", "area_sqm", "owner_name", "owner_id_number", "owner_phone", "notes")
ORGANISATION_FIELDS = (
    "name",
    "kind",
    "address_detail",
    "legal_representative",
    "contact_name",
    "contact_phone",
    "staff_count",
)


@dataclass(frozen=True)
class NaturalKey:
    """The identity of a row's record, and the column to blame when two rows share it."""

    value: Hashable
    header: str


@dataclass(frozen=True)
class ParsedRow:
    """A row whose cells were all readable: its number, its model values and its natural key."""

    number: int
    values: Values
    key: NaturalKey


@dataclass(frozen=True)
class Duplicate:
    """The row names the record that row ``row`` of the file saved."""

    row: int


RowResult = Outcome | ValidationError | Duplicate


def natural_key(spec: SheetSpec, values: Values) -> NaturalKey:
    """The natural key of a parsed row (used to refuse a second row for the same record)."""
    address = tuple(values.get(level, "") for level in ADDRESS_FIELDS)
    if spec.kind == SheetKind.PERSONS:
        return NaturalKey((values["id_type"], values["id_number"]), "证件号码")
    if spec.kind == SheetKind.HOUSES:
        return NaturalKey(address, "房号")
    if values["uscc"]:
        return NaturalKey(("uscc", values["uscc"]), "统一社会信用代码")
    detail = "" if any(address) else values["address_detail"]
    return NaturalKey(("name", values["name"], address, detail), "单位名称")


def address_numbers(values: Values, *, all_or_none: bool) -> list[str]:
    """The row's building/unit/floor/room numbers, top down, as far as they are filled in.

    ``all_or_none``: a person or house is at a room, so it needs all four levels; an
    organisation may sit at any level but may not skip one.
    """
    numbers = [values[level] for level in ADDRESS_FIELDS]
    if not any(numbers):
        return []
    if all_or_none:
        if not all(numbers):
            missing = ADDRESS_FIELDS[[bool(n) for n in numbers].index(False)]
            raise ValidationError(
                {missing: _("Fill in building, unit, floor and room together, or leave all four empty.")}
            )
        return numbers
    depth = max(index for index, number in enumerate(numbers) if number) + 1
    for index in range(depth):
        if not numbers[index]:
            raise ValidationError({ADDRESS_FIELDS[index]: _("Required because a lower address level is filled in.")})
    return numbers[:depth]


def _room(pk: int) -> Address:
    """A stand-in for a stored room, enough for ``House.clean()``, which checks that it is a room.

    A path's fourth level is a room by construction (``registry.models.addresses.CHILD_LEVEL``);
    the stand-in spares reading the address again for each house.
    """
    return Address(pk=pk, level=AddressLevel.ROOM)


class ImportSession:
    """What the batches of one import share: the compound, the uploader, and the addresses found so far.

    Most rows of a persons file share a few thousand rooms: each room's address (and house) is
    looked up once per import, and remembered by its numbers. Only what is stored is
    remembered, and a batch that fails ends the import, so nothing remembered is rolled back.
    """

    def __init__(self, compound: Compound, acting_user: AnyUser | None = None, detail: Values | None = None) -> None:
        self.compound = compound
        # ``None`` is a system write; with a user, the actions apply the user's rights
        # (only police roles may set or clear the key-person tag).
        self.acting_user = acting_user
        self.detail = detail or {}  # added to the audit rows of the writes (the import job)
        self._addresses: dict[AddressPath, int] = {}
        self._houses: dict[int, int] = {}  # room address id → house id

    def addresses(self, paths: Iterable[AddressPath]) -> dict[AddressPath, int]:
        """The ids of the stored addresses at ``paths``; paths not stored yet are left out."""
        paths = set(paths)
        unknown = [path for path in paths if path not in self._addresses]
        if unknown:
            self._addresses.update({path: a.pk for path, a in actions.find_address_paths(unknown).items()})
        return {path: self._addresses[path] for path in paths if path in self._addresses}

    def houses(self, rooms: Iterable[int]) -> dict[int, int]:
        """The house id of each room that has one (by the room's address id)."""
        rooms = set(rooms)
        unknown = [room for room in rooms if room not in self._houses]
        if unknown:
            self._houses.update(House.objects.filter(address_id__in=unknown).values_list("address_id", "pk"))
        return {room: self._houses[room] for room in rooms if room in self._houses}

    def ensure(self, paths: Iterable[AddressPath], rows: str) -> actions.AddressPaths:
        """The addresses at ``paths``, created where missing (``do_ensure_address_paths``)."""
        ensured = actions.do_ensure_address_paths(
            self.compound, paths, acting_user=self.acting_user, detail=self.audit_detail(rows)
        )
        self._addresses.update({path: address.pk for path, address in ensured.found.items()})
        return ensured

    def ensure_houses(self, rooms: dict[AddressPath, int], rows: str) -> dict[int, int]:
        """The house of each of these rooms, created with the default use where it has none."""
        known = self.houses(rooms.values())
        new = [House(address=_room(room)) for room in dict.fromkeys(rooms.values()) if room not in known]
        if new:
            try:
                with transaction.atomic():
                    created = actions.do_bulk_create(
                        House, new, acting_user=self.acting_user, compound=self.compound, detail=self.audit_detail(rows)
                    )
            except IntegrityError:
                # Someone added a house to one of these rooms meanwhile (one house per room): take
                # the houses now stored, and create the rest.
                self._houses.update(
                    House.objects.filter(address_id__in=[h.address_id for h in new]).values_list("address_id", "pk")
                )
                return self.ensure_houses(rooms, rows)
            self._houses.update({house.address_id: house.pk for house in created})
        return self.houses(rooms.values())

    def audit_detail(self, rows: str) -> Values:
        return {**self.detail, "rows": rows}


Built = tuple[list[tuple[ParsedRow, BulkRecord[Any]]], list[ParsedRow]]


def _problems(check: Callable[[], Any]) -> tuple[Any, dict[str, list[str]]]:
    """Run a row's own check: its answer, or the errors it raised by field."""
    try:
        return check(), {}
    except ValidationError as exc:
        return None, exc.message_dict


def _existing_record(model: type[models.Model], obj: models.Model | None) -> tuple[Any, Values | None]:
    return (obj, stored_state(obj)) if obj is not None else (model(), None)


def _apply(obj: models.Model, values: Values, names: Iterable[str]) -> None:
    for name in names:
        setattr(obj, name, values[name])


def _build_persons(rows: list[ParsedRow], session: ImportSession) -> Built:
    checked = []
    for row in rows:
        values = row.values
        numbers, problems = _problems(partial(address_numbers, values, all_or_none=True))
        move_in, move_out = values["move_in_date"], values["move_out_date"]
        if move_in and move_out and move_out < move_in:
            # Checked here because the model's check constraint would only say its own name.
            problems["move_out_date"] = [_("The move-out date is before the move-in date.")]
        checked.append((row, tuple(numbers or ()), problems))
    rooms = session.addresses(path for _row, path, _p in checked if path)
    houses = session.houses(rooms.values())
    numbers = {row.values["id_number"] for row in rows}
    stored: dict[tuple[str, str], Person] = {
        (person.id_type, person.id_number): person
        # Locked until the batch commits: no one else's edit is overwritten by a stale copy.
        for person in Person.objects.filter(id_number__in=numbers).order_by().select_for_update()
    }
    built = []
    for row, path, problems in checked:
        obj, before = _existing_record(Person, stored.get((row.values["id_type"], row.values["id_number"])))
        _apply(obj, row.values, PERSON_FIELDS)
        house = houses.get(rooms.get(path, 0)) if path else None
        obj.house_id = house
        pending = frozenset({"house"}) if path and house is None else frozenset()
        built.append((row, BulkRecord(obj, before, pending, problems)))
    return built, []


def _prepare_persons(pairs: list[tuple[ParsedRow, BulkRecord[Any]]], session: ImportSession, rows: str) -> Callable:
    paths = {id(record): _person_path(row) for row, record in pairs}

    def prepare(records: list[BulkRecord[Any]]) -> None:
        waiting = [record for record in records if "house" in record.pending]
        if not waiting:
            return
        ensured = session.ensure({paths[id(record)] for record in waiting}, rows)
        houses = session.ensure_houses(
            {path: address.pk for path, address in ensured.found.items()},
            rows,
        )
        for record in waiting:
            path = paths[id(record)]
            if path in ensured.refused:
                record.refuse(ensured.refused[path])
            else:
                record.obj.house_id = houses[ensured.found[path].pk]

    return prepare


def _person_path(row: ParsedRow) -> AddressPath:
    return tuple(row.values[level] for level in ADDRESS_FIELDS)


def _build_houses(rows: list[ParsedRow], session: ImportSession) -> Built:
    checked = []
    for row in rows:
        numbers, problems = _problems(partial(address_numbers, row.values, all_or_none=True))
        checked.append((row, tuple(numbers or ()), problems))
    rooms = session.addresses(path for _row, path, _p in checked if path)
    stored = {
        house.address_id: house
        for house in House.objects.filter(address_id__in=rooms.values())
        .select_related("address")
        .order_by()
        .select_for_update(of=("self",))
    }
    built = []
    for row, path, problems in checked:
        room = rooms.get(path)
        obj, before = _existing_record(House, stored.get(room or 0))
        if before is None and room is not None:
            obj.address = _room(room)
        _apply(obj, row.values, HOUSE_FIELDS)
        pending = frozenset({"address"}) if room is None and path else frozenset()
        built.append((row, BulkRecord(obj, before, pending, problems)))
    return built, []


def _build_organisations(rows: list[ParsedRow], session: ImportSession) -> Built:
    checked = []
    for row in rows:
        numbers, problems = _problems(partial(address_numbers, row.values, all_or_none=False))
        checked.append((row, tuple(numbers or ()), problems))
    places = session.addresses(path for _row, path, _p in checked if path)
    codes = {row.values["uscc"] for row in rows if row.values["uscc"]}
    locked = Organisation.objects.order_by("id").select_for_update()
    by_code = {org.uscc: org for org in locked.filter(uscc__in=codes)}
    # Code-less ones by name and place: a row that now carries a code may complete a record
    # first imported without one (the first of a name at a place, as single saves found it).
    without_code: dict[tuple[Any, ...], Organisation] = {}
    for org in locked.filter(uscc__isnull=True, name__in={row.values["name"] for row in rows}):
        without_code.setdefault(_place(org.name, org.address_id, org.address_detail), org)
    built, later, claimed = [], [], set()
    for row, path, problems in checked:
        values = row.values
        uscc = values["uscc"] or None  # an empty code is no code: NULL, as Organisation.clean() stores it
        place_id = places.get(path) if path else None
        found = by_code.get(uscc) if uscc else None
        if found is None and (place_id is not None or not path):
            found = without_code.get(_place(values["name"], place_id, values["address_detail"]))
        if found is not None and found.pk in claimed:
            later.append(row)  # an earlier row of the batch changes this record: see what it did first
            continue
        if found is not None:
            claimed.add(found.pk)
        obj, before = _existing_record(Organisation, found)
        _apply(obj, values, ORGANISATION_FIELDS)
        obj.uscc = uscc
        obj.address_id = place_id
        pending = frozenset({"address"}) if path and place_id is None else frozenset()
        built.append((row, BulkRecord(obj, before, pending, problems)))
    return built, later


def _place(name: str, address_id: int | None, detail: str) -> tuple[Any, ...]:
    """Where a code-less organisation is: its structured address if it has one, else its address text."""
    return (name, address_id) if address_id is not None else (name, None, detail)


def _prepare_addresses(pairs: list[tuple[ParsedRow, BulkRecord[Any]]], session: ImportSession, rows: str) -> Callable:
    """Houses and organisations: create the address of each record written at an address not yet stored."""
    paths = {id(record): _path_of(row) for row, record in pairs}

    def prepare(records: list[BulkRecord[Any]]) -> None:
        waiting = [record for record in records if "address" in record.pending]
        if not waiting:
            return
        ensured = session.ensure({paths[id(record)] for record in waiting}, rows)
        for record in waiting:
            path = paths[id(record)]
            if path in ensured.refused:
                record.refuse(ensured.refused[path])
            else:
                record.obj.address = ensured.found[path]

    return prepare


def _path_of(row: ParsedRow) -> AddressPath:
    numbers = [row.values[level] for level in ADDRESS_FIELDS]
    return tuple(numbers[: max((i + 1 for i, n in enumerate(numbers) if n), default=0)])


BUILDERS: dict[str, tuple[type[models.Model], Callable[[list[ParsedRow], ImportSession], Built], Callable]] = {
    SheetKind.PERSONS: (Person, _build_persons, _prepare_persons),
    SheetKind.HOUSES: (House, _build_houses, _prepare_addresses),
    SheetKind.ORGANISATIONS: (Organisation, _build_organisations, _prepare_addresses),
}


def save_rows(
    spec: SheetSpec, rows: list[ParsedRow], session: ImportSession, seen: dict[Hashable, int]
) -> dict[int, RowResult]:
    """Create or update the records of a batch of parsed rows: what became of each row, by row number.

    ``seen`` maps the keys of the rows saved so far in this import to their row numbers; the
    rows saved here are added. Run it in the batch's transaction: it writes addresses, houses
    and records, and their audit rows, which must commit with the batch's checkpoint.
    """
    model, build, make_prepare = BUILDERS[spec.kind]
    results: dict[int, RowResult] = {}
    waiting = rows
    while waiting:
        round_, later, keys = [], [], set()
        for row in waiting:
            if row.key.value in seen:
                results[row.number] = Duplicate(seen[row.key.value])
            elif row.key.value in keys:
                later.append(row)  # decided by the earlier row: a duplicate if that one is saved
            else:
                keys.add(row.key.value)
                round_.append(row)
        if not round_:
            break
        built, deferred = build(round_, session)
        span = f"{round_[0].number}-{round_[-1].number}"
        actions.do_bulk_save(
            model,
            [record for _row, record in built],
            acting_user=session.acting_user,
            compound=session.compound,
            detail=session.audit_detail(span),
            prepare=make_prepare(built, session, span),
        )
        for row, record in built:
            if record.error is not None:
                results[row.number] = record.error
            else:
                assert record.outcome is not None
                results[row.number] = record.outcome
                seen[row.key.value] = row.number
        waiting = sorted([*later, *deferred], key=lambda row: row.number)
    return results
