"""Event-driven models over days: repeated night entries, group renting, frequent unregistered visitors.

Each runs when a non-resident's plate or a stranger's face arrives, and looks back ``days``:
plates by one query on ``event_plate_time``; faces by loading the compound's stranger
encodings of the period once per evaluation (``alerts.clusters``, shared by the models through
the :class:`~alerts.context.EventContext`) and one matrix-vector product.

These patterns last days, longer than the 30-minute fold window: while an alert of the same
situation is open, a repeat within the window folds into it (its count grows) and a later one
is not raised again (``alerts.context.still_open_elsewhere``). A face "situation" is the
cluster of the face: an open alert belongs to it when the event that raised it is one of the
cluster's faces (its fold key names that event).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from access.choices import DeviceKind
from access.models import Device
from alerts.clusters import (
    MAX_DOOR_FACES,
    Faces,
    decode_encoding,
    is_stranger,
    leader_clusters,
    load_strangers,
)
from alerts.context import EventContext, open_alert_for, raise_alert, still_open_elsewhere
from alerts.hours import in_hours, local_day, night_of
from events.choices import Direction, EventKind
from events.models import AccessEvent, Alert, DeviceIndex

__all__ = ["MAX_PLATE_READS", "frequent_visitor", "group_renting", "night_entries"]

# Reads of one plate looked at over the period; a plate read more often is a resident's car.
MAX_PLATE_READS = 2000


def _vector(ctx: EventContext) -> np.ndarray | None:
    if not is_stranger(ctx.event) or not isinstance(ctx.event.detail, dict):
        return None
    return decode_encoding(ctx.event.detail.get("encoding"))


def _compound_faces(ctx: EventContext) -> Faces:
    """The compound's stranger faces over the longest period the face models look back (loaded once)."""
    faces = ctx.cache.get("compound_faces")
    if faces is None:
        days = max(ctx.rules["night_entries"]["days"], ctx.rules["frequent_visitor"]["days"])
        at = ctx.event.occurred_at
        faces = load_strangers(ctx.compound.pk, since=at - timedelta(days=days), until=at)
        ctx.cache["compound_faces"] = faces
    return faces


def _cluster(ctx: EventContext, vector: np.ndarray, days: int) -> Faces:
    """This face's cluster: the compound's stranger faces of the last ``days`` within the tolerance."""
    faces = _compound_faces(ctx)
    since = ctx.event.occurred_at - timedelta(days=days)
    return faces.subset([i for i in faces.near(vector) if faces.times[i] >= since])


def _raise_for_cluster(ctx: EventContext, code: str, cluster: Faces, detail: dict[str, object]) -> list[Alert]:
    """Raise ``code`` for a face cluster, folding into the open alert of the same cluster if any."""
    rule = ctx.rules[code]
    event = ctx.event
    existing = open_alert_for(ctx.compound.pk, [f"{code}:face:{pk}" for pk in cluster.event_ids])
    if still_open_elsewhere(existing, event.occurred_at):
        return []
    fold_key = existing.fold_key if existing is not None else f"{code}:face:{event.pk}"
    return [
        raise_alert(
            ctx.compound,
            rule,
            occurred_at=event.occurred_at,
            fold_key=fold_key,
            detail={**ctx.device_detail(), **detail},
            access_event=event,
            device=ctx.device,
        )
    ]


def _is_unregistered_plate(event: AccessEvent) -> bool:
    return (
        event.kind == EventKind.PLATE
        and bool(event.plate)
        and event.person_id is None
        and event.watch_entry_id is None
        and event.visitor_pass_id is None
    )


