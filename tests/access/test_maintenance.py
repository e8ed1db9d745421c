"""The daily upkeep jobs of access control, run with injected times (``access.tasks_maintenance``).

Each task takes the scheduled time as ``timestamp`` and counts from it: partitions ahead of
it, delivery keys and snapshots older than their periods before it. Snapshot retention is each
compound's own (``AccessSettings.snapshot_retention_days``); the events stay, their snapshot
files go and the column is blanked, and a stranger's encoding goes with its snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_tenants.utils import tenant_context

from access import tasks_maintenance
from access.matching import current_settings
from access.models import AccessSettings
from district.jobs import app
from events.actions import do_record_access_event, save_snapshot
from events.models import AccessEvent, DeliveryKey
from events.partitions import partition_name, partitions
from tests.access.gate_support import make_device

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 15, 19, 30, tzinfo=UTC)
TICK = int(NOW.timestamp())


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_the_three_jobs_run_daily_and_never_pile_up():
    periodic = {p.task.name: p for p in app.periodic_registry.periodic_tasks.values()}
    for name in (
        tasks_maintenance.ENSURE_PARTITIONS,
        tasks_maintenance.PRUNE_DELIVERY_KEYS,
        tasks_maintenance.EXPIRE_SNAPSHOTS,
    ):
        assert periodic[name].cron.endswith(" * * *")  # once a day
        assert periodic[name].task.queueing_lock == name


def test_partitions_are_made_from_last_month_to_two_months_ahead():
    names = tasks_maintenance.ensure_event_partitions(TICK)

    expected = [partition_name(datetime(2027, month, 1)) for month in (2, 3, 4, 5)]
    assert names == expected
    assert set(expected) <= set(partitions())
    assert tasks_maintenance.ensure_event_partitions(TICK) == expected  # again: nothing new, no error


def test_delivery_keys_are_forgotten_after_their_period(compound_a, settings):
    device = make_device(compound_a).index
    days = settings.ACCESS_DELIVERY_KEY_DAYS
    old = DeliveryKey.objects.create(device=device, key="old", created_at=NOW - timedelta(days=days, minutes=1))
    kept = DeliveryKey.objects.create(device=device, key="kept", created_at=NOW - timedelta(days=days - 1))

    assert tasks_maintenance.prune_delivery_keys(TICK) == 1
    assert list(DeliveryKey.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not DeliveryKey.objects.filter(pk=old.pk).exists()


def captured(compound: Any, device: Any, days_ago: float, *, faces: int = 1, stranger: bool = False) -> list[Any]:
    """The events of one capture ``days_ago`` before NOW, sharing one stored snapshot."""
    at = NOW - timedelta(days=days_ago)
    name = save_snapshot(compound, b"\xff\xd8\xff capture", at)
    detail = {"encoding": "AAAA"} if stranger else {}
    return [
        do_record_access_event(
            compound,
            occurred_at=at,
            device=device,
            kind="face",
            decision="deny" if stranger else "open",
            snapshot=name,
            face_index=i,
            faces_in_capture=faces,
            detail=detail,
        )
        for i in range(faces)
    ]


def test_snapshots_go_after_each_compounds_own_period(compound_a, compound_b):
    device_a, device_b = make_device(compound_a).index, make_device(compound_b).index
    with tenant_context(compound_b):
        current_settings()
        AccessSettings.objects.filter(pk=1).update(snapshot_retention_days=7)
    with tenant_context(compound_a):
        assert current_settings().snapshot_retention_days == 30  # the default
    old_pair = captured(compound_a, device_a, 40, faces=2)  # past A's 30 days
    young_a = captured(compound_a, device_a, 10)
    old_stranger = captured(compound_a, device_a, 31, stranger=True)
    old_b = captured(compound_b, device_b, 10)  # past B's 7 days
    young_b = captured(compound_b, device_b, 3)
    files = {e.pk: e.snapshot for e in [*old_pair, *young_a, *old_stranger, *old_b, *young_b]}

    deleted = tasks_maintenance.expire_snapshots(TICK)

    assert deleted == 3  # the pair shares one file
    gone = [e.pk for e in [*old_pair, *old_stranger, *old_b]]
    for event in AccessEvent.objects.filter(pk__in=gone):
        assert event.snapshot == "" and "encoding" not in event.detail  # the event itself stays
        assert not default_storage.exists(files[event.pk])
    for event in AccessEvent.objects.filter(pk__in=[e.pk for e in [*young_a, *young_b]]):
        assert event.snapshot == files[event.pk] and default_storage.exists(event.snapshot)
    assert tasks_maintenance.expire_snapshots(TICK) == 0  # nothing left to do


def test_a_capture_no_event_names_is_swept_with_its_old_day(compound_a):
    """A delivery that rolled back after storing its capture leaves a file no event names."""
    root = f"access/{compound_a.code}/snapshots"
    stale = default_storage.save(f"{root}/{NOW - timedelta(days=40):%Y/%m/%d}/orphan.jpg", ContentFile(b"x"))
    recent = default_storage.save(f"{root}/{NOW - timedelta(days=5):%Y/%m/%d}/orphan.jpg", ContentFile(b"x"))

    assert tasks_maintenance.expire_snapshots(TICK) == 1
    assert not default_storage.exists(stale) and default_storage.exists(recent)
