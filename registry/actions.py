"""Every write to the registry goes through a ``do_*`` function here.

Each action validates the whole object (``full_clean``: field validators, the model's
``clean()`` normalisation and unique constraints) before it writes, so the browser forms,
the API and the Excel import accept and refuse exactly the same things.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from district.scope import is_police_for
from registry.choices import POLICE_ONLY_TAGS, AddressLevel
from registry.models import Address, House, ImportJob, Lease, Organisation, Person, Vehicle
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
        raise ValidationError({"parent": _("A room has no addresses beneath it.")})
    # Serialise concurrent additions under one parent: two must not take the same sequence.
    # (SELECT … FOR UPDATE cannot lock an aggregate, and there is no row to lock for buildings.)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [compound.schema_name, parent.pk if parent else 0]
        )
    siblings = Address.objects.filter(parent=parent) if parent else Address.objects.filter(parent__isnull=True)
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
    old_prefix = address.full_name
    base = address.parent.full_name if address.parent else old_prefix.removesuffix(address.label)
    address.number = str(number).strip()
    address.full_name = f"{base}{address.label}"
    _validated_save(address)
    for child in Address.objects.filter(code__startswith=address.code).exclude(pk=address.pk):
        child.full_name = address.full_name + child.full_name.removeprefix(old_prefix)
        child.save(update_fields=["full_name"])
    return address


def check_police_only_tags(person: Person, acting_user: AbstractBaseUser | None, compound: Compound) -> None:
    """Refuse a change to police-only tags (重点人员) by a user without a police role here."""
    if acting_user is None:  # system writes: seed data, migrations
        return
    stored = Person.objects.filter(pk=person.pk).values_list("tags", flat=True).first() if person.pk else None
    before = set(stored or [])
    changed = (before ^ set(person.tags or [])) & POLICE_ONLY_TAGS
    if changed and not is_police_for(acting_user, compound):
        raise ValidationError({"tags": _("Only police roles may set or clear the key-person tag.")})


@transaction.atomic
def do_save_person(
    person: Person, *, acting_user: AbstractBaseUser | None = None, compound: Compound | None = None
) -> Person:
    """Create or update a person (ID number checked by GB 11643, birth date and sex derived).

    With an ``acting_user``, the police-only tags may be changed only by police roles.
    """
    check_police_only_tags(person, acting_user, compound or connection.tenant)
    return _validated_save(person)


@transaction.atomic
def do_save_house(house: House, *, acting_user: AbstractBaseUser | None = None) -> House:
    """Create or update a house at a room address."""
    return _validated_save(house)


@transaction.atomic
def do_save_lease(lease: Lease, *, acting_user: AbstractBaseUser | None = None) -> Lease:
    """Record a tenant's lease; the house's use becomes "rented" unless it is a group rental."""
    _validated_save(lease)
    house = lease.house
    if house.use not in ("rented", "group_rental", "commercial"):
        house.use = "rented"
        house.save(update_fields=["use", "updated_at"])
    return lease


@transaction.atomic
def do_save_organisation(organisation: Organisation, *, acting_user: AbstractBaseUser | None = None) -> Organisation:
    """Create or update an organisation (USCC checked by GB 32100)."""
    return _validated_save(organisation)


@transaction.atomic
def do_save_vehicle(vehicle: Vehicle, *, acting_user: AbstractBaseUser | None = None) -> Vehicle:
    """Create or update a vehicle (plate normalised and checked)."""
    return _validated_save(vehicle)


@transaction.atomic
def do_delete(obj: models.Model) -> None:
    """Delete a registry object (protected references raise ``ProtectedError``)."""
    obj.delete()


@transaction.atomic
def do_create_import_job(*, kind: str, filename: str, content: bytes, acting_user: AbstractBaseUser) -> ImportJob:
    """Keep an uploaded workbook as a pending import job.

    The file is stored before any row is imported: an upload that got a 2xx is never lost,
    even if the process stops half-way through the import.
    """
    return ImportJob.objects.create(kind=kind, filename=filename, file=content, created_by_id=acting_user.pk)
