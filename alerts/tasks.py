"""The alert engine's jobs (thin: they call ``alerts.engine``).

The evaluation of each access event is deferred by ``events.actions.do_record_access_event``;
the sweeps are periodic (procrastinate's periodic deferrer, one tick deferred once however many
workers run) and receive the tick's ``timestamp`` as their ``now``. Each sweep has a queueing
lock, so a slow sweep never piles up waiting copies of itself.
"""

from __future__ import annotations

from datetime import UTC, datetime

from district.jobs import app, in_compound
from events.actions import EVALUATE_TASK


@app.task(name=EVALUATE_TASK)
def evaluate_access_event(schema_name: str, event_id: int, occurred_at: str) -> list[int]:
    """Run the event-driven alert models on one access event; the ids of the alerts raised or folded."""
    from alerts import engine

    with in_compound(schema_name) as compound:
        return engine.evaluate_event(compound, event_id, occurred_at)


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@app.periodic(cron="* * * * *", periodic_id="alerts-device-offline")
@app.task(name="alerts.sweep_offline_devices", queueing_lock="alerts.sweep_offline_devices")
def sweep_offline_devices(timestamp: int) -> list[int]:
    """Every minute: alerts for devices that stopped sending."""
    from alerts import engine

    return engine.do_sweep_offline_devices(_at(timestamp))


@app.periodic(cron="* * * * *", periodic_id="alerts-fire-lane")
@app.task(name="alerts.sweep_fire_lanes", queueing_lock="alerts.sweep_fire_lanes")
def sweep_fire_lanes(timestamp: int) -> list[int]:
    """Every minute: alerts for fire lanes occupied too long."""
    from alerts import engine

    return engine.do_sweep_fire_lanes(_at(timestamp))


@app.periodic(cron="*/5 * * * *", periodic_id="alerts-elderly-inactive")
@app.task(name="alerts.sweep_elderly_inactive", queueing_lock="alerts.sweep_elderly_inactive")
def sweep_elderly_inactive(timestamp: int) -> list[int]:
    """Every 5 minutes: alerts for elderly residents living alone with no activity at home."""
    from alerts import engine

    return engine.do_sweep_elderly_inactive(_at(timestamp))
