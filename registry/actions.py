"""Every write to the registry goes through a ``do_*`` function here (STYLE.md §2).

Each action validates the whole object (``full_clean``: field validators, the model's
``clean()`` normalisation and unique constraints) before it writes, so the browser forms,
the API and the Excel import accept and refuse exactly the same things. In the same
transaction it writes the audit row of the change (who, which record, the verb and the names
of the fields that changed, never their values) and queues the realtime event
``registry.<model>.<verb>``, which leaves only when the transaction commits
(``district.realtime``).

The bulk actions (``do_bulk_create``, ``do_bulk_save``, ``do_ensure_address_paths``) write
thousands of records at once, for seeds and large imports: the same validation but what needs
a query per record, which the database enforces instead; one audit row per kind and verb naming
every record and the fields written, and one ``registry.<model>.bulk_<verb>`` event with a count.

``acting_user`` is the person responsible for the write; ``None`` marks a system write
(seeding, data repair from a command), recorded in the audit log without a user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, models, transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from district.audit import UNAUDITED_FIELDS, changed_fields, do_record_audit, do_record_change, stored_values
from district.jobs import defer_in_compound
from district.models import AuditAction, ProbeKind
from district.permissions import SET_KEY_PERSON, VIEW_PII, has_capability
from district.probes import ProbeLimitError, check_probe_allowed, do_record_probe
from district.realtime import send_event_on_commit
from district.typing import AnyUser
from registry.bulk import BulkOutcome, BulkRecord, insert_rows, write_records
from registry.choices import POLICE_ONLY_TAGS, AddressLevel
from registry.events import (
    BULK_CREATED,
    BULK_UPDATED,
    CREATED,
    DELETED,
    UPDATED,
    event_type,
    record_payload,
    registry_group,
)
from registry.masking import visible_tags
from registry.models import Address, House, ImportJob, Lease, Organisation, Person, Vehicle
from registry.models.addresses import CHILD_LEVEL, CODE_WIDTH
from tenants.actions import do_set_compound_population
from tenants.models import Compound

M = TypeVar("M", bound=models.Model)
# Search keys derived from another field (a person's name in pinyin): the audit names the field.
DERIVED_KEYS = frozenset({"name_pinyin", "name_initials"})


def _audited_fields(before: dict[str, Any] | None, obj: models.Model) -> list[str]:
    return [name for name in changed_fields(before, obj) if name not in DERIVED_KEYS]


Actor: TypeAlias = "AnyUser | None"


def current_compound() -> Compound:
    """The compound whose schema the connection is on; a registry write anywhere else is a bug."""
    tenant = getattr(connection, "tenant", None)
    if not isinstance(tenant, Compound):
        raise RuntimeError("registry actions run inside a compound's schema (tenant_context)")
    return tenant


def _save(
    obj: M,
    acting_user: Actor,
    *,
    compound: Compound | None = None,
    detail: dict[str, Any] | None = None,
    check: Callable[[M, dict[str, Any] | None], None] | None = None,
) -> M:
    """Validate, write, audit and announce one record; an edit that changes nothing writes nothing.

    ``check(obj, before)`` runs once the record is valid, before the write (``before``: the
    stored values, None for a new record).
    """
    compound = compound or current_compound()
    before = stored_values(obj)
    obj.full_clean()
    if check is not None:
        check(obj, before)
    fields = _audited_fields(before, obj)
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
    """The police-only tags (重点人员) this write sets or clears; only police roles change them.

    System writes (``acting_user`` None: seed data, migrations) and police roles may set and
    clear them. For anyone else they are not there to see (issue #7): a new person with one is
    refused, and an existing person keeps the ones recorded, whatever the caller sent. Were
    an edit that leaves out 重点人员 refused, or one that sends it accepted only for a key
    person, the answer would tell who is one.
    """
    stored = Person.objects.filter(pk=person.pk).values_list("tags", flat=True).first() if person.pk else None
    return _police_tag_change(person, stored, may_set=_may_set_police_tags(acting_user, compound))


def _may_set_police_tags(acting_user: Actor, compound: Compound) -> bool:
    return acting_user is None or has_capability(acting_user, SET_KEY_PERSON, compound)


def _police_tag_change(person: Person, stored: list[str] | None, *, may_set: bool) -> list[str]:
    """:func:`check_police_only_tags` given the stored tags (``None`` for a new person)."""
    if not may_set:
        if stored is None:
            if set(person.tags or []) & POLICE_ONLY_TAGS:
                raise ValidationError({"tags": _("Only police roles may set or clear the key-person tag.")})
        else:
            person.tags = sorted(set(visible_tags(person.tags, police=False)) | (set(stored) & POLICE_ONLY_TAGS))
        return []
    return sorted((set(stored or []) ^ set(person.tags or [])) & POLICE_ONLY_TAGS)


class _IdentityTakenError(Exception):
    """The person's ID number is registered to another record (leaves do_save_person as a ValidationError)."""


def _shows_pii(acting_user: Actor, compound: Compound) -> bool:
    return acting_user is None or has_capability(acting_user, VIEW_PII, compound)


def check_identity_free(person: Person, before: dict[str, Any] | None, acting_user: Actor, compound: Compound) -> None:
    """Refuse a new or changed ID number that another person of the compound already has.

    Telling a user "already registered" is needed, but for a user who sees ID numbers masked
    it is a whole-identifier lookup like a search (issue #7): such a user is refused by
    ``district.probes`` *before* the number is looked up when over the lookup limit (whether
    it is registered or not, so the refusal says nothing), and the answer "already registered"
    is recorded as a lookup by :func:`do_save_person`. ``full_clean`` does not check this
    (``Person.get_constraints``): the forms and the API report every other error first, alike
    for registered and unregistered numbers, and only a record that is valid in every other
    respect reaches this check.
    """
    if before is not None and (before["id_type"], before["id_number"]) == (person.id_type, person.id_number):
        return
    if acting_user is not None and not _shows_pii(acting_user, compound):
        check_probe_allowed(acting_user, compound, ProbeKind.REGISTERED_ID, q=person.id_number)
    # Serialise registrations of one number, so two concurrent ones cannot both pass the check.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
            [f"{compound.schema_name}:person_identity", f"{person.id_type}:{person.id_number}"],
        )
    holder = Person.objects.filter(id_type=person.id_type, id_number=person.id_number).exclude(pk=person.pk)
    holder_id = holder.values_list("pk", flat=True).first()
    if holder_id is not None:
        raise _IdentityTakenError(holder_id)


