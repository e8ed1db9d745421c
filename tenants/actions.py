"""Writes of compounds: every change to a compound goes through a ``do_*`` function here."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from district.choices import AreaLevel
from district.models import Area
from tenants.choices import PlanTier
from tenants.models import Compound, Domain, schema_name_for
from tenants.provisioning import provision_schema


def next_compound_code(street: Area) -> str:
    """The street's code plus the next free 3-digit sequence."""
    codes = Compound.objects.filter(code__startswith=street.code, code__regex=rf"^{street.code}\d{{3}}$")
    used = {int(c[-3:]) for c in codes.values_list("code", flat=True)}
    seq = next(i for i in range(1, 1000) if i not in used)
    return f"{street.code}{seq:03d}"


@transaction.atomic
def do_create_compound(
    *,
    street: Area,
    name: str,
    address: str = "",
    latitude: Decimal | float | None = None,
    longitude: Decimal | float | None = None,
    plan: str = PlanTier.BASIC,
    population: int = 0,
    code: str | None = None,
) -> Compound:
    """Register a compound under a street and provision its schema (see tenants.provisioning).

    Schema creation is DDL inside the same transaction: if anything fails, neither the row
    nor the schema remains.
    """
    if street.level != AreaLevel.STREET:
        raise ValidationError({"street": _("A compound must belong to a street.")})
    code = code or next_compound_code(street)
    compound = Compound(
        schema_name=schema_name_for(code),
        street=street,
        code=code,
        name=name,
        address=address,
        latitude=latitude,
        longitude=longitude,
        plan=plan,
        population=population,
    )
    compound.full_clean()
    compound.save()
    Domain.objects.create(domain=code, tenant=compound, is_primary=True)
    provision_schema(compound.schema_name)
    return compound


@transaction.atomic
def do_set_compound_population(compound: Compound, population: int) -> Compound:
    """Record a compound's population (the safety index weights roll-ups by it)."""
    compound.population = population
    compound.full_clean()
    compound.save(update_fields=["population"])
    return compound


@transaction.atomic
def do_delete_compound(compound: Compound) -> None:
    """Remove a compound and drop its schema with everything in it."""
    compound.delete(force_drop=True)
