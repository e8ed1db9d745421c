"""Seed a demo city (济南市): areas, compounds with their registries, and demo logins.

Each domain seeds its own part (``district.demo``, ``tenants.demo``, ``registry.demo``); this
command only calls them in order and reports. Idempotent: every row is looked up by its natural
key (area and compound code, address path, ID number, credit code, plate, username) and only
missing rows are written, so a second run with the same options writes nothing. The content
comes from a fixed seed, so every machine gets the same demo.
"""

from __future__ import annotations

import time
import unicodedata
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import transaction
from django.utils import timezone

from district.demo import DEMO_LOGINS, seed_areas, seed_logins
from district.models import Area
from mediation.demo import seed_cases
from registry.demo import DEFAULT_PERSONS_PER_COMPOUND, DEMO_SEED, plan_registry, seed_registry
from safety.demo import DEMO_INDEX_DAYS, seed_incidents, seed_index_history
from tenants.actions import do_set_compound_population
from tenants.demo import COMPOUNDS, CompoundSpec, seed_compound
from tenants.models import Compound


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


class Command(BaseCommand):
    help = "Seed the demo city 济南市 (areas, compounds, registries, demo logins). Safe to run again."

    # What the summary line reports, in this order.
    COUNTED = (
        "areas", "compounds", "addresses", "houses", "persons", "leases", "organisations", "vehicles", "users", "roles",
        "cases", "incidents", "index days",
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
            "--no-index-history",
            dest="index_days",
            action="store_false",
            help=f"Skip computing the safety index of the last {DEMO_INDEX_DAYS} days.",
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

        areas = seed_areas(counts)
        specs = COMPOUNDS[:n_compounds]
        self.stdout.write(f"Seeding 济南市: {len(specs)} compounds of about {per_compound} persons each.")
        bar = ProgressBar(self.stdout, len(specs), "compounds")
        for done, spec in enumerate(specs, start=1):
            compound = self.seed_one_compound(spec, areas[spec.street_code], per_compound, options["seed"], counts)
            bar.update(done, f"{compound.code} {compound.name}")
        # After the compounds: the compound roles (物业, 民警, …) need their compound to exist.
        for login in seed_logins(areas, counts):
            self.stderr.write(f"Skipped {login.username}: compound {login.node} is not seeded.")
        # Last: the index history reads what the compounds hold (issue #12: dashboards not empty).
        city = next(area for area in areas.values() if area.level == "city")
        today = timezone.localdate()
        seeded = list(Compound.objects.filter(code__in=[spec.code for spec in specs]).order_by("code"))
        seed_incidents(city, seeded, counts, today=today)
        seed_cases(seeded, counts)
        if options["index_days"]:
            self.stdout.write(f"Computing the safety index of the last {DEMO_INDEX_DAYS} days …")
            seed_index_history(city, counts, today=today)

        summary = ", ".join(f"{key} {counts[key]}" for key in self.COUNTED)
        self.stdout.write(f"Created: {summary} ({time.monotonic() - started:.1f} s).")
        self.stdout.write(self.logins_table())

    @transaction.atomic
    def seed_one_compound(
        self, spec: CompoundSpec, street: Area, per_compound: int, seed: int, counts: Counter[str]
    ) -> Compound:
        """Create the compound if its code is new, then fill in whatever its schema lacks.

        One transaction per compound: an interrupted seed leaves whole compounds, and the next
        run picks up where it stopped.
        """
        plan = plan_registry(spec.code, per_compound, seed)
        compound = seed_compound(spec, street, population=plan.population, counts=counts)
        residents = seed_registry(compound, plan, counts)
        if compound.population != residents:
            # A compound that existed before the seed (or gained residents since) gets its
            # population recounted.
            do_set_compound_population(compound, residents)
        return compound

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