def do_save_person(
    person: Person,
    *,
    acting_user: Actor = None,
    compound: Compound | None = None,
) -> Person:
    """Create or update a person (ID number checked by GB 11643, birth date and sex derived).

    With an ``acting_user``, the police-only tags may be changed only by police roles
    (:func:`check_police_only_tags`); a change to them is named in the audit row
    (``police_tags``), so setting 重点人员 leaves a trace.

    An ID number another person already has is refused (``ValidationError`` on
    ``id_number``) only once everything else is valid (:func:`check_identity_free`). For a
    user who sees ID numbers masked that answer is a lookup, recorded by ``district.probes``
    (audit row, counted against the user's limit) *after* the write's transaction has rolled
    back, so the record survives the refusal: in the caller's transaction, which the pages
    and the API do not open. Over the limit, ``district.probes.ProbeLimitError``.
    """
    compound = compound or current_compound()
    try:
        return _write_person(person, acting_user, compound)
    except _IdentityTakenError as taken:
        _record_id_lookup(person.id_number, list(taken.args), acting_user=acting_user, compound=compound)
        raise ValidationError(
            {"id_number": _("A person with this ID number is already registered in this compound.")}
        ) from None


def do_record_identity_match(person: Person, *, acting_user: Actor, compound: Compound) -> None:
    """A caller found ``person`` by a whole ID number the user supplied (an import row keyed by it).

    For a user who sees ID numbers masked, updating "the person with this number" rather than
    registering a new one answers whether the number is registered: a lookup like a search,
    recorded and counted by ``district.probes`` (``ProbeLimitError`` over the limit).
    """
    _record_id_lookup(person.id_number, [person.pk], acting_user=acting_user, compound=compound)


def _record_id_lookup(number: str, found: list[int], *, acting_user: Actor, compound: Compound) -> None:
    """A whole ID number answered "registered" to a user who sees ID numbers masked: a counted probe."""
    if acting_user is None or _shows_pii(acting_user, compound):
        return
    do_record_probe(
        acting_user,
        compound,
        ProbeKind.REGISTERED_ID,
        hit=True,
        q=number,
        object_type=Person._meta.label_lower,
        object_ids=found,
    )


