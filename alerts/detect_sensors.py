"""Event-driven models on sensor readings: e-bikes, crowd flow, and tailgating counted at a door.

Sensor readings are ``sensor`` events whose ``detail`` holds the reading (``{"ebike": true}``,
``{"count": 37}``); the device's type (``events.DeviceIndex.kind``, an
``access.choices.DeviceKind``) says which model reads them. Sums over a window are one query on
``event_device_time`` (compound, device, time).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q

from access.choices import GATE_KINDS, DeviceKind
from access.models import Device
from alerts.context import EventContext, raise_alert
from events.choices import Decision, Direction, EventKind
from events.models import AccessEvent, Alert, DeviceIndex

__all__ = ["MAX_READINGS", "counted", "crowd", "ebike_in_building", "tailgating_at_counter"]

# Readings summed over one window; a counter reporting every second sends 300 in 5 minutes.
MAX_READINGS = 5000


def counted(detail: Any) -> int:
    """The people a counter reading counted (``detail["count"]``, a whole number ≥ 0; else 0)."""
    value = detail.get("count") if isinstance(detail, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return 0
    return int(min(value, 1_000_000))


def _sum_counts(ctx: EventContext, window: timedelta) -> int:
    """People counted by the event's device in ``(t - window, t]``."""
    event = ctx.event
    readings = AccessEvent.objects.filter(
        compound_id=ctx.compound.pk,
        device_id=event.device_id,
        kind=EventKind.SENSOR,
        occurred_at__gt=event.occurred_at - window,
        occurred_at__lte=event.occurred_at,
        detail__has_key="count",
    ).values_list("detail", flat=True)[:MAX_READINGS]
    return sum(counted(detail) for detail in readings)


def ebike_in_building(ctx: EventContext) -> list[Alert]:
    """电动车进楼 — an e-bike camera (at a unit door or in a lift) saw an e-bike coming in.

    Fires on a reading ``{"ebike": true}`` of an ``ebike_camera`` device, unless the reading
    (or the camera) faces out: a bike taken out of the building is what should happen.
    Folded per camera.
    """
    rule = ctx.rules["ebike_in_building"]
    event = ctx.event
    if (
        not rule.enabled
        or event.kind != EventKind.SENSOR
        or ctx.device_kind != DeviceKind.EBIKE_CAMERA
        or not isinstance(event.detail, dict)
        or event.detail.get("ebike") is not True
        or event.direction == Direction.OUT
    ):
        return []
    assert ctx.device is not None
    return [
        raise_alert(
            ctx.compound,
            rule,
            occurred_at=event.occurred_at,
            fold_key=f"ebike_in_building:{ctx.device.uid}",
            detail=ctx.device_detail(),
            access_event=event,
            device=ctx.device,
        )
    ]


def crowd(ctx: EventContext) -> list[Alert]:
    """人流聚集 — a crowd counter counted more than ``threshold`` people within ``minutes`` (default 5).

    On each counter reading that counted someone, the counts of that counter in
    ``(t - minutes, t]`` are summed (readings are increments, not running totals); the alert
    fires when the sum exceeds the threshold. Folded per counter.
    """
    rule = ctx.rules["crowd"]
    event = ctx.event
    if (
        not rule.enabled
        or event.kind != EventKind.SENSOR
        or ctx.device_kind != DeviceKind.CROWD_COUNTER
        or counted(event.detail) <= 0
    ):
        return []
    total = _sum_counts(ctx, timedelta(minutes=rule["minutes"]))
    if total <= rule["threshold"]:
        return []
    assert ctx.device is not None
    return [
        raise_alert(
            ctx.compound,
            rule,
            occurred_at=event.occurred_at,
            fold_key=f"crowd:{ctx.device.uid}",
            detail={**ctx.device_detail(), "count": total, "threshold": rule["threshold"], "minutes": rule["minutes"]},
            access_event=event,
            device=ctx.device,
        )
    ]


def _door_ids(ctx: EventContext, place: Device) -> list[int]:
    """Index ids of the doors a counter watches: gates and doors at its gate or its building/unit."""
    at = Q()
    if place.gate:
        at |= Q(gate=place.gate)
    if place.address_id is not None:
        at |= Q(address_id=place.address_id)
    uids = Device.objects.filter(at, kind__in=sorted(GATE_KINDS)).values("uid")
    return list(DeviceIndex.objects.filter(compound_id=ctx.compound.pk, uid__in=uids).values_list("pk", flat=True))


def tailgating_at_counter(ctx: EventContext) -> list[Alert]:
    """尾随 — a people counter at a door counted more passages than the door authorised.

    A counter is *at a door* when its device row names a gate (``Device.gate``) or a building or
    unit (``Device.address``) that some gate, reader or door device shares. On a reading that
    counted someone at time t, with W = ``window_seconds``: ``authorised`` = ``open`` events of
    those doors in ``[t - W, t]``, ``passed`` = people the counter counted in ``(t - W, t]``.
    Fires when something was authorised and ``passed > authorised`` (passages with no opening
    at all are people leaving, or the door held for a delivery, and not this model's business).
    Such a counter must report passages as they happen: a counter reporting 5-minute totals
    is a crowd counter and must not be placed at a door's gate or unit. Folded per counter.
    """
    rule = ctx.rules["tailgating"]
    event = ctx.event
    if (
        not rule.enabled
        or event.kind != EventKind.SENSOR
        or ctx.device_kind != DeviceKind.CROWD_COUNTER
        or counted(event.detail) <= 0
    ):
        return []
    place = ctx.place
    if place is None or (not place.gate and place.address_id is None):
        return []
    doors = _door_ids(ctx, place)
    if not doors:
        return []
    window = timedelta(seconds=rule["window_seconds"])
    authorised = AccessEvent.objects.filter(
        compound_id=ctx.compound.pk,
        device_id__in=doors,
        decision=Decision.OPEN,
        occurred_at__gte=event.occurred_at - window,
        occurred_at__lte=event.occurred_at,
    ).count()
    if authorised == 0:
        return []
    passed = _sum_counts(ctx, window)
    if passed <= authorised:
        return []
    assert ctx.device is not None
    return [
        raise_alert(
            ctx.compound,
            rule,
            occurred_at=event.occurred_at,
            fold_key=f"tailgating:{ctx.device.uid}",
            detail={
                **ctx.device_detail(),
                "via": "counter",
                "passed": passed,
                "authorised": authorised,
                "seconds": rule["window_seconds"],
            },
            access_event=event,
            device=ctx.device,
        )
    ]
