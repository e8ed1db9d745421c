"""Time-driven models, run by periodic jobs (``alerts.tasks``): each takes ``now`` so tests inject it.

- :func:`do_sweep_offline_devices` — devices that stopped sending (public schema only);
- :func:`do_sweep_fire_lanes` — fire lanes occupied for too long (public, plus the device's name);
- :func:`do_sweep_elderly_inactive` — elderly residents living alone with no activity at home.

Each reports an *episode* once: an episode starts at a time t (last seen, occupied since,
last activity) and is reported when an alert of its fold key was last seen at or after t
(``alerts.context.recently_alerted``). Sweeps therefore never repeat themselves; a new episode
of the same device or person within 30 minutes of the open alert folds into it (count + 1).
Compounds are found from the public device index, so a sweep never enters a compound that has
no such device, and rules are read for all of them in one query.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from access.choices import DeviceKind, DeviceStatus
from access.models import Device
from alerts.catalogue import MODELS
from alerts.context import raise_alert, recently_alerted
from alerts.hours import awake_between, in_hours
from alerts.models import AlertRule
from alerts.rules import Rule, Rules, rules_for_compounds
from district.jobs import in_compound
from events.choices import Decision, EventKind
from events.models import AccessEvent, Alert, DeviceIndex
from registry.choices import PersonTag
from registry.models import Address, Person
from tenants.models import Compound

__all__ = [
    "ACTIVITY_LOOKBACK",
    "FIRE_LANE_LOOKBACK",
    "HOME_SENSOR_KINDS",
    "do_check_elderly_inactive",
    "do_sweep_elderly_inactive",
    "do_sweep_fire_lanes",
    "do_sweep_offline_devices",
    "is_activity",
]

logger = logging.getLogger(__name__)

HOME_SENSOR_KINDS = (DeviceKind.IR_MOTION, DeviceKind.DOOR_CONTACT)
# How far back a sweep looks for the start of an episode. Older starts are taken as the start
# of the look-back: an elderly resident silent for over a week, or a fire lane occupied for
# over two days, is reported again once the earlier alert falls out of the look-back.
ACTIVITY_LOOKBACK = timedelta(days=7)
FIRE_LANE_LOOKBACK = timedelta(days=2)


def _compounds_with(kinds: tuple[str, ...]) -> dict[int, Compound]:
    """Compounds having a non-revoked device of one of ``kinds`` (public index, one query)."""
    ids = (
        DeviceIndex.objects.filter(kind__in=kinds, revoked_at__isnull=True).values("compound_id").distinct().order_by()
    )
    return {c.pk: c for c in Compound.objects.filter(pk__in=ids).select_related("street__parent")}


# --- Device offline ----------------------------------------------------------------------------


def do_sweep_offline_devices(now: datetime) -> list[int]:
    """设备离线 — devices silent for ``minutes`` (default 10); the ids of the alerts raised or folded.

    A device (in the index, not revoked) is offline when its ``last_seen_at`` is older than
    ``now - minutes``, or it was never seen and was added more than ``minutes`` ago. The
    episode starts at that last sign of life. Compounds with an override of the model are
    read first (one small query); the devices then in one query on the public index, with
    the episodes already reported left out by the same query. Folded per device.
    """
    # Compounds with no rule row use the catalogue's defaults.
    overrides = rules_for_compounds(
        AlertRule.objects.filter(model="device_offline").values_list("compound_id", flat=True)
    )
    default = MODELS["device_offline"]
    by_minutes: dict[int, list[int]] = defaultdict(list)
    disabled: list[int] = []
    for pk, rules in overrides.items():
        if not rules.enabled("device_offline"):
            disabled.append(pk)
        else:
            by_minutes[rules["device_offline"]["minutes"]].append(pk)
    overridden = [pk for pks in by_minutes.values() for pk in pks] + disabled
    since = Coalesce(F("last_seen_at"), F("created_at"))
    stale = Q(since__lt=now - timedelta(minutes=default.params["minutes"])) & ~Q(compound_id__in=overridden)
    for minutes, pks in by_minutes.items():
        stale |= Q(since__lt=now - timedelta(minutes=minutes), compound_id__in=pks)
    reported = Alert.objects.filter(
        compound_id=OuterRef("compound_id"),
        fold_key=Concat(Value("device_offline:"), OuterRef("uid")),
        last_seen_at__gte=OuterRef("since"),
    )
    devices = list(
        DeviceIndex.objects.filter(revoked_at__isnull=True, disabled_at__isnull=True)
        .annotate(since=since)
        .filter(stale)
        .exclude(Exists(reported))
        .select_related("compound__street__parent")
        .order_by("compound_id", "uid")
    )
    raised: list[int] = []
    for device in devices:
        rules = overrides.get(device.compound_id) or Rules(device.compound_id)
        rule = rules["device_offline"]
        since_at: datetime = device.since
        with transaction.atomic():
            alert = raise_alert(
                device.compound,
                rule,
                occurred_at=now,
                fold_key=f"device_offline:{device.uid}",
                detail={
                    "device": device.uid,
                    "device_uid": device.uid,
                    "device_kind": device.kind,
                    "since": timezone.localtime(since_at).isoformat(),
                    "minutes": int((now - since_at).total_seconds() // 60),
                },
                device=device,
            )
        raised.append(alert.pk)
    return raised


# --- Fire lane -----------------------------------------------------------------------------------


def _lane_readings(compound_id: Any, device_id: Any, now: datetime) -> QuerySet[AccessEvent]:
    """A fire-lane camera's occupancy readings within the look-back (``event_device_time``)."""
    return AccessEvent.objects.filter(
        compound_id=compound_id,
        device_id=device_id,
        kind=EventKind.SENSOR,
        occurred_at__gte=now - FIRE_LANE_LOOKBACK,
        occurred_at__lte=now,
        detail__has_key="occupied",
    )