@transaction.atomic
def _write_person(person: Person, acting_user: Actor, compound: Compound) -> Person:
    police_tags = check_police_only_tags(person, acting_user, compound)
    was_resident = person.pk is not None and _residents().filter(pk=person.pk).exists()
    saved = _save(
        person,
        acting_user,
        compound=compound,
        detail={"police_tags": police_tags} if police_tags else None,
        check=lambda obj, before: check_identity_free(obj, before, acting_user, compound),
    )
    _shift_population(compound, int(_is_resident(saved)) - int(was_resident))
    return saved


def _residents() -> models.QuerySet[Person]:
    """The compound's current residents: living in one of its houses, not moved out."""
    return Person.objects.filter(house__isnull=False, move_out_date__isnull=True)


def _is_resident(person: Person) -> bool:
    return person.house_id is not None and person.move_out_date is None


def _shift_population(compound: Compound, delta: int) -> None:
    """One person's write moved the count by ``delta``: update it in the same transaction.

    An increment, not a recount: an import saves persons one by one, and counting the residents
    after each would make a 100,000-row import quadratic. Deletes and bulk inserts recount
    (:func:`_recount_population`), which also corrects a count recorded by hand.
    """
    if delta:
        Compound.objects.filter(pk=compound.pk).update(population=Greatest(F("population") + delta, 0))
        compound.refresh_from_db(fields=["population"])


def _recount_population(compound: Compound) -> None:
    """Record the compound's population as its current residents (the home page's cards show it)."""
    residents = _residents().count()
    if compound.population != residents:
        do_set_compound_population(compound, residents)


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
    if isinstance(obj, (Person, House)):  # a house's residents lose it (SET_NULL): no longer counted
        _recount_population(compound)
    send_event_on_commit([registry_group(compound)], record_payload(obj, DELETED, compound, [], pk=pk))


@transaction.atomic
def do_bulk_create(
    model: type[M],
    objects: list[M],
    *,
    acting_user: Actor,
    compound: Compound | None = None,
    detail: dict[str, Any] | None = None,
) -> list[M]:
    """Validate many new records of one kind and insert them with COPY: one audit row, one event.

    For writes of thousands of rows (the demo seed; large imports), where ``_save``'s savepoint
    and queries per row would be most of the run time. ``full_clean()`` runs the field
    validators and ``clean()`` normalisation ``_save`` runs (GB 11643, phones, plates), so the
    rows are what single saves would store. What it would check with one query per row is left
    to the database, which enforces it on insert and rolls the whole batch back: unique keys,
    check constraints and foreign keys. Police-only tags are not checked: callers pass system
    data (``acting_user`` None) or have checked them. ``detail`` is added to the audit row.
    """
    if not objects:
        return []
    compound = compound or current_compound()
    foreign_keys = [f.name for f in model._meta.concrete_fields if f.is_relation]
    fields: set[str] = set()
    for obj in objects:
        obj.full_clean(exclude=foreign_keys, validate_unique=False, validate_constraints=False)
        fields.update(_audited_fields(None, obj))
    insert_rows(model, objects)
    if model is Person:
        _recount_population(compound)
    do_record_audit(
        acting_user if acting_user is not None else AnonymousUser(),
        AuditAction.CREATE,
        compound=compound,
        objects=objects,
        detail={"fields": sorted(fields), "count": len(objects), **(detail or {})},
    )
    send_event_on_commit(
        [registry_group(compound)],
        {"type": event_type(model, BULK_CREATED), "compound": compound.code, "count": len(objects)},
    )
    return objects


# --- Bulk writes: thousands of records in one transaction (large imports) ----------------------

AddressPath: TypeAlias = tuple[str, ...]
# The level of the n-th number of a path (building/unit/floor/room), as do_create_address gives them.
PATH_LEVELS = (AddressLevel.BUILDING, AddressLevel.UNIT, AddressLevel.FLOOR, AddressLevel.ROOM)


def _path(numbers: Sequence[object]) -> AddressPath:
    return tuple(str(number).strip() for number in numbers)


def _find_level(prefixes: Iterable[AddressPath], found: dict[AddressPath, Address]) -> dict[AddressPath, Address]:
    """The stored addresses at paths of one depth whose parents are in ``found`` (buildings: no parent)."""
    prefixes = set(prefixes)
    if not prefixes:
        return {}
    if len(next(iter(prefixes))) == 1:
        parents: dict[int | None, AddressPath] = {None: ()}
        level = Address.objects.filter(parent__isnull=True)
    else:
        parents = {found[p[:-1]].pk: p[:-1] for p in prefixes if p[:-1] in found}
        level = Address.objects.filter(parent_id__in=[pk for pk in parents if pk is not None])
    if not parents:
        return {}
    stored = {}
    for address in level.filter(number__in={path[-1] for path in prefixes}).order_by():
        path = (*parents[address.parent_id], address.number)
        if path in prefixes:
            stored[path] = address
    return stored


