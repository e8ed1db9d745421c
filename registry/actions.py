"""Every write to the registry goes through a ``do_*`` function here (STYLE.md §2).

Each action validates the whole object (``full_clean``: field validators, the model's
``clean()`` normalisation and unique constraints) before it writes, so the browser forms,
the API and the Excel import accept and refuse exactly the same things. In the same
transaction it writes the audit row of the change (who, which record, the verb and the names
of the fields that changed, never their values) and queues the realtime event
``registry.<model>.<verb>``, which leaves only when the transaction commits
(``district.realtime``).

``acting_user`` is the person responsible for the write; ``None`` marks a system write
(seeding, data repair from a command), recorded in the audit log without a user.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from district.audit import changed_fields, do_record_audit, do_record_change, stored_values
from district.jobs import defer_in_compound
from district.models import AuditAction
from district.permissions import SET_KEY_PERSON, has_capability
from district.realtime import send_event_on_commit
from district.typing import AnyUser
from registry.choices import POLICE_ONLY_TAGS, AddressLevel
from registry.events import BULK_CREATED, CREATED, DELETED, UPDATED, event_type, record_payload, registry_group
from registry.models import Address, House, ImportJob, Lease, Organisation, Person, Vehicle
from registry.models.addresses import CHILD_LEVEL, CODE_WIDTH
from tenants.models import Compound

M = TypeVar("M", bound=models.Model)
Actor: TypeAlias = "AnyUser | None"


def current_compound() -> Compound:
    """The compound whose schema the connection is on; a registry write anywhere else is a bug."""
    tenant = getattr(connection, "tenant", None)
    if not isinstance(tenant, Compound):
        raise RuntimeError("registry actions run inside a compound's schema (tenant_context)")
    return tenant


def _save(obj: M, acting_user: Actor, *, compound: Compound | None = None, detail: dict[str, Any] | None = None) -> M:
    """Validate, write, audit and announce one record; an edit that changes nothing writes nothing."""
    compound = compound or current_compound()
    before = stored_values(obj)
    obj.full_clean()
    fields = changed_fields(before, obj)
    if before is not None and not fields:
        return obj
    obj.save()
    verb = AuditAction.CREATE if before is None else AuditAction.UPDATE
    do_record_change(acting_user, verb, obj, fields=fields, compound=compound, detail=detail)
    event_verb = CREATED if before is None else UPDATED
    send_event_on_commit([registry_group(compound)], record_payload(obj, event_verb, compound, fields))
    return obj


@transaction.atomic
def do_create_address(compound: Compound, *, parent: Address | None, number: str, acting_user: Actor = None) -> Address:
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
    return _save(address, acting_user, compound=compound)


def do_ensure_address_path(compound: Compound, numbers: list[str], *, acting_user: Actor = None) -> Address:
    """The address at building/unit/floor/room ``numbers``, creating missing nodes on the way."""
    parent: Address | None = None
    for number in numbers:
        number = str(number).strip()
        node = Address.objects.filter(parent=parent, number=number).first()
        parent = node or do_create_address(compound, parent=parent, number=number, acting_user=acting_user)
    assert parent is not None
    return parent


@transaction.atomic
def do_rename_address(address: Address, *, number: str, acting_user: Actor = None) -> Address:
    """Change an address node's number; its code stays, its full name (and its children's) follows."""
    old_prefix = address.full_name
    base = address.parent.full_name if address.parent else old_prefix.removesuffix(address.label)
    address.number = str(number).strip()
    address.full_name = f"{base}{address.label}"
    _save(address, acting_user)
    # The children's full names are derived from this node's: one audited change, not hundreds.
    for child in Address.objects.filter(code__startswith=address.code).exclude(pk=address.pk):
        child.full_name = address.full_name + child.full_name.removeprefix(old_prefix)
        child.save(update_fields=["full_name"])
    return address


def check_police_only_tags(person: Person, acting_user: Actor, compound: Compound) -> list[str]:
    """The police-only tags (重点人员) this write sets or clears; refused without a police role here.

    System writes (``acting_user`` None: seed data, migrations) may set them.
    """
    stored = Person.objects.filter(pk=person.pk).values_list("tags", flat=True).first() if person.pk else None
    changed = sorted((set(stored or []) ^ set(person.tags or [])) & POLICE_ONLY_TAGS)
    if changed and acting_user is not None and not has_capability(acting_user, SET_KEY_PERSON, compound):
        raise ValidationError({"tags": _("Only police roles may set or clear the key-person tag.")})
    return changed


@transaction.atomic
def do_save_person(person: Person, *, acting_user: Actor = None, compound: Compound | None = None) -> Person:
    """Create or update a person (ID number checked by GB 11643, birth date and sex derived).

    With an ``acting_user``, the police-only tags may be changed only by police roles; a
    change to them is named in the audit row (``police_tags``), so setting 重点人员 leaves a trace.
    """
    compound = compound or current_compound()
    police_tags = check_police_only_tags(person, acting_user, compound)
    return _save(person, acting_user, compound=compound, detail={"police_tags": police_tags} if police_tags else None)


@transaction.atomic
def do_save_house(house: House, *, acting_user: Actor = None) -> House:
    """Create or update a house at a room address."""
    return _save(house, acting_user)


@transaction.atomic
def do_save_lease(lease: Lease, *, acting_user: Actor = None) -> Lease:
    """Record a tenant's lease; the house's use becomes "rented" unless it is a group rental."""
    _save(lease, acting_user)
    house = lease.house
    if house.use not in ("rented", "group_rental", "commercial"):
        house.use = "rented"
        _save(house, acting_user)
    return lease


@transaction.atomic
def do_save_organisation(organisation: Organisation, *, acting_user: Actor = None) -> Organisation:
    """Create or update an organisation (USCC checked by GB 32100)."""
    return _save(organisation, acting_user)


@transaction.atomic
def do_save_vehicle(vehicle: Vehicle, *, acting_user: Actor = None) -> Vehicle:
    """Create or update a vehicle (plate normalised and checked)."""
    return _save(vehicle, acting_user)


@transaction.atomic
def do_delete(obj: models.Model, *, acting_user: Actor) -> None:
    """Delete a registry record, audited and announced (protected references raise ``ProtectedError``).

    The audit row is written first, while the record still has its primary key; if the
    delete is refused, the transaction rolls back and takes the row with it.
    """
    compound = current_compound()
    pk = obj.pk
    do_record_change(acting_user, AuditAction.DELETE, obj, compound=compound)
    obj.delete()
    send_event_on_commit([registry_group(compound)], record_payload(obj, DELETED, compound, [], pk=pk))


@transaction.atomic
def do_bulk_create(
    model: type[M], objects: list[M], *, acting_user: Actor, compound: Compound | None = None
) -> list[M]:
    """Validate many new records of one kind and insert them in batches: one audit row, one event.

    For writes of thousands of rows (the demo seed; large imports), where ``_save``'s savepoint
    and queries per row would be most of the run time. ``full_clean()`` runs the field
    validators and ``clean()`` normalisation ``_save`` runs (GB 11643, phones, plates), so the
    rows are what single saves would store. What it would check with one query per row is left
    to the database, which enforces it on insert and rolls the whole batch back: unique keys,
    check constraints and foreign keys. Police-only tags are not checked: callers pass system
    data (``acting_user`` None) or have checked them.
    """
    if not objects:
        return []
    compound = compound or current_compound()
    foreign_keys = [f.name for f in model._meta.concrete_fields if f.is_relation]
    fields: set[str] = set()
    for obj in objects:
        obj.full_clean(exclude=foreign_keys, validate_unique=False, validate_constraints=False)
        fields.update(changed_fields(None, obj))
    created = model._default_manager.bulk_create(objects, batch_size=500)
    do_record_audit(
        acting_user if acting_user is not None else AnonymousUser(),
        AuditAction.CREATE,
        compound=compound,
        objects=created,
        detail={"fields": sorted(fields), "count": len(created)},
    )
    send_event_on_commit(
        [registry_group(compound)],
        {"type": event_type(model, BULK_CREATED), "compound": compound.code, "count": len(created)},
    )
    return created


@transaction.atomic
def do_create_import_job(
    *, kind: str, filename: str, content: bytes, acting_user: AnyUser, compound: Compound | None = None
) -> ImportJob:
    """Keep an uploaded workbook as a pending import job and queue its import for the job worker.

    The file and the queued job (``registry.tasks.import_workbook_job``) are written in one
    transaction: an upload that got a 2xx is never lost, even if a worker stops half-way
    through the import (it resumes), and an upload that failed queues nothing. ``compound``
    defaults to the one whose schema the connection is on.
    """
    compound = compound or current_compound()
    job = ImportJob.objects.create(kind=kind, filename=filename, file=content, created_by_id=acting_user.pk)
    defer_in_compound("registry.import_workbook", compound, import_job_id=job.pk)
    return job
