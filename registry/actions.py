"""Every write to the registry goes through a ``do_*`` function here.

Each action validates the whole object (``full_clean``: field validators, the model's
``clean()`` normalisation and unique constraints) before it writes, so the browser forms,
the API and the Excel import accept and refuse exactly the same things.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import models, transaction
from django.db.models import Max

from registry.choices import AddressLevel
from registry.models import Address, House, Lease, Organisation, Person, Vehicle
from registry.models.addresses import CHILD_LEVEL, CODE_WIDTH
from tenants.models import Compound

M = TypeVar("M", bound=models.Model)


def _validated_save(obj: M) -> M:
    obj.full_clean()
    obj.save()
    return obj


@transaction.atomic
def do_create_address(compound: Compound, *, parent: Address | None, number: str) -> Address:
    """Add a building (no parent), or a unit, floor or room beneath ``parent``.

    The standard-address code is the parent's code (the compound's code for a building)
    plus this node's sequence under its parent; it never changes afterwards.
    """
    level = AddressLevel.BUILDING if parent is None else CHILD_LEVEL[parent.level]
    if level is None:
        from django.core.exceptions import ValidationError
        from django.utils.translation import gettext as _

        raise ValidationError({"parent": _("A room has no addresses beneath it.")})
    siblings = Address.objects.select_for_update().filter(parent=parent) if parent else Address.objects.filter(
        parent__isnull=True
    )
    seq = (siblings.aggregate(m=Max("seq"))["m"] or 0) + 1
    prefix = parent.code if parent else compound.code
    address = Address(level=level, parent=parent, number=str(number).strip(), seq=seq)
    address.code = f"{prefix}{seq:0{CODE_WIDTH[level]}d}"
    address.full_name = f"{parent.full_name if parent else compound.name}{address.label}"
    return _validated_save(address)


def do_ensure_address_path(compound: Compound, numbers: list[str]) -> Address:
    """The address at building/unit/floor/room ``numbers``, creating missing nodes on the way."""
    parent: Address | None = None
    for number in numbers:
        number = str(number).strip()
        node = Address.objects.filter(parent=parent, number=number).first()
        parent = node or do_create_address(compound, parent=parent, number=number)
    assert parent is not None
    return parent


@transaction.atomic
def do_rename_address(address: Address, *, number: str) -> Address:
    """Change an address node's number; its code stays, its full name (and its children's) follows."""
    address.number = str(number).strip()
    base = address.parent.full_name if address.parent else address.full_name.removesuffix(address.label)
    old_prefix = address.full_name
    address.full_name = f"{base}{address.label}"
    _validated_save(address)
    for child in Address.objects.filter(code__startswith=address.code).exclude(pk=address.pk):
        child.full_name = address.full_name + child.full_name.removeprefix(old_prefix)
        child.save(update_fields=["full_name"])
    return address


@transaction.atomic
def do_save_person(person: Person) -> Person:
    """Create or update a person (ID number checked by GB 11643, birth date and sex derived)."""
    return _validated_save(person)


@transaction.atomic
def do_save_house(house: House) -> House:
    """Create or update a house at a room address."""
    return _validated_save(house)


@transaction.atomic
def do_save_lease(lease: Lease) -> Lease:
    """Record a tenant's lease; the house's use becomes "rented" unless it is a group rental."""
    _validated_save(lease)
    house = lease.house
    if house.use not in ("rented", "group_rental", "commercial"):
        house.use = "rented"
        house.save(update_fields=["use", "updated_at"])
    return lease


@transaction.atomic
def do_save_organisation(organisation: Organisation) -> Organisation:
    """Create or update an organisation (USCC checked by GB 32100)."""
    return _validated_save(organisation)


@transaction.atomic
def do_save_vehicle(vehicle: Vehicle) -> Vehicle:
    """Create or update a vehicle (plate normalised and checked)."""
    return _validated_save(vehicle)


@transaction.atomic
def do_delete(obj: models.Model) -> None:
    """Delete a registry object (protected references raise ``ProtectedError``)."""
    obj.delete()
