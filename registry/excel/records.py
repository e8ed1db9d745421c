"""Saving one parsed row through the registry's actions, keyed by its natural key.

A row finds its record by the key a person would use to say "the same one" (证件类型+证件号码,
the room's address, the credit code), so importing a file twice changes nothing the second
time. Every write goes through ``registry.actions``, whose ``full_clean()`` is the validation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from district.probes import ProbeLimitError
from district.typing import AnyUser
from registry import actions
from registry.excel.columns import ADDRESS_FIELDS, SheetKind, SheetSpec
from registry.models import Address, House, Organisation, Person
from tenants.models import Compound

__all__ = ["ImportSession", "NaturalKey", "Outcome", "natural_key", "save_row"]

M = TypeVar("M", bound=models.Model)
Values = dict[str, Any]

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


class Outcome(StrEnum):
    """What saving a row did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class NaturalKey:
    """The identity of a row's record, and the column to blame when two rows share it."""

    value: Hashable
    header: str


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


def _apply(obj: models.Model, changes: Values) -> bool:
    """Set ``changes`` on ``obj``; whether any value differed."""
    changed = False
    for name, value in changes.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _save(obj: M | None, new: Callable[[], M], changes: Values, do_save: Callable[[M], M]) -> Outcome:
    if obj is None:
        created = new()
        _apply(created, changes)
        do_save(created)
        return Outcome.CREATED
    if not _apply(obj, changes):
        return Outcome.UNCHANGED
    do_save(obj)
    return Outcome.UPDATED


class ImportSession:
    """What the rows of one import share: the compound, the uploader, and the rooms found so far.

    Most rows of a persons file share a few hundred rooms; looking each path up again costs
    five queries a row, so addresses and houses are remembered by their numbers. What a row
    finds only becomes visible to later rows once that row's savepoint is released
    (:meth:`keep`): a failed row's new addresses are rolled back and must not be handed on.
    """

    def __init__(self, compound: Compound, acting_user: AnyUser | None = None) -> None:
        self.compound = compound
        # ``None`` is a system write; with a user, the actions apply the user's rights
        # (only police roles may set or clear the key-person tag).
        self.acting_user = acting_user
        self._kept: dict[tuple[str, ...], tuple[Address, int | None]] = {}
        self._pending: dict[tuple[str, ...], tuple[Address, int | None]] = {}

    def _get(self, numbers: list[str]) -> tuple[Address, int | None] | None:
        key = tuple(numbers)
        return self._pending.get(key) or self._kept.get(key)

    def address(self, numbers: list[str]) -> Address:
        """The address at ``numbers``, created if missing (``do_ensure_address_path``)."""
        found = self._get(numbers)
        if found:
            return found[0]
        address = actions.do_ensure_address_path(self.compound, numbers, acting_user=self.acting_user)
        self._pending[tuple(numbers)] = (address, None)
        return address

    def house_id(self, numbers: list[str]) -> int:
        """The id of the house at a room, created with the default use if the room has none yet."""
        found = self._get(numbers)
        if found and found[1] is not None:
            return found[1]
        address = self.address(numbers)
        house = House.objects.filter(address=address).first() or actions.do_save_house(
            House(address=address), acting_user=self.acting_user
        )
        self._pending[tuple(numbers)] = (address, house.pk)
        return house.pk

    def keep(self) -> None:
        """The row was saved: its addresses and houses exist for good."""
        self._kept.update(self._pending)
        self._pending.clear()

    def discard(self) -> None:
        """Forget what the last row found: it was rolled back, and with it whatever it created."""
        self._pending.clear()


def _save_person(values: Values, session: ImportSession) -> Outcome:
    move_in, move_out = values["move_in_date"], values["move_out_date"]
    if move_in and move_out and move_out < move_in:
        # Checked here because the model's check constraint would only say its own name.
        raise ValidationError({"move_out_date": _("The move-out date is before the move-in date.")})
    numbers = address_numbers(values, all_or_none=True)
    changes = {name: values[name] for name in PERSON_FIELDS}
    changes["house_id"] = session.house_id(numbers) if numbers else None
    person = Person.objects.filter(id_type=values["id_type"], id_number=values["id_number"]).first()
    do_save = partial(actions.do_save_person, acting_user=session.acting_user, compound=session.compound)
    try:
        if person is not None:  # for an uploader who sees ID numbers masked, a lookup (issue #7)
            actions.do_record_identity_match(person, acting_user=session.acting_user, compound=session.compound)
        return _save(person, Person, changes, do_save)
    except ProbeLimitError as refused:  # the row is refused, not the whole file
        raise ValidationError({"id_number": refused.message}) from None


def _save_house(values: Values, session: ImportSession) -> Outcome:
    address = session.address(address_numbers(values, all_or_none=True))
    house = House.objects.filter(address=address).first()
    changes = {name: values[name] for name in HOUSE_FIELDS}
    do_save = partial(actions.do_save_house, acting_user=session.acting_user)
    return _save(house, lambda: House(address=address), changes, do_save)


def _organisation_without_code(name: str, address: Address | None, detail: str) -> Organisation | None:
    """A code-less organisation of this name at this address (the structured one if given)."""
    candidates = Organisation.objects.filter(uscc__isnull=True, name=name).order_by("id")
    if address is not None:
        return candidates.filter(address=address).first()
    return candidates.filter(address__isnull=True, address_detail=detail).first()


def _save_organisation(values: Values, session: ImportSession) -> Outcome:
    numbers = address_numbers(values, all_or_none=False)
    address = session.address(numbers) if numbers else None
    uscc = values["uscc"] or None  # an empty code is no code: NULL, as Organisation.clean() stores it
    organisation = Organisation.objects.filter(uscc=uscc).first() if uscc else None
    if organisation is None:
        # A row that now carries a code may complete a record first imported without one.
        organisation = _organisation_without_code(values["name"], address, values["address_detail"])
    changes = {name: values[name] for name in ORGANISATION_FIELDS}
    changes["uscc"] = uscc
    changes["address_id"] = address.pk if address else None
    do_save = partial(actions.do_save_organisation, acting_user=session.acting_user)
    return _save(organisation, Organisation, changes, do_save)


SAVERS: dict[str, Callable[[Values, ImportSession], Outcome]] = {
    SheetKind.PERSONS: _save_person,
    SheetKind.HOUSES: _save_house,
    SheetKind.ORGANISATIONS: _save_organisation,
}


def save_row(spec: SheetSpec, values: Values, session: ImportSession) -> Outcome:
    """Create or update the record of one parsed row; raises ``ValidationError`` keyed by field.

    Call it inside ``transaction.atomic()``: it may create addresses or a house before the
    row's own record fails validation, and those must go with it. Call ``session.discard()``
    before and ``session.keep()`` after a row that was saved.
    """
    return SAVERS[spec.kind](values, session)
