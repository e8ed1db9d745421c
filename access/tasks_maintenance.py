"""Access-control jobs (imported by access/tasks.py, which procrastinate loads): daily upkeep.

Thin periodic tasks over ``access.retention``. Each receives ``timestamp``, the scheduled time,
and counts from it (tests pass their own). Cron runs in UTC; all three run in the small hours
of Beijing time, when the gates are quiet.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings

from access.matching import current_settings
from access.retention import do_ensure_event_partitions, do_expire_snapshots, do_prune_delivery_keys
from district.jobs import app, in_compound
from tenants.models import Compound
from tenants.provisioning import template_schema

__all__ = [
    "ENSURE_PARTITIONS",
    "EXPIRE_SNAPSHOTS",
    "PRUNE_DELIVERY_KEYS",
    "ensure_event_partitions",
    "expire_snapshots",
    "prune_delivery_keys",
]

ENSURE_PARTITIONS = "access.ensure_event_partitions"
PRUNE_DELIVERY_KEYS = "access.prune_delivery_keys"
EXPIRE_SNAPSHOTS = "access.expire_snapshots"


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


# 17:10 UTC, 01:10 in Beijing: months ahead exist long before their first event.
@app.periodic(cron="10 17 * * *", periodic_id="ensure-event-partitions")
@app.task(name=ENSURE_PARTITIONS, queueing_lock=ENSURE_PARTITIONS)
def ensure_event_partitions(timestamp: int) -> list[str]:
    """Make sure the access-event table has its partitions from last month to two months ahead."""
    return do_ensure_event_partitions(_at(timestamp).date())


@app.periodic(cron="20 17 * * *", periodic_id="prune-delivery-keys")
@app.task(name=PRUNE_DELIVERY_KEYS, queueing_lock=PRUNE_DELIVERY_KEYS)
def prune_delivery_keys(timestamp: int) -> int:
    """Forget the device delivery keys older than ``ACCESS_DELIVERY_KEY_DAYS``."""
    return do_prune_delivery_keys(_at(timestamp))


@app.periodic(cron="30 17 * * *", periodic_id="expire-snapshots")
@app.task(name=EXPIRE_SNAPSHOTS, queueing_lock=EXPIRE_SNAPSHOTS)
def expire_snapshots(timestamp: int) -> int:
    """Delete, compound by compound, the snapshots older than the compound's retention period.

    The period is each compound's ``AccessSettings.snapshot_retention_days`` (read in its
    schema); the events are public rows. Returns how many files were deleted.
    """
    now = _at(timestamp)
    schemas = (
        Compound.objects.exclude(schema_name__in=[settings.PUBLIC_SCHEMA_NAME, template_schema()])
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )
    deleted = 0
    for schema_name in schemas:
        try:
            with in_compound(schema_name) as compound:
                days = current_settings().snapshot_retention_days
        except Compound.DoesNotExist:
            continue  # deleted since the list was read
        deleted += do_expire_snapshots(compound, retention_days=days, now=now)
    return deleted
