"""The alert engine's jobs (thin: they call ``alerts.engine``)."""

from __future__ import annotations

from district.jobs import app, in_compound
from events.actions import EVALUATE_TASK


@app.task(name=EVALUATE_TASK)
def evaluate_access_event(schema_name: str, event_id: int, occurred_at: str) -> list[int]:
    """Run the event-driven alert models on one access event; the ids of the alerts raised or folded."""
    from alerts import engine

    with in_compound(schema_name) as compound:
        return engine.evaluate_event(compound, event_id, occurred_at)
