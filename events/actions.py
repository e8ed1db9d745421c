"""The writes of the public event tables: access events, alerts, delivery keys (STYLE.md §2).

Each action writes its row and queues its realtime message in the caller's transaction; the
message leaves on commit through ``district.realtime`` and carries ids and codes only.
Gate passages are not copied into the audit log: the event row *is* the record of a passage,
and the audit log stays the record of what people did.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from district.jobs import defer_in_compound
from district.realtime import send_event_on_commit
from events.choices import POLICE_ONLY_ALERT_KINDS, AlertStatus, Severity
from events.models import AccessEvent, Alert, AreaTagged, DeliveryKey, DeviceIndex
from events.partitions import ensure_partition
from tenants.models import Compound

__all__ = [
    "ALERT_FOLD_WINDOW",
    "EVALUATE_TASK",
    "OPEN_ALERT_STATUSES",
    "access_group",
    "alert_groups",
    "alert_payload",
    "announce_alert",
    "device_time",
    "do_raise_alert",
    "do_record_access_event",
    "do_remember_delivery",
    "previous_delivery",
    "save_snapshot",
]

# Alerts of one situation (same compound and fold key) within this window fold into one row.
ALERT_FOLD_WINDOW = timedelta(minutes=30)
OPEN_ALERT_STATUSES = (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED)
# A device clock this far ahead of ours is wrong: the event is filed at the time we received it.
MAX_CLOCK_AHEAD = timedelta(minutes=10)


def access_group(compound_id: int) -> str:
    """The group of a compound's live event log."""
    return f"access.compound.{compound_id}"


def alert_groups(tags: dict[str, int], *, police_only: bool = False) -> list[str]:
    """The groups an alert of a compound goes to: the compound and every level above it (DESIGN.md §4).

    Police-only alerts (``POLICE_ONLY_ALERT_KINDS``) go to the police groups of those levels,
    which only users whose role there may see the watch-list join (``alerts.audience``).
    """
    topic = "alerts.police" if police_only else "alerts"
    return [
        f"{topic}.compound.{tags['compound_id']}",
        f"{topic}.street.{tags['street_id']}",
        f"{topic}.district.{tags['district_id']}",
        f"{topic}.city.{tags['city_id']}",
    ]


def alert_payload(alert: Alert, verb: str) -> dict[str, Any]:
    """The message announcing an alert: ids, codes and counts, never names."""
    return {
        "type": f"alert.{verb}",
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "count": alert.count,
        "compound_id": alert.compound_id,
        "occurred_at": alert.occurred_at.isoformat(),
    }


def announce_alert(alert: Alert, verb: str) -> None:
    """Queue the alert's message to every group that may see it (on commit)."""
    tags = {f"{level}_id": getattr(alert, f"{level}_id") for level in ("compound", "street", "district", "city")}
    send_event_on_commit(
        alert_groups(tags, police_only=alert.kind in POLICE_ONLY_ALERT_KINDS), alert_payload(alert, verb)
    )


def device_time(reported: datetime | None, received: datetime) -> tuple[datetime, bool]:
    """The time to file an event at: the device's own, unless missing or implausibly ahead of ours.

    Returns ``(time, trusted)``; an untrusted device time is kept by the caller in ``detail``.
    """
    if reported is None:
        return received, True
    if reported - received > MAX_CLOCK_AHEAD:
        return received, False
    return reported, True


def save_snapshot(compound: Compound, data: bytes, at: datetime, *, suffix: str = "jpg") -> str:
    """Store a capture under the compound's snapshot folder; return its storage name.

    Names are random (never guessable from time or device); the files are served only by
    permission-checked views, and deleted by the retention job after the compound's period.
    """
    name = f"{settings.ACCESS_SNAPSHOT_DIR}/{compound.code}/snapshots/{at:%Y/%m/%d}/{uuid.uuid4().hex}.{suffix}"
    return default_storage.save(name, ContentFile(data))


