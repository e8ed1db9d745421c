"""Safety index jobs (thin: they call ``safety.snapshots``)."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from procrastinate import JobContext, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.job_context import AbortReason

from district.jobs import app, defer_in_transaction
from district.models import Area
from safety.reports import BUILD_REPORT_TASK, ReportInterruptedError, run_report
from safety.snapshots import do_roll_up, do_snapshot_compound, do_snapshot_day
from tenants.models import Compound

SNAPSHOT_DAY_TASK = "safety.snapshot_day"
RECOMPUTE_TASK = "safety.recompute_compound"
RECOMPUTE_CITY_TASK = "safety.recompute_city"


def snapshot_day_for(timestamp: int) -> datetime.date:
    """The day a run scheduled at ``timestamp`` snapshots: the local day that just ended."""
    at = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return timezone.localdate(at) - datetime.timedelta(days=1)


# 16:30 UTC is 00:30 in Beijing: the day just ended is complete (incidents imported late that
# night are caught by the on-demand recompute or the next day's window).
@app.periodic(cron="30 16 * * *", periodic_id="safety-snapshot-day")
@app.task(name=SNAPSHOT_DAY_TASK, queueing_lock=SNAPSHOT_DAY_TASK)
def snapshot_day(timestamp: int) -> int:
    """Nightly: snapshot every compound's index of the day that ended, and roll up; compounds done."""
    now = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return do_snapshot_day(snapshot_day_for(timestamp), now=now)


@app.task(name=RECOMPUTE_TASK)
def recompute_compound(schema_name: str, day: str) -> int:
    """On demand: recompute one compound's index of ``day`` (ISO date) and its city's roll-ups."""
    compound = Compound.objects.select_related("street__parent").get(schema_name=schema_name)
    when = datetime.date.fromisoformat(day)
    snapshot = do_snapshot_compound(compound, when)
    return do_roll_up(Area.objects.get(pk=snapshot.city_id), when)


def defer_recompute_city(city: Area, day: datetime.date) -> int | None:
    """Queue the recompute of every compound of ``city`` for ``day``, in the caller's transaction.

    One job per city waits at a time (queueing lock): saving the weights twice in a minute
    queues one recompute, which reads the weights stored when it runs. None when one was waiting.
    """
    try:
        # A savepoint: the refused insert of a locked job must not abort the caller's transaction.
        with transaction.atomic():
            return defer_in_transaction(
                RECOMPUTE_CITY_TASK,
                queueing_lock=f"{RECOMPUTE_CITY_TASK}.{city.pk}",
                city_id=city.pk,
                day=day.isoformat(),
            )
    except AlreadyEnqueued:
        return None


@app.task(name=RECOMPUTE_CITY_TASK)
def recompute_city(city_id: int, day: str) -> int:
    """On demand (new weights): recompute every compound's index of ``day`` in the city, then its roll-ups.

    The nightly job's own loop (``do_snapshot_day``) narrowed to the city. Compounds done.
    """
    city = Area.objects.filter(pk=city_id, level="city").first()
    if city is None:
        return 0  # deleted since the weights were saved: nothing to recompute
    return do_snapshot_day(datetime.date.fromisoformat(day), city=city)


@app.task(
    name=BUILD_REPORT_TASK,
    pass_context=True,
    # Stopped between steps (the worker shutting down), the job is queued again and resumes at
    # its first step not stored; a killed worker's job is requeued by retry_stalled_jobs alike.
    retry=RetryStrategy(wait=5, retry_exceptions=[ReportInterruptedError]),
)
def build_report(context: JobContext, report_id: int) -> str:
    """Build monthly report ``report_id`` step by step (``safety.reports.run_report``); its status."""

    def worker_stopping() -> bool:
        return context.abort_reason() == AbortReason.SHUTDOWN

    report = run_report(report_id, should_stop=worker_stopping)
    return "gone" if report is None else str(report.status)