def night_entries(ctx: EventContext) -> list[Alert]:
    """夜间频繁出入 — a non-resident came in at night on ``count`` or more nights within ``days``.

    Night is ``[night_start, night_end)`` local time (default 23:00–05:00). The event must
    itself be a night entry: not an ``out`` passage, at night, by an unregistered plate (a
    plate read with no registered vehicle, no visitor pass, not on the watch-list) or by a
    stranger's face. Its earlier night entries in ``[t - days, t]`` are the same plate's reads,
    or the faces of its cluster. What is counted is *nights* (``alerts.hours.night_of``): two
    reads of one arrival, or a face seen by two gates on the way in, are one night, and what
    an officer wants to know is someone coming at night again and again.
    """
    rule = ctx.rules["night_entries"]
    event = ctx.event
    start, end, days = rule["night_start"], rule["night_end"], rule["days"]
    if not rule.enabled or event.direction == Direction.OUT or not in_hours(event.occurred_at, start, end):
        return []
    since = event.occurred_at - timedelta(days=days)

    def at_night(at: datetime) -> bool:
        return in_hours(at, start, end)

    if _is_unregistered_plate(event):
        fold_key = f"night_entries:plate:{event.plate}"
        if still_open_elsewhere(open_alert_for(ctx.compound.pk, [fold_key]), event.occurred_at):
            return []
        reads = (
            AccessEvent.objects.filter(
                compound_id=ctx.compound.pk,
                plate=event.plate,
                kind=EventKind.PLATE,
                occurred_at__gte=since,
                occurred_at__lte=event.occurred_at,
                person_id__isnull=True,
                watch_entry__isnull=True,
                visitor_pass_id__isnull=True,
            )
            .exclude(direction=Direction.OUT)
            .order_by("-occurred_at")
            .values_list("occurred_at", flat=True)[:MAX_PLATE_READS]
        )
        nights = {night_of(at, end) for at in reads if at_night(at)}
        if len(nights) < rule["count"]:
            return []
        return [
            raise_alert(
                ctx.compound,
                rule,
                occurred_at=event.occurred_at,
                fold_key=fold_key,
                detail={**ctx.device_detail(), "by": "plate", "plate": event.plate, "count": len(nights), "days": days},
                access_event=event,
                device=ctx.device,
            )
        ]
    vector = _vector(ctx)
    if vector is None:
        return []
    cluster = _cluster(ctx, vector, days)
    nights = {
        night_of(at, end)
        for at, direction in zip(cluster.times, cluster.directions, strict=True)
        if direction != Direction.OUT and at_night(at)
    }
    if len(nights) < rule["count"]:
        return []
    return _raise_for_cluster(ctx, "night_entries", cluster, {"by": "face", "count": len(nights), "days": days})


def frequent_visitor(ctx: EventContext) -> list[Alert]:
    """常来访客 — a stranger's face seen on ``count`` or more different days within ``days``: ask them to register.

    The face's cluster over ``[t - days, t]`` (any gate, either way); days are local calendar
    days. Low severity: a prompt to the property staff, not a warning.
    """
    rule = ctx.rules["frequent_visitor"]
    if not rule.enabled:
        return []
    vector = _vector(ctx)
    if vector is None:
        return []
    days = rule["days"]
    cluster = _cluster(ctx, vector, days)
    seen = {local_day(at) for at in cluster.times}
    if len(seen) < rule["count"]:
        return []
    return _raise_for_cluster(ctx, "frequent_visitor", cluster, {"count": len(seen), "days": days})


def _unit_doors(ctx: EventContext) -> tuple[list[int], str, str]:
    """The unit doors of the event's building unit: their index ids, the fold key and the place's name.

    All ``unit_door`` devices at the same address as the event's door (a unit may have a front
    and a back door); a door with no address stands for itself.
    """
    place = ctx.place
    assert ctx.device is not None
    if place is None or place.address_id is None:
        return [ctx.device.pk], f"group_renting:device:{ctx.device.uid}", ctx.device_label
    uids = Device.objects.filter(kind=DeviceKind.UNIT_DOOR, address_id=place.address_id).values("uid")
    ids = list(DeviceIndex.objects.filter(compound_id=ctx.compound.pk, uid__in=uids).values_list("pk", flat=True))
    assert place.address is not None
    return ids or [ctx.device.pk], f"group_renting:address:{place.address_id}", place.address.full_name


def group_renting(ctx: EventContext) -> list[Alert]:
    """群租 — ``count`` or more different unregistered people came in through one building unit's door.

    On a stranger's face coming in (not ``out``) at a ``unit_door``: the stranger faces that came
    in through the doors of that unit (:func:`_unit_doors`) over ``[t - days, t]`` (at most
    ``MAX_DOOR_FACES``, newest first) are grouped into distinct people
    (``alerts.clusters.leader_clusters``); a person counts when seen on at least ``min_days``
    different days (default 2: people who live there come back, couriers mostly do not).
    Fires when ``count`` people count. Folded per unit.
    """
    rule = ctx.rules["group_renting"]
    event = ctx.event
    if (
        not rule.enabled
        or ctx.device_kind != DeviceKind.UNIT_DOOR
        or event.direction == Direction.OUT
        or _vector(ctx) is None
    ):
        return []
    doors, fold_key, place = _unit_doors(ctx)
    if still_open_elsewhere(open_alert_for(ctx.compound.pk, [fold_key]), event.occurred_at):
        return []
    days = rule["days"]
    faces = load_strangers(
        ctx.compound.pk,
        since=event.occurred_at - timedelta(days=days),
        until=event.occurred_at,
        device_ids=doors,
        limit=MAX_DOOR_FACES,
    )
    faces = faces.subset([i for i, direction in enumerate(faces.directions) if direction != Direction.OUT])
    people = [
        group for group in leader_clusters(faces) if len({local_day(faces.times[i]) for i in group}) >= rule["min_days"]
    ]
    if len(people) < rule["count"]:
        return []
    return [
        raise_alert(
            ctx.compound,
            rule,
            occurred_at=event.occurred_at,
            fold_key=fold_key,
            detail={**ctx.device_detail(), "place": place, "count": len(people), "days": days},
            access_event=event,
            device=ctx.device,
        )
    ]