def _find_prefixes(wanted: Iterable[AddressPath]) -> dict[AddressPath, Address]:
    """The stored addresses at the paths and at every path above them: one query per level."""
    wanted = list(wanted)
    found: dict[AddressPath, Address] = {}
    for depth in range(1, max(map(len, wanted), default=0) + 1):
        found.update(_find_level({path[:depth] for path in wanted if len(path) >= depth}, found))
    return found


def find_address_paths(paths: Iterable[Sequence[object]]) -> dict[AddressPath, Address]:
    """The stored addresses at these building/unit/floor/room paths; a path not (yet) stored is left out."""
    wanted = {_path(path) for path in paths if path}
    return {path: address for path, address in _find_prefixes(wanted).items() if path in wanted}


@dataclass
class AddressPaths:
    """What :func:`do_ensure_address_paths` found or made: an address per path, or why there is none."""

    found: dict[AddressPath, Address] = field(default_factory=dict)
    refused: dict[AddressPath, ValidationError] = field(default_factory=dict)


@transaction.atomic
def do_ensure_address_paths(
    compound: Compound,
    paths: Iterable[Sequence[object]],
    *,
    acting_user: Actor = None,
    detail: dict[str, Any] | None = None,
) -> AddressPaths:
    """The addresses at many building/unit/floor/room paths, creating missing nodes: one audit row, one event.

    :func:`do_ensure_address_path` for thousands of paths (a roster's rooms), where a lock,
    18 queries and an audit row per node would take most of an import's time. Missing nodes
    are created level by level, in the order the paths first name them, under the same
    per-parent advisory locks as :func:`do_create_address` and with the codes and full names
    it gives; each is validated (``full_clean``) first. A path whose new node is invalid (a
    full name past its length, a fifth level) is answered in ``refused``, and so is every
    path beneath it; nothing is created for it. One audit row names every node created (its
    ``detail`` adds the caller's ``detail``), and one ``registry.address.bulk_created`` event
    says how many, on commit.
    """
    wanted = list(dict.fromkeys(_path(path) for path in paths if path))
    result = AddressPaths()
    for path in wanted:
        if len(path) > len(PATH_LEVELS):
            result.refused[path] = ValidationError({"parent": _("A room has no addresses beneath it.")})
    wanted = [path for path in wanted if path not in result.refused]
    found = _find_prefixes(wanted)
    created: list[Address] = []
    for depth in range(1, max(map(len, wanted), default=0) + 1):
        missing = [
            prefix
            for prefix in dict.fromkeys(path[:depth] for path in wanted if len(path) >= depth)
            if prefix not in found and (depth == 1 or prefix[:-1] in found)
        ]
        if missing:
            created += _create_level(compound, depth, missing, found, result.refused)
    for path in wanted:
        if path in found:
            result.found[path] = found[path]
        else:
            # Every missing node was created or refused, and the paths beneath a refused one with it.
            above = next(path[:n] for n in range(1, len(path) + 1) if path[:n] in result.refused)
            result.refused[path] = result.refused[above]
    if created:
        fields = sorted({name for address in created for name in _audited_fields(None, address)})
        do_record_audit(
            acting_user if acting_user is not None else AnonymousUser(),
            AuditAction.CREATE,
            compound=compound,
            objects=created,
            detail={"fields": fields, "count": len(created), **(detail or {})},
        )
        send_event_on_commit(
            [registry_group(compound)],
            {"type": event_type(Address, BULK_CREATED), "compound": compound.code, "count": len(created)},
        )
    return result


