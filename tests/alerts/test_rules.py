"""Per-compound alert rules as the engine reads them: defaults, overrides, bad stored values, cost."""

from __future__ import annotations

import pytest

from access.choices import DeviceKind
from alerts.catalogue import MODELS, PARAM_BOUNDS
from alerts.models import AlertRule
from alerts.rules import Rules, rules_for, rules_for_compounds, stored_params
from events.choices import Decision, EventKind, Severity
from tests.alerts.engine_support import local, make_device, record, set_rule, stranger_fields


def test_without_a_row_every_model_has_the_catalogues_defaults(compound_a):
    rules = rules_for(compound_a.pk)
    for code, model in MODELS.items():
        assert (rules[code].enabled, rules[code].severity, dict(rules[code].params)) == (
            True,
            model.severity,
            model.params,
        )


def test_every_threshold_of_the_catalogue_has_bounds_and_a_default_within_them():
    for model in MODELS.values():
        for name, value in model.params.items():
            low, high = PARAM_BOUNDS[name]
            assert low <= value <= high, (model.code, name)


def test_overrides_merge_over_the_defaults(compound_a, compound_b):
    set_rule(compound_a, "night_entries", severity=Severity.HIGH, count=5)
    set_rule(compound_a, "stranger", enabled=False)
    rules = rules_for(compound_a.pk)
    assert rules["night_entries"].severity == Severity.HIGH
    assert dict(rules["night_entries"].params) == {"count": 5, "days": 7, "night_start": 23, "night_end": 5}
    assert not rules.enabled("stranger") and rules.enabled("crowd")
    assert rules_for(compound_b.pk)["night_entries"]["count"] == 3  # another compound keeps the default


@pytest.mark.parametrize(
    "raw",
    [{"count": True}, {"count": "5"}, {"count": 0}, {"count": 10_000}, {"count": 2.5}, ["count", 5], "x", None],
)
def test_a_bad_stored_value_keeps_the_default(raw):
    assert stored_params("night_entries", raw)["count"] == 3


def test_unknown_names_and_severities_are_ignored(compound_a):
    AlertRule.objects.create(compound=compound_a, model="crowd", severity="apocalyptic", params={"nonsense": 1})
    AlertRule.objects.create(compound=compound_a, model="retired_model", params={})
    rule = Rules(compound_a.pk, AlertRule.objects.filter(compound=compound_a))["crowd"]
    assert (rule.severity, dict(rule.params)) == (Severity.MEDIUM, {"threshold": 200, "minutes": 5})


def test_the_rules_of_many_compounds_are_one_query(compound_a, compound_b, django_assert_num_queries):
    set_rule(compound_b, "fire_lane", minutes=3)
    with django_assert_num_queries(1):
        rules = rules_for_compounds([compound_a.pk, compound_b.pk])
    assert (rules[compound_a.pk]["fire_lane"]["minutes"], rules[compound_b.pk]["fire_lane"]["minutes"]) == (10, 3)


# --- What an evaluation costs -------------------------------------------------------------------


def engine_queries(compound, event):
    """The SQL an evaluation runs (savepoints of its transaction left out), and what it raised."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.engine import evaluate_event

    with CaptureQueriesContext(connection) as context:
        raised = evaluate_event(compound, event.pk, event.occurred_at.isoformat())
    return [q["sql"] for q in context.captured_queries if "SAVEPOINT" not in q["sql"]], raised


def test_an_event_no_model_concerns_costs_two_queries(in_a):
    gate = make_device(in_a, DeviceKind.CARD_READER)
    event = record(in_a, gate, local(2026, 12, 3, 10, 0), kind=EventKind.CARD, decision=Decision.OPEN, person_id=1)
    queries, raised = engine_queries(in_a, event)
    assert raised == [] and len(queries) == 2  # the event with its device, the compound's rules


def test_a_strangers_face_costs_a_handful_of_queries(in_a):
    gate = make_device(in_a, DeviceKind.FACE_GATE)
    event = record(in_a, gate, local(2026, 12, 3, 10, 0), **stranger_fields())
    queries, raised = engine_queries(in_a, event)
    # The event, the rules, the device's row; the stranger alert (fold look-up, insert). Without
    # an encoding the patterns over days read nothing.
    assert len(raised) == 1 and len(queries) == 5, queries
