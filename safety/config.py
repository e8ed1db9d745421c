"""A city's weights of the safety index (issue #12): checking, saving and resetting them.

Writes: :func:`do_configure_index` (the city's four weights) and :func:`do_reset_index` (back to
``safety.formula.DEFAULT_WEIGHTS``), for holders of ``safety.configure`` in the city (the view
checks the city). Each runs in one transaction with its audit row, which keeps the weights
before and after (weights are no personal information); either may queue the recompute of the
city's index of today (``safety.tasks``) in the same transaction.

Weights are entered as numbers from 0 to 100 with at most two decimals, and normalised to sum
to 1 by the formula (``safety.formula.normalised``): 40/20/15/25 and 8/4/3/5 give the same index.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from district.audit import do_record_change
from district.choices import AreaLevel
from district.models import Area, AuditAction
from district.typing import AnyUser
from safety.formula import DEFAULT_WEIGHTS, normalised
from safety.models import IndexConfig
from safety.tasks import defer_recompute_city

__all__ = [
    "MAX_WEIGHT",
    "WEIGHT_KEYS",
    "check_index_weights",
    "default_weights",
    "do_configure_index",
    "do_reset_index",
    "weights_of",
]

WEIGHT_KEYS = tuple(DEFAULT_WEIGHTS)
MAX_WEIGHT = Decimal(100)
DECIMALS = 2


def default_weights() -> dict[str, float]:
    """The defaults as a person enters weights (0–100): 40, 20, 15, 25."""
    return {key: float(Decimal(str(value)) * 100) for key, value in DEFAULT_WEIGHTS.items()}


def weights_of(city: Area) -> tuple[dict[str, float], bool]:
    """The city's weights as entered (the defaults when it has none), and whether they are its own."""
    config = IndexConfig.objects.filter(city=city).first()
    if config is None or not isinstance(config.weights, dict):
        return default_weights(), False
    stored: dict[str, float] = {}
    for key in WEIGHT_KEYS:
        value = config.weights.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return default_weights(), False  # a hand-edited row: shown as the defaults, not crashed on
        stored[key] = float(value)
    return stored, True


def _number(value: Any) -> Decimal | None:
    """``value`` as a finite Decimal, or None. A bool is no number here (JSON ``true`` is a mistake)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float):
        number = Decimal(str(value))
    else:
        return None
    return number if number.is_finite() else None


def check_index_weights(weights: Mapping[str, Any]) -> dict[str, float]:
    """The four weights, checked: exactly the known keys, each a number 0–100 with at most 2 decimals,
    not all zero. Raises ``ValidationError`` with one message per offending key."""
    if not isinstance(weights, Mapping):
        raise ValidationError(_("The weights must be a mapping of the four components."))
    errors: dict[str, list[str]] = {}
    unknown = sorted(str(key) for key in weights if key not in WEIGHT_KEYS)
    if unknown:
        errors["__all__"] = [_("Unknown component: %(names)s.") % {"names": ", ".join(unknown)[:200]}]
    checked: dict[str, Decimal] = {}
    for key in WEIGHT_KEYS:
        if key not in weights:
            errors[key] = [_("A weight is required for every component.")]
            continue
        number = _number(weights[key])
        if number is None:
            errors[key] = [_("Enter a number.")]
        elif not Decimal(0) <= number <= MAX_WEIGHT:
            errors[key] = [_("Enter a weight from 0 to 100.")]
        else:
            try:
                exact = number.quantize(Decimal(1).scaleb(-DECIMALS))
            except InvalidOperation:
                exact = None
            if exact is None or exact != number:
                errors[key] = [_("Enter at most 2 decimals.")]
            else:
                checked[key] = number
    if not errors and all(value == 0 for value in checked.values()):
        errors["__all__"] = [_("At least one weight must be above zero.")]
    if errors:
        raise ValidationError(errors)
    return {key: float(value) for key, value in checked.items()}


def _check_city(city: Area) -> None:
    if city.level != AreaLevel.CITY:
        raise ValueError(f"index weights belong to a city, not to {city.level} {city.code}")


@transaction.atomic
def do_configure_index(
    city: Area,
    weights: Mapping[str, Any],
    *,
    acting_user: AnyUser,
    recompute: bool = False,
    today: datetime.date | None = None,
) -> IndexConfig:
    """Set ``city``'s weights of the index components (holders of ``safety.configure`` there).

    The audit row keeps the weights before (``None``: the defaults) and after. New weights
    apply from the next snapshot; ``recompute`` also queues today's recompute of the whole
    city (one job per city at a time).
    """
    _check_city(city)
    checked = check_index_weights(weights)
    # The row is locked so two people saving at once leave an audit trail in the order of the writes.
    config = IndexConfig.objects.select_for_update().filter(city=city).first()
    before = dict(config.weights) if config is not None else None
    if config is None:
        config = IndexConfig.objects.create(city=city, weights=checked)
    else:
        config.weights = checked
        config.save(update_fields=["weights", "updated_at"])
    do_record_change(
        acting_user,
        AuditAction.CREATE if before is None else AuditAction.UPDATE,
        config,
        fields=["weights"] if before != checked else [],
        detail={"city": city.pk, "before": before, "after": checked, "normalised": _shares(checked)},
    )
    if recompute:
        defer_recompute_city(city, today or timezone.localdate())
    return config


@transaction.atomic
def do_reset_index(
    city: Area, *, acting_user: AnyUser, recompute: bool = False, today: datetime.date | None = None
) -> None:
    """Put ``city`` back on the default weights (its settings row is deleted, with an audit row).

    Without a row the city follows ``DEFAULT_WEIGHTS`` as they are in the code, also when they
    change later. A city already on the defaults writes nothing (but may still recompute).
    """
    _check_city(city)
    config = IndexConfig.objects.select_for_update().filter(city=city).first()
    if config is not None:
        do_record_change(
            acting_user,
            AuditAction.DELETE,
            config,
            fields=["weights"],
            detail={"city": city.pk, "before": dict(config.weights), "after": None},
        )
        config.delete()
    if recompute:
        defer_recompute_city(city, today or timezone.localdate())


def _shares(weights: Mapping[str, float]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in normalised(dict(weights)).items()}
