"""The alert engine: which models an access event can fire, and the periodic sweeps.

Event-driven models run in the job ``alerts.evaluate_access_event``, which the writing action
(``events.actions.do_record_access_event``) defers in the same transaction as the event: no
event is ever left unevaluated (a crash rolls back both or keeps both), the gate's answer does
not wait for the models, and a failed evaluation is retried by the job system. Time-driven
models (inactivity, offline devices, fire-lane occupation) run as periodic jobs
(``alerts.detect_time``).

Each model is a function of an :class:`~alerts.context.EventContext` (the event, its device,
the compound's rules read once) returning the alerts it raised or folded; it returns at once
when the event is not its kind, so an evaluation costs the event's own lookup, the rules and
the few indexed queries of the models the event concerns. Watch-list hits, key-area plates
and screening hits are raised by the ingest code itself (``access.gate``,
``access.screening``), never here.

Definitions (thresholds are per compound, ``alerts.rules``):

- ``stranger``, ``tailgating`` (one capture) — ``alerts.detect_gate``;
- ``tailgating`` (people counter at a door), ``ebike_in_building``, ``crowd`` — ``alerts.detect_sensors``;
- ``night_entries``, ``group_renting``, ``frequent_visitor`` — ``alerts.detect_patterns``;
- ``elderly_inactive``, ``device_offline``, ``fire_lane`` — ``alerts.detect_time``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from alerts.context import EventContext
from alerts.detect_gate import stranger, tailgating_in_capture
from alerts.detect_patterns import frequent_visitor, group_renting, night_entries
from alerts.detect_sensors import crowd, ebike_in_building, tailgating_at_counter
from alerts.detect_time import do_sweep_elderly_inactive, do_sweep_fire_lanes, do_sweep_offline_devices
from alerts.rules import rules_for
from events.models import AccessEvent, Alert
from tenants.models import Compound

__all__ = [
    "EVENT_MODELS",
    "EventModel",
    "do_sweep_elderly_inactive",
    "do_sweep_fire_lanes",
    "do_sweep_offline_devices",
    "evaluate_event",
]

# Event-driven models: each looks at one new access event and raises (or folds) alerts.
EventModel = Callable[[EventContext], list[Alert]]
EVENT_MODELS: list[EventModel] = [
    stranger,
    tailgating_in_capture,
    tailgating_at_counter,
    ebike_in_building,
    crowd,
    night_entries,
    group_renting,
    frequent_visitor,
]


def evaluate_event(compound: Compound, event_id: int, occurred_at: str) -> list[int]:
    """Run every event-driven model on the event; the ids of the alerts raised or folded.

    Runs in the compound's schema (the job enters it). The event is looked up by id *and*
    time, which prunes the search to its month's partition; its device index row comes with
    it. One transaction: a job that fails half-way raises nothing and is retried whole.
    """
    event = (
        AccessEvent.objects.select_related("device")
        .filter(pk=event_id, occurred_at=datetime.fromisoformat(occurred_at), compound_id=compound.pk)
        .first()
    )
    if event is None:
        return []  # deleted by retention before the job ran
    ctx = EventContext(compound=compound, event=event, rules=rules_for(compound.pk))
    raised: list[int] = []
    with transaction.atomic():
        for model in EVENT_MODELS:
            raised.extend(alert.pk for alert in model(ctx))
    return raised
