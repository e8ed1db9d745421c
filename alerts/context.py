"""What every event-driven model reads: the event, its device and place, the compound's rules.

One :class:`EventContext` is built per evaluation (``alerts.engine.evaluate_event``); what a
model looks up (the device's ``access.Device`` row, the compound's recent stranger faces) is
cached on it, so models that need the same thing share one query. Evaluations run in the
compound's schema (the job enters it), which is where ``access.Device`` lives.

:func:`raise_alert` is how every model raises: the compound's severity for the model, its
fold key, and ``events.actions.do_raise_alert`` (which folds a repeat within 30 minutes of the
open alert's last occurrence into one row with a count).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db.models import Max

from access.models import Device
from alerts.rules import Rule, Rules
from events.actions import ALERT_FOLD_WINDOW, OPEN_ALERT_STATUSES, do_raise_alert
from events.models import AccessEvent, Alert, DeviceIndex
from tenants.models import Compound

__all__ = ["EventContext", "open_alert_for", "raise_alert", "recently_alerted", "still_open_elsewhere"]


@dataclass
class EventContext:
    """One access event under evaluation, with what its models share."""

    compound: Compound
    event: AccessEvent
    rules: Rules
    # Filled by the models that load them (``alerts.clusters.strangers_of``), reused by the others.
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> DeviceIndex | None:
        """The event's device index row (fetched with the event)."""
        return self.event.device if self.event.device_id is not None else None

    @property
    def device_kind(self) -> str:
        return self.device.kind if self.device is not None else ""

    @cached_property
    def place(self) -> Device | None:
        """The compound's own row for the device (name, gate, building or unit), if it has one."""
        if self.device is None:
            return None
        return Device.objects.select_related("address").filter(uid=self.device.uid).first()

    @property
    def device_label(self) -> str:
        """How an explanation names the device: its name, else its id."""
        if self.place is not None:
            return self.place.name
        return self.device.uid if self.device is not None else "?"

    def device_detail(self) -> dict[str, Any]:
        """The ``detail`` keys every device-bound alert carries."""
        place = self.place
        return {
            "device": self.device_label,
            "device_uid": self.device.uid if self.device is not None else "",
            "gate": place.gate if place is not None else "",
            "place": place.address.full_name if place is not None and place.address is not None else "",
        }


def raise_alert(
    compound: Compound,
    rule: Rule,
    *,
    occurred_at: datetime,
    fold_key: str,
    detail: dict[str, Any],
    access_event: AccessEvent | None = None,
    device: DeviceIndex | None = None,
    person_id: int | None = None,
) -> Alert:
    """Raise (or fold) an alert of ``rule``'s model with the compound's severity for it."""
    return do_raise_alert(
        compound,
        kind=rule.model,
        occurred_at=occurred_at,
        severity=rule.severity,
        fold_key=fold_key,
        detail=detail,
        access_event=access_event,
        device=device,
        person_id=person_id,
    )


def open_alert_for(compound_id: int, fold_keys: Iterable[str]) -> Alert | None:
    """The most recent open alert of the compound under any of ``fold_keys`` (index ``alert_fold``)."""
    keys = list(fold_keys)
    if not keys:
        return None
    return (
        Alert.objects.filter(compound_id=compound_id, fold_key__in=keys, status__in=OPEN_ALERT_STATUSES)
        .order_by("-last_seen_at")
        .first()
    )


def still_open_elsewhere(alert: Alert | None, at: datetime) -> bool:
    """Whether ``alert`` is open but too old to fold into: the situation is already in someone's hands.

    Slow patterns (night entries, group renting, frequent visitors) last days, longer than the
    fold window; while their alert is open a repeat beyond the window is not raised again.
    """
    return alert is not None and alert.last_seen_at < at - ALERT_FOLD_WINDOW


def recently_alerted(compound_id: int, fold_keys: Iterable[str]) -> dict[str, datetime]:
    """For each fold key, the last occurrence of its alerts (of any status): episodes already reported.

    A periodic model reports an episode (a device offline since t, an elderly resident
    inactive since t) once: it is reported when some alert of its key was last seen at or after t.
    """
    keys = list(fold_keys)
    if not keys:
        return {}
    rows = (
        Alert.objects.filter(compound_id=compound_id, fold_key__in=keys)
        .values("fold_key")
        .annotate(latest=Max("last_seen_at"))
        .order_by()
    )
    return {row["fold_key"]: row["latest"] for row in rows}
