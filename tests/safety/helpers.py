"""What the safety tests build again and again: users holding one role at an area, and snapshots."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from district.models import Area
from safety.models import CompoundIndexSnapshot
from tenants.models import Compound
from tests.factories import RoleFactory


def user_at(role: str, code: str) -> Any:
    """A user holding ``role`` at the area of ``code`` (named after both)."""
    return RoleFactory(user__username=f"{role}-{code}", role=role, area=Area.objects.get(code=code)).user


def snapshot(
    compound: Compound,
    day: datetime.date,
    score: Decimal | float | str,
    band: str,
    stars: int,
    *,
    population: int | None = None,
    components: dict[str, Any] | None = None,
    computed_at: datetime.datetime | None = None,
) -> CompoundIndexSnapshot:
    """A compound's snapshot of ``day``, tagged with its street, district and city as the job does."""
    street = Area.objects.select_related("parent").get(pk=compound.street_id)
    assert street.parent is not None
    return CompoundIndexSnapshot.objects.create(
        compound=compound,
        street_id=street.pk,
        district_id=street.parent.pk,
        city_id=street.parent.parent_id,
        day=day,
        score=Decimal(str(score)),
        band=band,
        stars=stars,
        population=compound.population if population is None else population,
        components=components if components is not None else {},
        computed_at=computed_at or timezone.now(),
    )
