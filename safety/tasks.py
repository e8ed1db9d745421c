"""Safety index jobs (thin: they call ``safety.snapshots``)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from district.jobs import app
from district.models import Area
from safety.snapshots import do_roll_up, do_snapshot_compound, do_snapshot_day
from tenants.models import Compound

SNAPSHOT_DAY_TASK = "safety.snapshot_day"
RECOMPUTE_TASK = "safety.recompute_compound"


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
