"""End to end through the job system: an event recorded by the product raises its alert in a real worker.

These tests commit (``committed_db``): the worker runs on connections of its own, which see
only committed rows. Each cleans up what it wrote in the public tables (the compound's schema
goes with ``fresh_compound``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context

from access.choices import DeviceKind
from alerts.tasks import sweep_offline_devices
from events.models import AccessEvent, Alert, DeviceIndex
from tests.alerts.engine_support import local, make_device, record, stranger_fields


@pytest.fixture
def db(committed_db: None) -> None:
    """Here ``db`` commits, so the worker's connections see the event and its job."""


@pytest.fixture
def compound(fresh_compound) -> Iterator:
    try:
        yield fresh_compound
    finally:
        Alert.objects.filter(compound_id=fresh_compound.pk).delete()
        AccessEvent.objects.filter(compound_id=fresh_compound.pk).delete()
        DeviceIndex.objects.filter(compound_id=fresh_compound.pk).delete()


def test_a_recorded_stranger_raises_its_alert_in_the_worker(compound, run_jobs):
    with tenant_context(compound):
        gate = make_device(compound, DeviceKind.FACE_GATE, name="东门闸机")
        with transaction.atomic():
            first = record(compound, gate, local(2026, 12, 3, 10, 0), **stranger_fields())
            second = record(compound, gate, local(2026, 12, 3, 10, 5), **stranger_fields())
    assert not Alert.objects.filter(compound_id=compound.pk).exists()  # the gate's answer did not wait
    run_jobs()
    [alert] = Alert.objects.filter(compound_id=compound.pk)
    assert (alert.kind, alert.count, alert.access_event_id, alert.detail["device"]) == (
        "stranger",
        2,
        first.pk,
        "东门闸机",
    )
    assert alert.last_seen_at == second.occurred_at


def test_the_offline_sweep_runs_as_a_task(compound):
    with tenant_context(compound):
        device = make_device(compound, DeviceKind.IR_MOTION, last_seen_at=local(2026, 12, 3, 9, 0))
    [pk] = sweep_offline_devices(int(local(2026, 12, 3, 10, 0).timestamp()))
    assert Alert.objects.get(pk=pk).device_id == device.pk
