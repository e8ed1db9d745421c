"""The index formula on hand-computed fixtures (docs/safety-index.md), component by component."""

from __future__ import annotations

import pytest

from safety.formula import (
    DEFAULT_WEIGHTS,
    Figures,
    alert_component,
    band_for,
    compute,
    dispute_component,
    incident_component,
    normalised,
    prevention_component,
    roll_up,
    stars_for,
)


def worked_example() -> Figures:
    """The example of docs/safety-index.md."""
    return Figures(
        population=1000,
        incidents={"criminal": 1, "public_order": 2},
        alerts={"high": 1},
        alerts_acknowledged_in_time=1,
        alerts_total=1,
        cases_registered=2,
        cases_concluded=2,
        cases_agreed=1,
        devices=4,
        devices_online=3,
        persons=1000,
        persons_complete=900,
        elderly_alone=2,
        elderly_with_sensor=1,
    )


def test_the_documented_worked_example():
    result = compute(worked_example())
    parts = {name: c["score"] for name, c in result["components"].items()}
    assert parts == {"incidents": 75.0, "alerts": 90.0, "disputes": 67.5, "prevention": 76.0}
    # 0.4 × 75 + 0.2 × 90 + 0.15 × 67.5 + 0.25 × 76 = 30 + 18 + 10.125 + 19 = 77.125 → 77.13 (half up)
    assert result["score"] == 77.13
    assert result["band"] == "yellow"
    assert result["stars"] == 3
    assert result["components"]["incidents"]["weight"] == 0.4


@pytest.mark.parametrize(
    ("population", "incidents", "expected", "rate"),
    [
        (1000, {}, 100.0, 0.0),
        (2000, {"fire": 1, "traffic": 2}, 92.5, 1.5),  # (2 + 1) / 2 = 1.5 → 100 − 7.5
        (50, {"criminal": 1}, 25.0, 15.0),  # 50 residents count as 200: 3 / 0.2 = 15 → 100 − 75
        (1000, {"criminal": 10}, 0.0, 30.0),  # 100 − 150 clamped to 0
        (1000, {"unknown_kind": 2}, 95.0, 1.0),  # unknown types weigh 0.5
    ],
)
def test_incident_component(population, incidents, expected, rate):
    part = incident_component(Figures(population=population, incidents=incidents))
    assert part["score"] == expected
    assert part["rate_per_1000"] == rate


def test_alert_component_weights_severity_and_speed():
    # 2 critical (8) + 1 low (0.5) = 8.5 per 1,000 → 100 − 42.5 = 57.5; 1 of 3 in time → × (0.5 + 0.5/3)
    f = Figures(population=1000, alerts={"critical": 2, "low": 1}, alerts_total=3, alerts_acknowledged_in_time=1)
    part = alert_component(f)
    assert part["weighted_alerts"] == 8.5
    assert part["score"] == round(57.5 * (0.5 + 0.5 / 3), 2) == 38.33
    assert part["acknowledged_in_time"] == 0.33
    assert alert_component(Figures(population=1000))["score"] == 100.0  # none: handled counts as 1


def test_dispute_component_counts_overdue_and_success():
    # 3 per 1,000 → 100 − 15 − 10 × 2 overdue = 65; agreed 1 of 4 → × 0.625 = 40.625 → 40.63
    f = Figures(population=1000, cases_registered=3, cases_concluded=4, cases_agreed=1, cases_overdue=2)
    assert dispute_component(f)["score"] == 40.63
    assert dispute_component(Figures(population=1000))["score"] == 100.0


def test_prevention_component():
    f = Figures(population=1000, devices=10, devices_online=5, persons=10, persons_complete=10)
    # 100 × (0.4 × 0.5 + 0.4 × 1 + 0.2 × 1 (no elderly living alone)) = 80
    assert prevention_component(f)["score"] == 80.0
    # Without devices and persons, only the elderly share counts.
    assert prevention_component(Figures(population=1000))["score"] == 20.0


def test_city_weights_are_normalised():
    weights = normalised({"incidents": 2, "alerts": 1, "disputes": 1, "prevention": 0, "bogus": 5})
    assert weights == {"incidents": 0.5, "alerts": 0.25, "disputes": 0.25, "prevention": 0.0}
    assert normalised({"incidents": -1, "alerts": 0, "disputes": 0, "prevention": 0}) == DEFAULT_WEIGHTS
    only_incidents = compute(worked_example(), {"incidents": 1, "alerts": 0, "disputes": 0, "prevention": 0})
    assert only_incidents["score"] == 75.0


@pytest.mark.parametrize(
    ("score", "band", "stars"),
    [
        (100, "blue", 5),
        (90, "blue", 5),
        (89.99, "yellow", 4),
        (80, "yellow", 4),
        (75, "yellow", 3),
        (74.99, "orange", 3),
        (60, "orange", 2),
        (59.99, "red", 1),
        (0, "red", 1),
    ],
)
def test_bands_and_stars(score, band, stars):
    assert band_for(score) == band
    assert stars_for(score) == stars


def test_roll_up_is_weighted_by_population():
    # (90 × 3000 + 60 × 1000) / 4000 = 82.5, not the plain mean 75
    assert roll_up([(90.0, 3000), (60.0, 1000)]) == 82.5
    # A compound without population counts as 1 resident.
    assert roll_up([(80.0, 0), (40.0, 0)]) == 60.0
    assert roll_up([]) == 0.0
