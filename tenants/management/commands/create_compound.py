"""Create a compound under a street and provision its schema (``do_create_compound``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from district.models import Area
from tenants.actions import do_create_compound
from tenants.choices import PlanTier


class Command(BaseCommand):
    help = "Create a compound: manage.py create_compound --street 370102001 --name 阳光花园 [--address …]"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--street", required=True, help="division code of the street")
        parser.add_argument("--name", required=True)
        parser.add_argument("--address", default="")
        parser.add_argument("--lat", type=float)
        parser.add_argument("--lng", type=float)
        parser.add_argument("--plan", choices=PlanTier.values, default=PlanTier.BASIC)
        parser.add_argument("--population", type=int, default=0)
        parser.add_argument("--code", help="compound code (default: the street's next free one)")

    def handle(self, *args: Any, **options: Any) -> None:
        street = Area.objects.filter(code=options["street"], level="street").first()
        if street is None:
            raise CommandError(f"No street with code {options['street']}")
        try:
            compound = do_create_compound(
                street=street,
                name=options["name"],
                address=options["address"],
                latitude=options["lat"],
                longitude=options["lng"],
                plan=options["plan"],
                population=options["population"],
                code=options["code"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"{compound.code} {compound.name} → schema {compound.schema_name}, /c/{compound.code}/")
