"""Seed a demo city (济南市): areas, compounds with their registries, and demo logins.

Idempotent: every row is looked up by its natural key (area and compound code, address path,
ID number, credit code, plate, username) and only missing rows are written, so a second run
with the same options writes nothing. The content comes from ``district.demo_data`` with a
fixed seed, so every machine gets the same demo.
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import models, transaction
from django_tenants.utils import tenant_context

from district.demo_data import (
    AREAS,
    COMPOUNDS,
    DEFAULT_PERSONS_PER_COMPOUND,
    DEMO_LOGINS,
    DEMO_SEED,
    CompoundPlan,
    CompoundSpec,
    RoomPath,
    plan_compound,
)
from district.models import Area, RoleAssignment
from registry.actions import do_create_address, do_save_organisation
from registry.choices import HouseUse
from registry.models import Address, House, Lease, Organisation, Person, Vehicle
from tenants.actions import do_create_compound, do_set_compound_population
from tenants.models import Compound

# Uses under which do_save_lease leaves a house as it is.
LEASED_USES = frozenset({HouseUse.RENTED, HouseUse.GROUP_RENTAL})


class ProgressBar:
    """``[#####.....]  40% 5/12 compounds`` on one line of a terminal, one line per step elsewhere."""

    def __init__(self, out: OutputWrapper, total: int, label: str, width: int = 30) -> None:
        self.out, self.total, self.label, self.width = out, total, label, width
        # Redrawing in place only makes sense on a terminal; logs and tests get plain lines.
        self.in_place = out.isatty()

    def update(self, done: int, note: str = "") -> None:
        filled = self.width * done // self.total if self.total else self.width
        percent = 100 * done // self.total if self.total else 100
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% {done}/{self.total} {self.label}"
        line = f"{line}  {note}" if note else line
        if self.in_place:
            self.out.write(f"\r{line}\033[K", ending="\n" if done >= self.total else "")
            self.out.flush()
        else:
            self.out.write(line)


def _bulk_create_validated(model: type[models.Model], objects: list[models.Model]) -> int:
    """Validate every object as the registry's actions do, then insert them in one statement.

    Why not the ``do_save_*`` actions: they cost a savepoint and several queries per row, which
    for thousands of persons would be most of the seed's run time. ``full_clean()`` runs the
    same field validators and model ``clean()`` normalisation the actions run (GB 11643, phones,
    plates), so the rows are exactly what the actions would have stored. The checks it would
    make with one query per row are left to the database, which enforces them on insert anyway:
    unique keys (the caller passes only keys missing from the schema, and the plan has no
    duplicates), check constraints (move-out after move-in, lease end after start) and foreign
    keys (every related object was just read from or written to this schema).
    """
    foreign_keys = [f.name for f in model._meta.concrete_fields if f.is_relation]
    for obj in objects:
        obj.full_clean(exclude=foreign_keys, validate_unique=False, validate_constraints=False)
    model.objects.bulk_create(objects, batch_size=500)
    return len(objects)


class CompoundSeeder:
    """Writes one compound's plan into its schema, creating only what is missing."""

    def __init__(self, compound: Compound, plan: CompoundPlan, counts: Counter[str]) -> None:
        self.compound, self.plan, self.counts = compound, plan, counts

    def run(self) -> int:
        """Seed the schema; returns the number of current residents."""
        rooms = self.ensure_addresses([*self.plan.rooms])
        houses = self.ensure_houses(rooms)
        persons = self.ensure_persons(houses)
        self.ensure_leases(houses, persons)
        self.ensure_organisations(rooms)
        self.ensure_vehicles(persons)
        return Person.objects.filter(house__isnull=False, move_out_date__isnull=True).count()

    def ensure_addresses(self, paths: Iterable[RoomPath]) -> dict[RoomPath, Address]:
        """The room address of every path, creating missing nodes through the registry action."""
        nodes = {(a.parent_id, a.number): a for a in Address.objects.all()}
        rooms: dict[RoomPath, Address] = {}
        for path in paths:
            parent: Address | None = None
            for number in path:
                node = nodes.get((parent.pk if parent else None, number))
                if node is None:
                    node = do_create_address(self.compound, parent=parent, number=number)
                    nodes[(node.parent_id, number)] = node
                    self.counts["addresses"] += 1
                parent = node
            assert parent is not None
            rooms[path] = parent
        return rooms

    def ensure_houses(self, rooms: dict[RoomPath, Address]) -> dict[RoomPath, House]:
        existing = {h.address_id: h for h in House.objects.all()}
        missing = [
            House(
                address=rooms[h.path],
                use=h.use,
                area_sqm=h.area_sqm,
                owner_name=h.owner_name,
                owner_id_number=h.owner_id_number,
                owner_phone=h.owner_phone,
            )
            for h in self.plan.houses
            if rooms[h.path].pk not in existing
        ]
        self.counts["houses"] += _bulk_create_validated(House, missing)
        by_address = {h.address_id: h for h in House.objects.all()}
        return {path: by_address[address.pk] for path, address in rooms.items() if address.pk in by_address}

    def ensure_persons(self, houses: dict[RoomPath, House]) -> dict[str, Person]:
        existing = set(Person.objects.values_list("id_type", "id_number"))
        missing = [
            Person(
                name=p.name,
                id_type=p.id_type,
                id_number=p.id_number,
                nationality=p.nationality,
                phone=p.phone,
                residence_type=p.residence_type,
                house=houses[p.house],
                relation=p.relation,
                move_in_date=p.move_in_date,
                move_out_date=p.move_out_date,
                tags=list(p.tags),
            )
            for p in self.plan.persons
            if (p.id_type, p.id_number) not in existing
        ]
        self.counts["persons"] += _bulk_create_validated(Person, missing)
        wanted = {p.id_number for p in self.plan.persons}
        return {p.id_number: p for p in Person.objects.filter(id_number__in=wanted)}

    def ensure_leases(self, houses: dict[RoomPath, House], persons: dict[str, Person]) -> None:
        existing = set(Lease.objects.values_list("house_id", "tenant_id", "start_date"))
        missing = []
        for lease in self.plan.leases:
            house, tenant = houses[lease.house], persons[lease.tenant_id_number]
            # do_save_lease would also mark the house as rented; planned leases are only ever
            # on houses seeded as rented or group rentals, so inserting them directly is the same.
            assert house.use in LEASED_USES, (house, house.use)
            if (house.pk, tenant.pk, lease.start_date) not in existing:
                missing.append(Lease(house=house, tenant=tenant, start_date=lease.start_date, end_date=lease.end_date))
        self.counts["leases"] += _bulk_create_validated(Lease, missing)

    def ensure_organisations(self, rooms: dict[RoomPath, Address]) -> None:
        existing = set(Organisation.objects.exclude(uscc=None).values_list("uscc", flat=True))
        for org in self.plan.organisations:
            if org.uscc in existing:
                continue
            do_save_organisation(
                Organisation(
                    name=org.name,
                    uscc=org.uscc,
                    kind=org.kind,
                    address=rooms[org.address] if org.address else None,
                    address_detail=org.address_detail,
                    legal_representative=org.legal_representative,
                    contact_name=org.contact_name,
                    contact_phone=org.contact_phone,
                    staff_count=org.staff_count,
                )
            )
            self.counts["organisations"] += 1

    def ensure_vehicles(self, persons: dict[str, Person]) -> None:
        existing = set(Vehicle.objects.values_list("plate", flat=True))
        missing = [
            Vehicle(
                plate=v.plate,
                vehicle_type=v.vehicle_type,
                brand=v.brand,
                colour=v.colour,
                owner=persons[v.owner_id_number],
            )
            for v in self.plan.vehicles
            if v.plate not in existing
        ]
        self.counts["vehicles"] += _bulk_create_validated(Vehicle, missing)


class Command(BaseCommand):
    help = "Seed the demo city 济南市 (areas, compounds, registries, demo logins). Safe to run again."

    # What the summary line reports, in this order.
    COUNTED = (
        "areas", "compounds", "addresses", "houses", "persons", "leases", "organisations", "vehicles", "users", "roles",
    )  # fmt: skip

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--compounds",
            type=int,
            default=len(COMPOUNDS),
            help=f"How many of the {len(COMPOUNDS)} demo compounds to seed (default: all).",
        )
        parser.add_argument(
            "--persons-per-compound",
            type=int,
            default=DEFAULT_PERSONS_PER_COMPOUND,
            help=f"Persons seeded in each compound (default {DEFAULT_PERSONS_PER_COMPOUND}).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEMO_SEED,
            help="Random seed of the generated persons (default: the fixed demo seed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        n_compounds, per_compound = options["compounds"], options["persons_per_compound"]
        if not 0 <= n_compounds <= len(COMPOUNDS):
            raise CommandError(f"--compounds must be between 0 and {len(COMPOUNDS)}.")
        if per_compound < 1:
            raise CommandError("--persons-per-compound must be at least 1.")
        started = time.monotonic()
        counts: Counter[str] = Counter()

        areas = self.ensure_areas(counts)
        specs = COMPOUNDS[:n_compounds]
        self.stdout.write(f"Seeding 济南市: {len(specs)} compounds of about {per_compound} persons each.")
        bar = ProgressBar(self.stdout, len(specs), "compounds")
        for done, spec in enumerate(specs, start=1):
            compound = self.seed_compound(spec, areas[spec.street_code], per_compound, options["seed"], counts)
            bar.update(done, f"{compound.code} {compound.name}")
        self.ensure_logins(areas, counts)

        summary = ", ".join(f"{key} {counts[key]}" for key in self.COUNTED)
        self.stdout.write(f"Created: {summary} ({time.monotonic() - started:.1f} s).")
        self.stdout.write(self.logins_table())

    @transaction.atomic
    def ensure_areas(self, counts: Counter[str]) -> dict[str, Area]:
        """The city, its districts and streets, by code (existing areas are kept as they are)."""
        areas = {a.code: a for a in Area.objects.filter(code__in=[spec.code for spec in AREAS])}
        for spec in AREAS:
            if spec.code in areas:
                continue
            area = Area(level=spec.level, code=spec.code, name=spec.name, parent=areas.get(spec.parent_code or ""))
            area.full_clean()
            area.save()
            areas[spec.code] = area
            counts["areas"] += 1
        return areas

    @transaction.atomic
    def seed_compound(
        self, spec: CompoundSpec, street: Area, per_compound: int, seed: int, counts: Counter[str]
    ) -> Compound:
        """Create the compound if its code is new, then fill in whatever its schema lacks.

        One transaction per compound: an interrupted seed leaves whole compounds, and the next
        run picks up where it stopped.
        """
        plan = plan_compound(spec, per_compound, seed)
        compound = Compound.objects.filter(code=spec.code).first()
        if compound is None:
            compound = do_create_compound(
                street=street,
                name=spec.name,
                address=spec.address,
                latitude=spec.latitude,
                longitude=spec.longitude,
                plan=spec.plan,
                population=plan.population,
                code=spec.code,
            )
            counts["compounds"] += 1
        with tenant_context(compound):
            residents = CompoundSeeder(compound, plan, counts).run()
        if compound.population != residents:
            # A compound that existed before the seed (or gained residents since) gets its
            # population recounted.
            do_set_compound_population(compound, residents)
        return compound

    @transaction.atomic
    def ensure_logins(self, areas: dict[str, Area], counts: Counter[str]) -> None:
        """The demo users and their roles; passwords are set only when a user is created."""
        user_model = get_user_model()
        # One hash for every demo user: they share a published password, so separate salts
        # would protect nothing, and each PBKDF2 hash costs a third of a second.
        hashes: dict[str, str] = {}
        for login in DEMO_LOGINS:
            user = user_model.objects.filter(username=login.username).first()
            if user is None:
                user = user_model(username=login.username, is_superuser=not login.role, is_staff=not login.role)
                if login.password not in hashes:
                    hashes[login.password] = make_password(login.password)
                user.password = hashes[login.password]
                user.full_clean()
                user.save()
                counts["users"] += 1
            if not login.role:
                continue
            node = {"area": areas[login.node]} if login.node in areas else {}
            if not node:
                compound = Compound.objects.filter(code=login.node).first()
                if compound is None:
                    self.stderr.write(f"Skipped {login.username}: compound {login.node} is not seeded.")
                    continue
                node = {"compound": compound}
            if not RoleAssignment.objects.filter(user=user, role=login.role, **node).exists():
                assignment = RoleAssignment(user=user, role=login.role, **node)
                assignment.full_clean()
                assignment.save()
                counts["roles"] += 1

    @staticmethod
    def logins_table() -> str:
        """The demo logins as a plain-text table, aligned for CJK (double-width) characters."""
        rows = [("username", "role", "node", "password")]
        rows += [
            (x.username, x.role or "superuser", f"{x.node_name} {x.node}".strip(), x.password) for x in DEMO_LOGINS
        ]
        widths = [max(_display_width(r[i]) for r in rows) for i in range(4)]
        lines = ["Demo logins:"]
        for row in rows:
            cells = [cell + " " * (width - _display_width(cell)) for cell, width in zip(row, widths, strict=True)]
            lines.append("  " + "  ".join(cells).rstrip())
        return "\n".join(lines)


def _display_width(text: str) -> int:
    """Terminal columns of ``text``: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
