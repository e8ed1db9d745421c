"""Event-driven models on gate passages: a stranger at a gate, and tailgating within one capture.

Both read the event under evaluation and, for tailgating, the other events of its capture:
one query on ``event_device_time`` (compound, device, time).
"""

from __future__ import annotations

from alerts.clusters import is_stranger
from alerts.context import EventContext, raise_alert
from events.choices import Decision, EventKind
from events.models import AccessEvent, Alert

__all__ = ["CAPTURE_MAX_EVENTS", "stranger", "tailgating_in_capture"]

# A capture yields at most one event per decided face (the gate decides at most 8).
CAPTURE_MAX_EVENTS = 64


def stranger(ctx: EventContext) -> list[Alert]:
    """陌生人 — a face at a gate that matched nobody (see ``alerts.clusters.is_stranger``).

    Watch-list hits raise their own alert at the gate and are not strangers here. Folded per
    device: strangers at one gate within 30 minutes of each other are one alert with a count.
    """
    rule = ctx.rules["stranger"]
    event = ctx.event
    if not rule.enabled or not is_stranger(event):
        return []
    uid = ctx.device.uid if ctx.device is not None else "-"
    return [
        raise_alert(
            ctx.compound,
            rule,
            occurred_at=event.occurred_at,
            fold_key=f"stranger:{uid}",
            detail={**ctx.device_detail(), "face_index": event.face_index},
            access_event=event,
            device=ctx.device,
        )
    ]


def capture_events(event: AccessEvent) -> list[str]:
    """The decisions of every face event of ``event``'s capture (itself included).

    A capture's events share the device and the time (the gate files them at one
    ``occurred_at``); when they name a snapshot they share it too, and when the device gives a
    ``detail["capture"]`` id they share that — either tells two captures of one second apart.
    """
    rows = AccessEvent.objects.filter(
        compound_id=event.compound_id, device_id=event.device_id, occurred_at=event.occurred_at, kind=EventKind.FACE
    )
    if event.snapshot:
        rows = rows.filter(snapshot=event.snapshot)
    capture = event.detail.get("capture") if isinstance(event.detail, dict) else None
    if isinstance(capture, str) and capture:
        rows = rows.filter(detail__capture=capture)
    return list(rows.values_list("decision", flat=True)[:CAPTURE_MAX_EVENTS])


def tailgating_in_capture(ctx: EventContext) -> list[Alert]:
    """尾随 — the door opened for a capture that held more faces than it authorised.

    Evaluated once per capture, on its first face's event (``face_index`` 0; an event without a
    face index is a capture of its own). The door opened when some face was admitted (``open``)
    and none was a watch-list hit (a hit keeps the door shut). ``passed`` is the faces the
    device saw (``faces_in_capture``), ``authorised`` the admitted ones; it fires when
    ``passed > authorised``. Folded per device.
    """
    rule = ctx.rules["tailgating"]
    event = ctx.event
    if (
        not rule.enabled
        or event.kind != EventKind.FACE
        or event.device_id is None
        or (event.faces_in_capture or 0) < 2
        or event.face_index not in (0, None)
    ):
        return []
    decisions = capture_events(event)
    authorised = decisions.count(Decision.OPEN)
    passed = int(event.faces_in_capture or 0)
    if authorised == 0 or Decision.HIT in decisions or passed <= authorised:
        return []
    assert ctx.device is not None  # device_id is set
    return [
        raise_alert(
            ctx.compound,
            rule,
            occurred_at=event.occurred_at,
            fold_key=f"tailgating:{ctx.device.uid}",
            detail={**ctx.device_detail(), "via": "capture", "passed": passed, "authorised": authorised, "seconds": 0},
            access_event=event,
            device=ctx.device,
        )
    ]