def _create_level(
    compound: Compound,
    depth: int,
    missing: list[AddressPath],
    found: dict[AddressPath, Address],
    refused: dict[AddressPath, ValidationError],
) -> list[Address]:
    """Create the nodes ``missing`` (all at ``depth``) under their stored parents; add them to ``found``."""
    parents = {path[:-1]: found[path[:-1]] if depth > 1 else None for path in missing}
    parent_ids = sorted({parent.pk if parent else 0 for parent in parents.values()})
    # The locks of do_create_address, one per parent, taken in one statement and in one order
    # (ascending ids, levels top down), so that two imports cannot deadlock.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), parent) FROM unnest(%s::int[]) AS parent",
            [compound.schema_name, parent_ids],
        )
    # Under the locks: what another writer created before it let go, and the last sequences.
    found.update(_find_level(missing, found))
    missing = [path for path in missing if path not in found]
    siblings = (
        Address.objects.filter(parent__isnull=True)
        if depth == 1
        else Address.objects.filter(parent_id__in=[pk for pk in parent_ids if pk])
    )
    last: dict[int | None, int] = {
        row["parent_id"]: row["last"] for row in siblings.values("parent_id").annotate(last=Max("seq")).order_by()
    }
    level = PATH_LEVELS[depth - 1]
    nodes: list[tuple[AddressPath, Address]] = []
    for path in missing:
        parent = parents[path[:-1]]
        key = parent.pk if parent else None
        last[key] = seq = (last.get(key) or 0) + 1
        node = Address(level=level, parent=parent, number=path[-1], seq=seq)
        node.code = f"{parent.code if parent else compound.code}{seq:0{CODE_WIDTH[level]}d}"
        node.full_name = f"{parent.full_name if parent else compound.name}{node.label}"
        try:
            node.full_clean(exclude=["parent"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            refused[path] = exc
            continue
        nodes.append((path, node))
    insert_rows(Address, [node for _path_, node in nodes])
    found.update(nodes)
    return [node for _path_, node in nodes]


# A whole-identifier lookup that no one can have made (no ID number or phone holds a NUL): the
# answer to it is the user's allowance for a new lookup of any number.
_NO_SUCH_LOOKUP = "\x00"


@transaction.atomic
def do_bulk_save(
    model: type[M],
    records: list[BulkRecord[M]],
    *,
    acting_user: Actor,
    compound: Compound | None = None,
    detail: dict[str, Any] | None = None,
    prepare: Callable[[list[BulkRecord[M]]], None] | None = None,
) -> list[BulkRecord[M]]:
    """Validate, create and update many records of one kind: a refused record does not stop the rest.

    The bulk counterpart of ``do_save_person``/``_house``/``_organisation`` for large imports,
    where a savepoint, an audit row and an event per record would be most of the run time. Each
    record is validated as they validate it (``full_clean``: field validators, ``clean()``
    normalisation; for persons the police-only tags, :func:`check_police_only_tags`), except
    what takes a query per record: foreign keys, uniqueness and check constraints are left to
    the database, and the caller finds records by their natural key. A stored record whose
    values do not change is ``unchanged`` and not validated again. For a user who sees ID
    numbers masked, a person found by the ID number the user sent is a counted lookup
    (:func:`do_record_identity_match`), and a new one is registered only within the lookup
    limit (:func:`check_identity_free`), in the order of ``records``.

    ``prepare(records)`` is called with the records about to be written, all valid; it may
    fill in their ``pending`` fields, or ``refuse()`` some. Then the creates and updates are
    written in batches; if the database refuses a batch (a record saved meanwhile by someone
    else), each record is written on its own in a savepoint and those refused are reported.

    One audit row per verb names the records created (or updated), the fields written and
    their count, never values, plus ``detail``; one ``registry.<model>.bulk_created`` (or
    ``bulk_updated``) event says how many, on commit. Returns ``records``, each with its
    ``outcome`` or ``error``.
    """
    compound = compound or current_compound()
    foreign_keys = [f.name for f in model._meta.concrete_fields if f.is_relation]
    may_set = _may_set_police_tags(acting_user, compound) if model is Person else True
    for record in records:
        _check_bulk_record(record, foreign_keys, may_set)
    if model is Person and not _shows_pii(acting_user, compound):
        _count_bulk_lookups(records, acting_user, compound)
    writes = [record for record in records if record.error is None and record.outcome is None]
    if prepare is not None and writes:
        prepare(writes)
        writes = [record for record in writes if record.error is None]
    write_records(model, writes)
    _announce_bulk_writes(model, writes, acting_user, compound, detail)
    return records


def _check_bulk_record(record: BulkRecord[Any], foreign_keys: list[str], may_set_police_tags: bool) -> None:
    """Validate one record of a bulk save; mark it unchanged, refused, or to be written."""
    obj, errors = record.obj, {name: list(messages) for name, messages in record.problems.items()}
    if isinstance(obj, Person):
        stored = record.before["tags"] if record.before is not None else None
        try:
            record.police_tags = _police_tag_change(obj, stored, may_set=may_set_police_tags)
        except ValidationError as exc:
            _merge_errors(errors, exc)
    if record.before is not None and not errors and not record.pending and not changed_fields(record.before, obj):
        record.outcome = BulkOutcome.UNCHANGED  # what the row says is what is stored: nothing to check
        return
    try:
        obj.full_clean(exclude=foreign_keys, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        _merge_errors(errors, exc)
    if errors:
        record.refuse(ValidationError(errors))
        return
    if record.before is None:
        return  # a new record: the audit row names the fields filled in, found once for all (_filled_fields)
    record.fields = sorted(set(_audited_fields(record.before, obj)) | record.pending)
    if not record.fields:
        record.outcome = BulkOutcome.UNCHANGED


def _filled_fields(records: list[BulkRecord[Any]]) -> list[str]:
    """The fields any of these new records fills in, as ``changed_fields`` names them for one.

    Each field is looked at only until a record fills it: for thousands of records, the
    answer costs a look at each record's few empty fields, not at all its fields.
    """
    if not records:
        return []
    meta = records[0].obj._meta
    unseen = {f for f in meta.concrete_fields if f.name not in UNAUDITED_FIELDS and f.name not in DERIVED_KEYS}
    defaults = {f: f.get_default() for f in unseen}
    filled = {name for record in records for name in record.pending}
    for record in records:
        for f in [f for f in unseen if getattr(record.obj, f.attname) not in (None, "", [], {}, defaults[f])]:
            unseen.discard(f)
            filled.add(f.name)
        if not unseen:
            break
    return sorted(filled)


def _merge_errors(errors: dict[str, list[str]], exc: ValidationError) -> None:
    found = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    for name, messages in found.items():
        known = errors.setdefault(name, [])
        known += [message for message in messages if message not in known]


def _count_bulk_lookups(records: list[BulkRecord[Any]], acting_user: Actor, compound: Compound) -> None:
    """The ID-number lookups of a masked user's bulk save of persons, as the single saves count them."""
    assert acting_user is not None
    allowed: bool | None = None  # may the user look up a new number now? Asked once, until a lookup is recorded
    for record in records:
        if record.error is not None:
            continue
        try:
            if record.before is not None:
                do_record_identity_match(record.obj, acting_user=acting_user, compound=compound)
                allowed = None
                continue
            if allowed is None:
                allowed = _may_look_up(acting_user, compound, _NO_SUCH_LOOKUP)
            if not allowed:
                # Over the limit, the same lookup again may still be answered (district.probes).
                check_probe_allowed(acting_user, compound, ProbeKind.REGISTERED_ID, q=record.obj.id_number)
        except ProbeLimitError as refused:
            record.refuse(ValidationError({"id_number": refused.message}))


def _may_look_up(acting_user: AnyUser, compound: Compound, number: str) -> bool:
    try:
        check_probe_allowed(acting_user, compound, ProbeKind.REGISTERED_ID, q=number)
    except ProbeLimitError:
        return False
    return True


def _announce_bulk_writes(
    model: type[M], writes: list[BulkRecord[M]], acting_user: Actor, compound: Compound, detail: dict[str, Any] | None
) -> None:
    """One audit row and one event per verb; the population recounted after a write of persons."""
    actor = acting_user if acting_user is not None else AnonymousUser()
    for outcome, verb, event_verb in (
        (BulkOutcome.CREATED, AuditAction.CREATE, BULK_CREATED),
        (BulkOutcome.UPDATED, AuditAction.UPDATE, BULK_UPDATED),
    ):
        done = [record for record in writes if record.outcome == outcome]
        if not done:
            continue
        if outcome == BulkOutcome.CREATED:
            fields = _filled_fields(done)
        else:
            fields = sorted({name for record in done for name in record.fields})
        police = [record for record in done if record.police_tags]
        extra: dict[str, Any] = {}
        if police:
            # Setting or clearing 重点人员 leaves a trace naming whom, as a single save's row does.
            extra = {
                "police_tags": sorted({tag for record in police for tag in record.police_tags}),
                "police_tag_ids": [record.obj.pk for record in police],
            }
        do_record_audit(
            actor,
            verb,
            compound=compound,
            objects=[record.obj for record in done],
            detail={"fields": fields, "count": len(done), **extra, **(detail or {})},
        )
        payload: dict[str, Any] = {"type": event_type(model, event_verb), "compound": compound.code, "count": len(done)}
        if outcome == BulkOutcome.UPDATED:
            payload["fields"] = fields
        send_event_on_commit([registry_group(compound)], payload)
    if model is Person and writes:
        _recount_population(compound)


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
