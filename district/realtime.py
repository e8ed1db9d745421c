"""The one way realtime messages leave the server: on commit, through the channel layer.

Actions call :func:`send_event_on_commit` inside their transaction (STYLE.md §2, in the
spirit of Zulip's ``send_event_on_commit``). Nothing is sent until the transaction commits,
so a rolled-back write never reaches a browser; if the transaction rolls back, the message is
dropped with it.

Every message is delivered to each group as ``{"type": "realtime.event", "event": payload}``;
a consumer handles it in its ``realtime_event`` method. Group names are built on the server
by the ``*_group`` helpers below, never taken from a client (STYLE.md §3).

Payloads carry ids, codes, verbs and field names, never personal information: whoever holds
a group subscription re-reads the record through the permission-checked pages or API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

__all__ = [
    "Event",
    "capture_events",
    "compound_group",
    "send_event_on_commit",
]

logger = logging.getLogger(__name__)

Event = dict[str, Any]
# Callables told of every event as it is delivered (see capture_events).
_listeners: list[Callable[[list[str], Event], None]] = []


def compound_group(topic: str, compound_id: int) -> str:
    """The group of one compound's messages about ``topic`` (``registry.compound.7``)."""
    return f"{topic}.compound.{compound_id}"


def _deliver(groups: list[str], payload: Event) -> None:
    layer = get_channel_layer()
    message = {"type": "realtime.event", "event": payload}
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            # The write is committed and its rows are the record; a channel layer that is down
            # must not turn a saved change into an error page. Clients catch up on reconnect.
            logger.exception("realtime event %s to %s not delivered", payload.get("type"), group)
    for listener in list(_listeners):
        listener(groups, payload)


def send_event_on_commit(groups: Iterable[str], payload: Event) -> None:
    """Send ``payload`` to ``groups`` once the current transaction commits (at once outside one).

    ``payload["type"]`` is a dotted event type (``registry.person.created``).
    """
    groups = list(groups)
    if not groups:
        return
    if "type" not in payload:
        raise ValueError("a realtime event needs a dotted 'type'")
    transaction.on_commit(lambda: _deliver(groups, dict(payload)))


@contextmanager
def capture_events() -> Iterator[list[tuple[list[str], Event]]]:
    """Collect the ``(groups, payload)`` of every event actually delivered inside the block.

    Delivery happens on commit: in a test wrapped in a transaction, combine with pytest-django's
    ``django_capture_on_commit_callbacks(execute=True)`` (Zulip's ``capture_send_event_calls``).
    """
    sent: list[tuple[list[str], Event]] = []

    def listener(groups: list[str], payload: Event) -> None:
        sent.append((groups, payload))

    _listeners.append(listener)
    try:
        yield sent
    finally:
        _listeners.remove(listener)