# The job that runs the event-driven alert models on a new event (``alerts.tasks``), named here
# rather than imported: the alert engine sits above the apps that record events.
EVALUATE_TASK = "alerts.evaluate_access_event"


def do_record_access_event(compound: Compound, *, occurred_at: datetime, **fields: Any) -> AccessEvent:
    """Write one access event of ``compound``, queue its alert evaluation, announce it on commit.

    The evaluation job is deferred in this transaction (``district.jobs.defer_in_compound``): an
    event that is committed is evaluated, even if the process dies right after answering.
    """
    ensure_partition(occurred_at)
    event = AccessEvent.objects.create(occurred_at=occurred_at, **AreaTagged.tags_for(compound), **fields)
    defer_in_compound(EVALUATE_TASK, compound, event_id=event.pk, occurred_at=event.occurred_at.isoformat())
    send_event_on_commit(
        [access_group(compound.pk)],
        {
            "type": "access.event.recorded",
            "id": event.pk,
            "kind": event.kind,
            "decision": event.decision,
            "device_id": event.device_id,
            "occurred_at": event.occurred_at.isoformat(),
        },
    )
    return event


def do_raise_alert(
    compound: Compound,
    *,
    kind: str,
    occurred_at: datetime,
    severity: str = Severity.MEDIUM,
    fold_key: str = "",
    detail: dict[str, Any] | None = None,
    access_event: AccessEvent | None = None,
    device: DeviceIndex | None = None,
    person_id: int | None = None,
    watch_entry_id: int | None = None,
    fold_window: timedelta = ALERT_FOLD_WINDOW,
) -> Alert:
    """Raise an alert for ``compound``, or fold it into the open one of the same situation.

    The same ``fold_key`` (e.g. ``watch:<entry id>``) within ``fold_window`` (default
    :data:`ALERT_FOLD_WINDOW`; models of situations that last days pass longer) of the open
    alert's last occurrence bumps its ``count`` instead of adding a row. Either way the
    alert is announced to the compound, its street, district and city (DESIGN.md §4).
    """
    tags = AreaTagged.tags_for(compound)
    alert = None
    if fold_key:
        alert = (
            Alert.objects.select_for_update()
            .filter(
                compound_id=compound.pk,
                fold_key=fold_key,
                status__in=OPEN_ALERT_STATUSES,
                last_seen_at__gte=occurred_at - fold_window,
            )
            .order_by("-last_seen_at")
            .first()
        )
    if alert is not None:
        Alert.objects.filter(pk=alert.pk).update(
            count=F("count") + 1, last_seen_at=max(alert.last_seen_at, occurred_at)
        )
        alert.refresh_from_db()
        verb = "folded"
    else:
        alert = Alert.objects.create(
            **tags,
            kind=kind,
            severity=severity,
            occurred_at=occurred_at,
            last_seen_at=occurred_at,
            fold_key=fold_key,
            detail=detail or {},
            access_event_id=access_event.pk if access_event is not None else None,
            device=device,
            person_id=person_id,
            watch_entry_id=watch_entry_id,
        )
        verb = "raised"
    announce_alert(alert, verb)
    return alert


def previous_delivery(device: DeviceIndex, key: str) -> DeliveryKey | None:
    """The stored answer to a delivery this device already made with ``key``, if any."""
    return DeliveryKey.objects.filter(device=device, key=key).first()


def do_remember_delivery(device: DeviceIndex, key: str, *, status: int, response: dict[str, Any]) -> bool:
    """Remember the answer to a delivery, in the caller's transaction; False if another request won.

    Two concurrent retries of one delivery race here: the loser's transaction must roll back
    (its event is not written) and answer with the winner's stored response.
    """
    try:
        with transaction.atomic():
            DeliveryKey.objects.create(device=device, key=key, status=status, response=response)
    except IntegrityError:
        return False
    return True


def now() -> datetime:
    return timezone.now()
