"""The alert engine: which models an access event can fire, and the periodic sweeps.

Event-driven models run in the job ``alerts.evaluate_access_event``, which the writing action
(``events.actions.do_record_access_event``) defers in the same transaction as the event: no
event is ever left unevaluated (a crash rolls back both or keeps both), the gate's answer does
not wait for the models, and a failed evaluation is retried by the job system. Time-driven
models (inactivity, offline devices, fire-lane occupation) run as periodic jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from events.models import AccessEvent, Alert
from tenants.models import Compound

__all__ = ["EVENT_MODELS", "evaluate_event"]

# Event-driven models: each looks at one new access event and raises (or folds) alerts.
EventModel = Callable[[Compound, AccessEvent], list[Alert]]
EVENT_MODELS: list[EventModel] = []


def evaluate_event(compound: Compound, event_id: int, occurred_at: str) -> list[int]:
    """Run every event-driven model on the event; the ids of the alerts raised or folded.

    The event is looked up by id *and* time, which prunes the search to its month's partition.
    """
    event = AccessEvent.objects.filter(
        pk=event_id, occurred_at=datetime.fromisoformat(occurred_at), compound_id=compound.pk
    ).first()
    if event is None:
        return []  # deleted by retention before the job ran
    raised: list[int] = []
    for model in EVENT_MODELS:
        raised.extend(alert.pk for alert in model(compound, event))
    return raised
