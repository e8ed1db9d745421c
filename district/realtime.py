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

Across processes: with ``REDIS_URL`` the channel layer (channels-redis) reaches every process.
Without it (the embedded default) each process has an in-memory layer of its own, and a
message sent by the job worker would never reach a browser connected to the web server. So
with an in-memory layer every message is also published with PostgreSQL ``NOTIFY`` on
:data:`NOTIFY_CHANNEL`, and each web process that serves WebSockets listens
(:func:`ensure_listening`) and hands what other processes sent to its own layer. Messages are
ids and codes (well under NOTIFY's 8,000-byte limit), and they are hints: the rows are the
record, and clients catch up from them on reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection, transaction

__all__ = [
    "NOTIFY_CHANNEL",
    "Event",
    "capture_events",
    "compound_group",
    "ensure_listening",
    "plain_connection_params",
    "send_event_on_commit",
]

NOTIFY_CHANNEL = "district_realtime"
NOTIFY_MAX_BYTES = 7900  # PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more

logger = logging.getLogger(__name__)

Event = dict[str, Any]
# Callables told of every event as it is delivered (see capture_events).
_listeners: list[Callable[[list[str], Event], None]] = []


def compound_group(topic: str, compound_id: int) -> str:
    """The group of one compound's messages about ``topic`` (``registry.compound.7``)."""
    return f"{topic}.compound.{compound_id}"


def _publish(groups: list[str], payload: Event) -> None:
    """NOTIFY the other processes of a message (in-memory layers only, see the module docstring)."""
    data = json.dumps({"pid": os.getpid(), "groups": groups, "event": payload}, separators=(",", ":"))
    if len(data.encode()) > NOTIFY_MAX_BYTES:
        logger.error("realtime event %s too large to publish (%d bytes)", payload.get("type"), len(data))
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, data])
    except Exception:
        logger.exception("realtime event %s not published to other processes", payload.get("type"))


def _deliver(groups: list[str], payload: Event) -> None:
    layer = get_channel_layer()
    message = {"type": "realtime.event", "event": payload}
    if isinstance(layer, InMemoryChannelLayer):
        _publish(groups, payload)
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


# The relay of this process: its task, the event loop it runs on, and "LISTEN is in place".
_listener: asyncio.Task[None] | None = None
_listening: asyncio.Event | None = None
# How long a connecting consumer waits for the relay's LISTEN before it goes on without it.
LISTEN_READY_TIMEOUT = 5.0


async def ensure_listening() -> None:
    """In this (web) process, start relaying other processes' messages into the in-memory layer.

    Called by every WebSocket consumer on connect; starts one listener per process and event
    loop, and does nothing with a channel layer that already spans processes (Redis). Returns
    once the listener's ``LISTEN`` is in place (or after :data:`LISTEN_READY_TIMEOUT`), so a
    client that is accepted does not miss a message sent right after by another process.
    """
    global _listener, _listening
    layer = get_channel_layer()
    if not isinstance(layer, InMemoryChannelLayer):
        return
    loop = asyncio.get_running_loop()
    # A task of a loop that has ended (a test's, or a restarted server's) relays nothing here.
    if _listener is None or _listener.done() or _listener.get_loop() is not loop or _listening is None:
        _listening = asyncio.Event()
        _listener = loop.create_task(_listen(layer, _listening))
    try:
        await asyncio.wait_for(asyncio.shield(_listening.wait()), LISTEN_READY_TIMEOUT)
    except TimeoutError:
        logger.warning("realtime listener not ready after %.0f s; accepting the client anyway", LISTEN_READY_TIMEOUT)


def plain_connection_params() -> dict[str, Any]:
    """How Django connects to the default database, less what only its own cursors use.

    Django's cursor class and type adapters (time zones, JSON) are for its sync connections; a
    plain async connection (LISTEN here, the health check's SELECT 1) needs neither.
    """
    params = dict(connection.get_connection_params())
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    return params


async def _listen(layer: InMemoryChannelLayer, ready: asyncio.Event) -> None:
    """Relay NOTIFY messages of other processes to this process's groups; reconnect on failure.

    ``ready`` is set once ``LISTEN`` is in place (and stays set across reconnections).
    """
    me = os.getpid()
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(**plain_connection_params(), autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                ready.set()
                async for notice in conn.notifies():
                    try:
                        data = json.loads(notice.payload)
                    except ValueError:
                        continue
                    if data.get("pid") == me:
                        continue  # sent here, already delivered to this process's layer
                    message = {"type": "realtime.event", "event": data.get("event", {})}
                    for group in data.get("groups", []):
                        await layer.group_send(group, message)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("realtime listener lost its database connection; reconnecting")
            await asyncio.sleep(1)


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
