"""The 平安指数 formula: pure functions from a compound's 30-day figures to its score (docs/safety-index.md).

Nothing here reads the database: the daily job (``safety.snapshots``) gathers the figures and
stores the components beside the score, so every number on a dashboard can be opened to what
produced it, and the formula can be checked by hand on small fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "ALERT_SEVERITY_WEIGHTS",
    "DEFAULT_WEIGHTS",
    "INCIDENT_TYPE_WEIGHTS",
    "Figures",
    "band_for",
    "compute",
    "roll_up",
    "stars_for",
]

WINDOW_DAYS = 30
# How much one incident of each type counts (per 1,000 residents) against the incident score.
INCIDENT_TYPE_WEIGHTS = {"criminal": 3.0, "fire": 2.0, "public_order": 1.0, "traffic": 0.5, "other": 0.5}
ALERT_SEVERITY_WEIGHTS = {"low": 0.5, "medium": 1.0, "high": 2.0, "critical": 4.0}
# The components' weights in the index; a city may override them (safety.IndexConfig), and they
# are normalised to sum to 1.
DEFAULT_WEIGHTS = {"incidents": 0.40, "alerts": 0.20, "disputes": 0.15, "prevention": 0.25}
# Population never counts as less than this: one incident in a compound of 20 registered
# residents would otherwise weigh like fifty in a compound of 1,000.
MIN_POPULATION = 200
ACK_TARGET_MINUTES = 15


@dataclass
class Figures:
    """A compound's figures over the last 30 days (and its state today, for prevention)."""

    population: int
    incidents: dict[str, int] = field(default_factory=dict)  # by type
    alerts: dict[str, int] = field(default_factory=dict)  # by severity, false alarms excluded
    alerts_acknowledged_in_time: int = 0  # acknowledged within ACK_TARGET_MINUTES
    alerts_total: int = 0
    cases_registered: int = 0
    cases_concluded: int = 0
    cases_agreed: int = 0
    cases_overdue: int = 0
    devices: int = 0
    devices_online: int = 0
    persons: int = 0
    persons_complete: int = 0  # with an address and a residence type
    elderly_alone: int = 0
    elderly_with_sensor: int = 0


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


def _round(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _per_thousand(count: float, population: int) -> float:
    return count / (max(population, MIN_POPULATION) / 1000)


def incident_component(f: Figures) -> dict[str, Any]:
    """100 − 5 × weighted incidents per 1,000 residents."""
    weighted = sum(INCIDENT_TYPE_WEIGHTS.get(kind, 0.5) * n for kind, n in f.incidents.items())
    rate = _per_thousand(weighted, f.population)
    return {"score": _round(_clamp(100 - 5 * rate)), "weighted_incidents": weighted, "rate_per_1000": _round(rate)}


def alert_component(f: Figures) -> dict[str, Any]:
    """(100 − 5 × severity-weighted alerts per 1,000) × (0.5 + 0.5 × share acknowledged in time)."""
    weighted = sum(ALERT_SEVERITY_WEIGHTS.get(sev, 1.0) * n for sev, n in f.alerts.items())
    rate = _per_thousand(weighted, f.population)
    handled = f.alerts_acknowledged_in_time / f.alerts_total if f.alerts_total else 1.0
    return {
        "score": _round(_clamp(100 - 5 * rate) * (0.5 + 0.5 * handled)),
        "weighted_alerts": weighted,
        "rate_per_1000": _round(rate),
        "acknowledged_in_time": _round(handled),
    }


def dispute_component(f: Figures) -> dict[str, Any]:
    """(100 − 5 × cases per 1,000 − 10 × overdue cases) × (0.5 + 0.5 × success rate)."""
    rate = _per_thousand(f.cases_registered, f.population)
    success = f.cases_agreed / f.cases_concluded if f.cases_concluded else 1.0
    return {
        "score": _round(_clamp(100 - 5 * rate - 10 * f.cases_overdue) * (0.5 + 0.5 * success)),
        "rate_per_1000": _round(rate),
        "success_rate": _round(success),
        "overdue": f.cases_overdue,
    }


def prevention_component(f: Figures) -> dict[str, Any]:
    """100 × (0.4 × devices online + 0.4 × registry completeness + 0.2 × elderly living alone with a sensor)."""
    online = f.devices_online / f.devices if f.devices else 0.0
    complete = f.persons_complete / f.persons if f.persons else 0.0
    elderly = f.elderly_with_sensor / f.elderly_alone if f.elderly_alone else 1.0
    return {
        "score": _round(100 * (0.4 * online + 0.4 * complete + 0.2 * elderly)),
        "devices_online": _round(online),
        "registry_complete": _round(complete),
        "elderly_with_sensor": _round(elderly),
    }


def normalised(weights: dict[str, float] | None) -> dict[str, float]:
    """The city's weights (or the defaults) for the four components, summing to 1."""
    merged = {**DEFAULT_WEIGHTS, **{k: float(v) for k, v in (weights or {}).items() if k in DEFAULT_WEIGHTS}}
    total = sum(max(v, 0.0) for v in merged.values())
    if total <= 0:
        return dict(DEFAULT_WEIGHTS)
    return {k: max(v, 0.0) / total for k, v in merged.items()}


def band_for(score: float) -> str:
    """blue ≥ 90, yellow ≥ 75, orange ≥ 60, red below."""
    if score >= 90:
        return "blue"
    if score >= 75:
        return "yellow"
    if score >= 60:
        return "orange"
    return "red"


def stars_for(score: float) -> int:
    """★★★★★ ≥ 90 (Xiamen's five stars), then one star less per 10 points, at least one."""
    return max(1, min(5, int(score // 10) - 4))


def compute(f: Figures, weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The index of one compound: score, band, stars and every component with its inputs."""
    w = normalised(weights)
    components = {
        "incidents": incident_component(f),
        "alerts": alert_component(f),
        "disputes": dispute_component(f),
        "prevention": prevention_component(f),
    }
    for name, component in components.items():
        component["weight"] = _round(w[name])
    score = _round(sum(w[name] * c["score"] for name, c in components.items()))
    return {"score": score, "band": band_for(score), "stars": stars_for(score), "components": components}


def roll_up(children: list[tuple[float, int]]) -> float:
    """An area's score: its compounds' scores weighted by population (each counts at least 1)."""
    if not children:
        return 0.0
    total = sum(max(pop, 1) for _score, pop in children)
    return _round(sum(score * max(pop, 1) for score, pop in children) / total)
