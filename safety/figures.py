"""A compound's figures for the index: what ``safety.formula.Figures`` needs, read from their sources.

The window is the 30 days ending with the snapshot day (local time, ``TIME_ZONE``): for day D,
from D−29 00:00 to D+1 00:00. State figures (devices online, registry completeness, sensors,
overdue cases) are read as they are at the moment the snapshot is taken, capped at the end of D.

Sources (issue #12):

- incidents: ``safety.Incident`` rows matched to the compound (public);
- alerts: ``events.Alert`` of the compound, false alarms excluded; "in time" means acknowledged
  within ``formula.ACK_TARGET_MINUTES`` of the alert (public);
- devices: ``events.DeviceIndex`` of the compound, not revoked nor disabled; online per
  ``DeviceIndex.is_online`` at the snapshot time (public);
- disputes, registry completeness and elderly residents with a sensor: the compound's own schema
  (``mediation.Case``, ``registry.Person``, ``access.Device``). Only the snapshot job reads
  them, inside the compound's schema; dashboards read the stored snapshots.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django_tenants.utils import tenant_context

from events.choices import AlertStatus
from events.models import Alert, DeviceIndex
from safety.formula import ACK_TARGET_MINUTES, WINDOW_DAYS, Figures
from safety.models import Incident
from tenants.models import Compound

__all__ = ["Window", "gather_figures", "window_for"]

SENSOR_KINDS = ("ir_motion", "door_contact")
# Statuses in which a case is still being worked on (an overdue one counts against the compound).
OPEN_CASE_STATUSES = ("registered", "accepted", "mediating")
# A concluded case "agreed" when it reached an agreement (follow-up comes after an agreement).
AGREED_CASE_STATUSES = ("agreement", "follow_up")


@dataclass(frozen=True)
class Window:
    """The 30 days a snapshot of ``day`` covers, and the moment its state figures are read."""

    day: datetime.date
    start: datetime.datetime
    end: datetime.datetime
    at: datetime.datetime


def window_for(day: datetime.date, now: datetime.datetime | None = None) -> Window:
    """The window of the snapshot of ``day`` taken at ``now`` (state read at min(now, end of day))."""
    tz = timezone.get_default_timezone()
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
    start = end - datetime.timedelta(days=WINDOW_DAYS)
    now = now or timezone.now()
    return Window(day=day, start=start, end=end, at=min(now, end))


def _incidents(compound: Compound, w: Window) -> dict[str, int]:
    rows = (
        Incident.objects.filter(compound=compound, occurred_at__gte=w.start, occurred_at__lt=w.end)
        .values("type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["type"]: row["n"] for row in rows}


def _alerts(compound: Compound, w: Window, f: Figures) -> None:
    alerts = Alert.objects.filter(compound_id=compound.pk, occurred_at__gte=w.start, occurred_at__lt=w.end).exclude(
        status=AlertStatus.FALSE_ALARM
    )
    rows = alerts.values("severity").annotate(n=Count("pk")).order_by()
    f.alerts = {row["severity"]: row["n"] for row in rows}
    f.alerts_total = sum(f.alerts.values())
    target = datetime.timedelta(minutes=ACK_TARGET_MINUTES)
    f.alerts_acknowledged_in_time = alerts.filter(acknowledged_at__lte=F("occurred_at") + target).count()


def _devices(compound: Compound, w: Window, f: Figures) -> None:
    devices = list(
        DeviceIndex.objects.filter(compound=compound, revoked_at__isnull=True, disabled_at__isnull=True).only(
            "revoked_at", "last_seen_at"
        )
    )
    f.devices = len(devices)
    f.devices_online = sum(1 for d in devices if d.is_online(w.at))


def _in_schema(w: Window, f: Figures) -> None:
    """Disputes, registry completeness and sensors: call inside the compound's schema."""
    from access.models import Device
    from mediation.models import Case
    from registry.choices import PersonTag
    from registry.models import Person

    cases = Case.objects.aggregate(
        registered=Count("pk", filter=Q(registered_at__gte=w.start, registered_at__lt=w.end)),
        concluded=Count("pk", filter=Q(concluded_at__gte=w.start, concluded_at__lt=w.end)),
        agreed=Count(
            "pk",
            filter=Q(concluded_at__gte=w.start, concluded_at__lt=w.end, status__in=AGREED_CASE_STATUSES),
        ),
        overdue=Count("pk", filter=Q(status__in=OPEN_CASE_STATUSES, deadline__lt=w.day)),
    )
    f.cases_registered = cases["registered"]
    f.cases_concluded = cases["concluded"]
    f.cases_agreed = cases["agreed"]
    f.cases_overdue = cases["overdue"]

    # Residents today: not moved out by the snapshot day.
    residents = Person.objects.filter(Q(move_out_date__isnull=True) | Q(move_out_date__gt=w.day))
    people = residents.aggregate(
        persons=Count("pk"),
        complete=Count("pk", filter=Q(house__isnull=False) & ~Q(residence_type="")),
    )
    f.persons = people["persons"]
    f.persons_complete = people["complete"]
    sensor = Device.objects.filter(address_id=OuterRef("house__address_id"), kind__in=SENSOR_KINDS).exclude(
        status="disabled"
    )
    elderly = residents.filter(tags__contains=[PersonTag.ELDERLY_ALONE]).annotate(has_sensor=Exists(sensor))
    f.elderly_alone = elderly.count()
    f.elderly_with_sensor = elderly.filter(has_sensor=True).count()


def gather_figures(compound: Compound, day: datetime.date, *, now: datetime.datetime | None = None) -> Figures:
    """The compound's figures for the snapshot of ``day`` (enters its schema for the schema-held ones)."""
    w = window_for(day, now)
    f = Figures(population=compound.population)
    f.incidents = _incidents(compound, w)
    _alerts(compound, w, f)
    _devices(compound, w, f)
    with tenant_context(compound):
        _in_schema(w, f)
    return f