def _occupied_since(camera: DeviceIndex, now: datetime) -> datetime | None:
    """When an occupied lane's occupation began: the first ``occupied`` reading after the last free one."""
    readings = _lane_readings(camera.compound_id, camera.pk, now)
    free_at = (
        readings.filter(detail__occupied=False).order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    )
    first = readings.filter(detail__occupied=True)
    if free_at is not None:
        first = first.filter(occurred_at__gt=free_at)
    return first.order_by("occurred_at").values_list("occurred_at", flat=True).first()


def _raise_fire_lanes(
    compound: Compound, rule: Rule, fresh: list[tuple[DeviceIndex, datetime]], now: datetime
) -> list[int]:
    """Raise the alerts of a compound's occupied lanes, named as the compound names its cameras."""
    raised = []
    with in_compound(compound.schema_name) as entered, transaction.atomic():
        places = dict(Device.objects.filter(uid__in=[c.uid for c, _s in fresh]).values_list("uid", "name"))
        for camera, since in fresh:
            alert = raise_alert(
                entered,
                rule,
                occurred_at=now,
                fold_key=f"fire_lane:{camera.uid}",
                detail={
                    "device": places.get(camera.uid, camera.uid),
                    "device_uid": camera.uid,
                    "since": timezone.localtime(since).isoformat(),
                    "minutes": int((now - since).total_seconds() // 60),
                },
                device=camera,
            )
            raised.append(alert.pk)
    return raised


def do_sweep_fire_lanes(now: datetime) -> list[int]:
    """消防通道占用 — a fire lane occupied for ``minutes`` (default 10); ids of the alerts raised or folded.

    Fire-lane cameras report ``{"occupied": true|false, "plate": …}``. A lane is occupied since
    the first occupied reading after its last free one, and still occupied when its latest
    reading says so; it fires once ``now - since ≥ minutes``. Folded per camera.
    """
    compounds = _compounds_with((DeviceKind.FIRE_LANE_CAMERA,))
    all_rules = rules_for_compounds(compounds)
    # Each camera's latest reading comes with it (one index probe per camera, one query); only
    # the lanes occupied now are looked at further.
    latest = _lane_readings(OuterRef("compound_id"), OuterRef("pk"), now).order_by("-occurred_at", "-id")
    cameras = (
        DeviceIndex.objects.filter(
            compound_id__in=[pk for pk, rules in all_rules.items() if rules.enabled("fire_lane")],
            kind=DeviceKind.FIRE_LANE_CAMERA,
            revoked_at__isnull=True,
        )
        .annotate(occupied_now=Subquery(latest.values("detail__occupied")[:1]))
        .order_by("compound_id", "uid")
    )
    due: dict[int, list[tuple[DeviceIndex, datetime]]] = defaultdict(list)
    for camera in cameras:
        if camera.occupied_now is not True:
            continue
        since = _occupied_since(camera, now)
        minutes = all_rules[camera.compound_id]["fire_lane"]["minutes"]
        if since is not None and now - since >= timedelta(minutes=minutes):
            due[camera.compound_id].append((camera, since))
    raised: list[int] = []
    for compound_id, found in due.items():
        reported = recently_alerted(compound_id, [f"fire_lane:{camera.uid}" for camera, _since in found])
        fresh = [(c, s) for c, s in found if reported.get(f"fire_lane:{c.uid}", s - timedelta(seconds=1)) < s]
        if not fresh:
            continue
        try:
            raised.extend(_raise_fire_lanes(compounds[compound_id], all_rules[compound_id]["fire_lane"], fresh, now))
        except Compound.DoesNotExist:
            logger.info("compound %s deleted during the fire-lane sweep", compounds[compound_id].schema_name)
    return raised


# --- Elderly living alone ------------------------------------------------------------------------


def is_activity(detail: Any) -> bool:
    """A home sensor's reading that shows someone moving: ``{"motion": true}`` or ``{"door": "open"}``."""
    if not isinstance(detail, dict):
        return False
    return detail.get("motion") is True or detail.get("door") == "open"


def do_sweep_elderly_inactive(now: datetime) -> list[int]:
    """Run :func:`do_check_elderly_inactive` in every compound that has home sensors and the model on.

    Compounds are found from the public device index (IR motion, door contact); a compound in
    its quiet hours is skipped without entering its schema.
    """
    compounds = _compounds_with(HOME_SENSOR_KINDS)
    all_rules = rules_for_compounds(compounds)
    raised: list[int] = []
    for pk, compound in compounds.items():
        rule = all_rules[pk]["elderly_inactive"]
        if not rule.enabled or in_hours(now, rule["quiet_start"], rule["quiet_end"]):
            continue
        try:
            with in_compound(compound.schema_name) as entered:
                raised.extend(alert.pk for alert in do_check_elderly_inactive(entered, all_rules[pk], now))
        except Compound.DoesNotExist:
            logger.info("compound %s deleted during the elderly sweep", compound.schema_name)
    return raised


def _sensors_by_address() -> dict[int, list[tuple[str, datetime]]]:
    """Active home sensors placed at an address: ``{address id: [(uid, installed at)]}``."""
    found: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for uid, address_id, created_at in Device.objects.filter(
        kind__in=HOME_SENSOR_KINDS, status=DeviceStatus.ACTIVE, address__isnull=False
    ).values_list("uid", "address_id", "created_at"):
        found[address_id].append((uid, created_at))
    return found


@transaction.atomic
def do_check_elderly_inactive(compound: Compound, rules: Rules, now: datetime) -> list[Alert]:
    """独居老人无活动 — alerts for the compound's elderly residents living alone with no activity at home.

    Runs in the compound's schema. Watched: residents (not moved out) tagged
    ``elderly_alone`` whose house is at a room address where an IR motion or door contact
    sensor is placed — at the room itself or at its building unit (the room's floor's unit).
    Their last sign of life is the latest of: an activity reading (:func:`is_activity`) of one
    of those sensors, an ``open`` gate passage of the person, and the installation of the
    first of those sensors (a new sensor has nothing to report yet) — within
    :data:`ACTIVITY_LOOKBACK`, else the start of the look-back.

    Quiet hours ``[quiet_start, quiet_end)`` (default 22:00–07:00): no alert is raised during
    them (the sweep skips the compound), and the time inside them does not count as
    inactivity — the alert fires when the time since the last sign of life *outside quiet
    hours* reaches ``hours`` (default 3): silent since 21:00, the alert comes at 09:00, not
    at midnight. Folded per person, one alert per episode of silence.
    """
    rule = rules["elderly_inactive"]
    if not rule.enabled or in_hours(now, rule["quiet_start"], rule["quiet_end"]):
        return []
    sensors = _sensors_by_address()
    if not sensors:
        return []
    persons = list(
        Person.objects.filter(
            tags__contains=[PersonTag.ELDERLY_ALONE], move_out_date__isnull=True, house__isnull=False
        ).values_list("pk", "house__address_id", "house__address__full_name")
    )
    units = dict(
        Address.objects.filter(pk__in=[address for _pk, address, _name in persons]).values_list(
            "pk", "parent__parent_id"
        )
    )
    watched: dict[int, tuple[list[str], datetime, str]] = {}
    for pk, address_id, place in persons:
        linked = sensors.get(address_id, []) + sensors.get(units.get(address_id) or -1, [])
        if linked:
            watched[pk] = ([uid for uid, _at in linked], min(at for _uid, at in linked), place)
    if not watched:
        return []
    floor = now - ACTIVITY_LOOKBACK
    index = dict(
        DeviceIndex.objects.filter(
            compound_id=compound.pk, uid__in={uid for uids, _at, _p in watched.values() for uid in uids}
        ).values_list("uid", "pk")
    )
    latest_reading = _latest_activity(compound.pk, list(index.values()), floor, now)
    latest_passage = dict(
        AccessEvent.objects.filter(
            compound_id=compound.pk,
            person_id__in=list(watched),
            decision=Decision.OPEN,
            occurred_at__gte=floor,
            occurred_at__lte=now,
        )
        .values("person_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
        .values_list("person_id", "last")
    )
    hours = timedelta(hours=rule["hours"])
    quiet = (rule["quiet_start"], rule["quiet_end"])
    due: dict[int, tuple[datetime, timedelta, str]] = {}
    for pk, (uids, installed, place) in watched.items():
        signs = [floor, installed] + [latest_reading[index[u]] for u in uids if index.get(u) in latest_reading]
        if pk in latest_passage:
            signs.append(latest_passage[pk])
        since = max(signs)
        awake = awake_between(since, now, *quiet)
        if awake >= hours:
            due[pk] = (since, awake, place)
    reported = recently_alerted(compound.pk, [f"elderly_inactive:{pk}" for pk in due])
    raised = []
    for pk, (since, awake, place) in due.items():
        if reported.get(f"elderly_inactive:{pk}", since - timedelta(seconds=1)) >= since:
            continue  # this silence is already reported
        raised.append(
            raise_alert(
                compound,
                rule,
                occurred_at=now,
                fold_key=f"elderly_inactive:{pk}",
                detail={
                    "hours": int(awake.total_seconds() // 3600),
                    "threshold": rule["hours"],
                    "since": timezone.localtime(since).isoformat(),
                    "place": place,
                },
                person_id=pk,
            )
        )
    return raised


def _latest_activity(compound_id: int, device_ids: list[int], floor: datetime, now: datetime) -> dict[int, datetime]:
    """Each sensor's latest activity reading in ``[floor, now]`` (one grouped query on ``event_device_time``)."""
    if not device_ids:
        return {}
    rows = (
        AccessEvent.objects.filter(
            Q(detail__motion=True) | Q(detail__door="open"),
            compound_id=compound_id,
            device_id__in=device_ids,
            kind=EventKind.SENSOR,
            occurred_at__gte=floor,
            occurred_at__lte=now,
        )
        .values("device_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
    )
    return {row["device_id"]: row["last"] for row in rows}
