"""Helpers of the alert-engine tests: devices, events at given times, faces, evaluation.

Run inside the compound's schema (``in_a``): devices are written to the compound's
``access.Device`` and the public ``events.DeviceIndex``, as ``access.actions.do_create_device``
writes them (without a user, an audit row or a credential anybody could use).
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.db import connection

from access.models import Device
from alerts import engine
from alerts.clusters import encode_encoding
from alerts.models import AlertRule
from events.actions import do_record_access_event
from events.choices import Decision, EventKind
from events.models import AccessEvent, Alert, AreaTagged, DeviceIndex
from events.partitions import ensure_partition
from registry.models import Address
from tenants.models import Compound

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime.datetime:
    """A time in the compound's zone: ``local(2026, 12, 3, 23, 30)``."""
    return datetime.datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def make_device(
    compound: Compound,
    kind: str,
    *,
    name: str = "",
    gate: str = "",
    address: Address | None = None,
    direction: str = "both",
    created_at: datetime.datetime | None = None,
    last_seen_at: datetime.datetime | None = None,
) -> DeviceIndex:
    """A device of ``compound`` (its index row returned); the test runs in the compound's schema."""
    assert connection.tenant.pk == compound.pk, "make_device runs in the compound's schema"
    uid = secrets.token_hex(8)
    index = DeviceIndex.objects.create(uid=uid, compound=compound, kind=kind, key_hash="0" * 64)
    Device.objects.create(
        uid=uid, name=name or f"{kind}-{uid[:4]}", kind=kind, gate=gate, address=address, direction=direction
    )
    if created_at is not None or last_seen_at is not None:
        DeviceIndex.objects.filter(pk=index.pk).update(
            created_at=created_at or index.created_at, last_seen_at=last_seen_at
        )
        Device.objects.filter(uid=uid).update(created_at=created_at or index.created_at)
        index.refresh_from_db()
    return index


def record(compound: Compound, device: DeviceIndex | None, at: datetime.datetime, **fields: Any) -> AccessEvent:
    """An access event written by the product's action (which also queues its evaluation)."""
    return do_record_access_event(compound, occurred_at=at, device=device, **fields)


def history(compound: Compound, device: DeviceIndex | None, at: datetime.datetime, **fields: Any) -> AccessEvent:
    """An event of the past, written directly (no evaluation job): what models look back at."""
    ensure_partition(at)
    fields.setdefault("decision", Decision.REPORTED)
    return AccessEvent.objects.create(occurred_at=at, device=device, **AreaTagged.tags_for(compound), **fields)


def evaluate(compound: Compound, event: AccessEvent) -> list[Alert]:
    """Run the event-driven models on ``event`` as the job does; the alerts raised or folded."""
    ids = engine.evaluate_event(compound, event.pk, event.occurred_at.isoformat())
    by_id = Alert.objects.in_bulk(ids)
    return [by_id[pk] for pk in ids]


def fire(compound: Compound, device: DeviceIndex | None, at: datetime.datetime, **fields: Any) -> list[Alert]:
    """Record an event and evaluate it; the alerts raised or folded."""
    return evaluate(compound, record(compound, device, at, **fields))


def kinds(alerts: list[Alert]) -> list[str]:
    return sorted(alert.kind for alert in alerts)


def set_rule(compound: Compound, model: str, *, enabled: bool = True, severity: str = "", **params: int) -> None:
    """A compound's override of one model (written directly: the rule editor is tested elsewhere)."""
    AlertRule.objects.update_or_create(
        compound=compound, model=model, defaults={"enabled": enabled, "severity": severity, "params": params}
    )


# --- Faces ------------------------------------------------------------------------------------

_rng = np.random.default_rng(20261203)


def person_face() -> np.ndarray:
    """A new person's 128-d encoding: different people are about 1.0 apart, as with dlib's."""
    return (_rng.normal(size=128) * 0.066).astype(np.float32)


def same_face(base: np.ndarray) -> str:
    """Another photo of the person ``base``: within 0.2 of it (well inside the 0.5 tolerance)."""
    noise = _rng.normal(size=128).astype(np.float32)
    noise *= 0.2 / float(np.linalg.norm(noise))
    return encode_encoding(base + noise)


def stranger_fields(face: np.ndarray | None = None, **extra: Any) -> dict[str, Any]:
    """The columns of a stranger's face event as the gate writes them (with its encoding)."""
    detail: dict[str, Any] = {"box": [10, 60, 60, 10]}
    if face is not None:
        detail["encoding"] = same_face(face)
    return {
        "kind": EventKind.FACE,
        "decision": Decision.DENY,
        "reason": "unknown_face",
        "face_index": 0,
        "faces_in_capture": 1,
        "detail": detail,
        **extra,
    }
