"""What the gates leave behind, kept only as long as needed: snapshots, delivery keys, partitions.

System writes, run by the daily jobs of ``access.tasks_maintenance`` and by no user: the log
says what they did (as ``registry.excel.retention`` does). Each is idempotent, so a job killed
half-way and run again finishes the work. Times come from the caller (the job's scheduled
time), never from the clock here, so tests inject them.

- **Snapshots** of access events are deleted once older than their compound's
  ``AccessSettings.snapshot_retention_days``: the files first, then the ``snapshot`` column of
  every event that named them is blanked (the events themselves stay: they are the record of
  who passed). A capture's file that no event names (a delivery whose transaction rolled back
  after the file was written) is swept with its day's folder.
- **Delivery keys** are kept ``ACCESS_DELIVERY_KEY_DAYS``: devices stop retrying long before.
- **Partitions** of the event table are made a month or two ahead (``events.partitions``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, JSONField, Q, Value
from django.db.models.expressions import CombinedExpression

from events.models import AccessEvent, DeliveryKey
from events.partitions import ensure_partitions_around
from tenants.models import Compound

__all__ = ["do_ensure_event_partitions", "do_expire_snapshots", "do_prune_delivery_keys", "sweep_snapshot_folders"]

logger = logging.getLogger(__name__)

# Files deleted, then events updated, this many events at a time: memory stays flat and a
# killed job loses at most one batch of work (which the next run redoes).
BATCH = 1000
# How far before the cutoff a run looks for events to blank (a month of missed runs).
CATCH_UP = timedelta(days=31)


def do_ensure_event_partitions(today: date) -> list[str]:
    """The event table's partitions from last month to two months ahead of ``today`` (created if missing)."""
    with transaction.atomic():
        return ensure_partitions_around(today, before=1, ahead=2)


def do_prune_delivery_keys(now: datetime) -> int:
    """Forget delivery keys older than ``ACCESS_DELIVERY_KEY_DAYS``; how many were deleted."""
    cutoff = now - timedelta(days=settings.ACCESS_DELIVERY_KEY_DAYS)
    deleted, _by_model = DeliveryKey.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("forgot %d device delivery key(s) from before %s", deleted, cutoff)
    return deleted


def do_expire_snapshots(compound: Compound, *, retention_days: int, now: datetime) -> int:
    """Delete the compound's snapshots of events older than ``retention_days``; how many files went.

    Events of one capture share its file: the file is deleted once and every event naming it is
    blanked together. A stranger's face encoding (``detail["encoding"]``, kept for the alert
    engine's patterns) goes with the snapshot. Events of the :data:`CATCH_UP` before the cutoff
    are looked at, so a run reads a month of old partitions, not every one; files a missed run
    left behind are swept with their day's folder all the same.
    """
    cutoff = now - timedelta(days=retention_days)
    expired = AccessEvent.objects.filter(
        Q(snapshot__gt="") | Q(detail__has_key="encoding"),
        compound_id=compound.pk,
        occurred_at__lt=cutoff,
        occurred_at__gte=cutoff - CATCH_UP,
    )
    deleted = 0
    while True:
        rows = list(expired.order_by().values_list("pk", "snapshot")[:BATCH])
        if not rows:
            break
        names = sorted({name for _pk, name in rows if name})
        for name in names:
            default_storage.delete(name)  # a file already gone (a run killed before its update) is no error
        with transaction.atomic():
            expired.filter(Q(pk__in=[pk for pk, _name in rows]) | Q(snapshot__in=names)).update(
                snapshot="", detail=CombinedExpression(F("detail"), "-", Value("encoding"), output_field=JSONField())
            )
        deleted += len(names)
    if deleted:
        logger.info("deleted %d snapshot(s) of %s from before %s", deleted, compound.code, cutoff)
    deleted += sweep_snapshot_folders(compound, before=(cutoff - timedelta(days=2)).date())
    return deleted


def sweep_snapshot_folders(compound: Compound, *, before: date) -> int:
    """Delete the compound's snapshot folders of days before ``before`` (files no event names); files deleted.

    ``events.actions.save_snapshot`` files a capture under ``<dir>/<code>/snapshots/YYYY/MM/DD/``.
    By the time a day is this old, the events that named its files were blanked above, so what
    remains is only files of deliveries that rolled back.
    """
    root = f"{settings.ACCESS_SNAPSHOT_DIR}/{compound.code}/snapshots"
    deleted = 0
    if not default_storage.exists(root):
        return 0
    years, _files = default_storage.listdir(root)
    for year in sorted(y for y in years if y.isdigit()):
        months, _files = default_storage.listdir(f"{root}/{year}")
        for month in sorted(m for m in months if m.isdigit()):
            days, _files = default_storage.listdir(f"{root}/{year}/{month}")
            for day in sorted(d for d in days if d.isdigit()):
                try:
                    if date(int(year), int(month), int(day)) >= before:
                        continue
                except ValueError:
                    continue  # not a folder of ours
                folder = f"{root}/{year}/{month}/{day}"
                _dirs, files = default_storage.listdir(folder)
                for name in files:
                    default_storage.delete(f"{folder}/{name}")
                deleted += len(files)
    if deleted:
        logger.info("swept %d snapshot file(s) of %s that no event named", deleted, compound.code)
    return deleted
