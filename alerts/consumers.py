"""The one WebSocket endpoint (``/ws/live/``): live alerts and broadcasts for the user's scope.

On connect the consumer authenticates the session (Channels' ``AuthMiddlewareStack`` reads it
from the public schema), computes on the server which alert and broadcast groups the user's
roles cover (``alerts.audience``) and joins exactly those: a client cannot name a group. A
client that reconnects sends the last alert id it saw (``?last_id=N`` or a ``{"type":
"replay", "last_id": N}`` message) and receives the alerts raised since, from the rows.

Consumers read only public-schema tables (DESIGN.md §4: Channels runs all consumers' database
calls on one shared thread, so a schema switch here could leak between users).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from alerts.audience import alert_groups_for, broadcast_groups_for, visible_alerts
from district.realtime import ensure_listening
from district.typing import AnyUser
from events.actions import alert_payload

__all__ = ["REPLAY_MAX", "LiveConsumer"]

# At most this many missed alerts are replayed on reconnect (newest kept); the alert list
# page shows the rest.
REPLAY_MAX = 200
UNAUTHENTICATED = 4401
NO_ALERTS = 4403


def _groups(user: AnyUser) -> list[str]:
    return alert_groups_for(user) + broadcast_groups_for(user)


def _missed(user: AnyUser, last_id: int) -> list[dict[str, Any]]:
    alerts = list(visible_alerts(user).filter(pk__gt=last_id).order_by("-pk")[:REPLAY_MAX])
    return [{**alert_payload(alert, "raised"), "replay": True} for alert in reversed(alerts)]


def _last_id(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 2**63 else None


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Pushes alerts (``alert.raised|folded|updated``) and broadcasts (``broadcast.sent``) as JSON."""

    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(UNAUTHENTICATED)
            return
        groups = await database_sync_to_async(_groups)(user)
        if not groups:
            await self.refuse(NO_ALERTS)
            return
        await ensure_listening()
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode(errors="replace"))
        last_id = _last_id((query.get("last_id") or [None])[0])
        if last_id is not None:
            await self._replay(last_id)

    async def refuse(self, code: int) -> None:
        """Accept, then close with ``code`` at once, having joined nothing.

        A handshake refused outright reaches a browser as close code 1006, whatever the
        reason; accepted and closed, the browser sees 4401 or 4403 and stops retrying.
        """
        await self.accept()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        # A client's binary frame or text that is not JSON is ignored, not an error that drops
        # the connection (the base class raises on both).
        if not text_data:
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "replay":
            last_id = _last_id(content.get("last_id"))
            if last_id is not None:
                await self._replay(last_id)

    async def _replay(self, last_id: int) -> None:
        for payload in await database_sync_to_async(_missed)(self.scope["user"], last_id):
            await self.send_json(payload)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        """A message from ``district.realtime``: forward its payload as it is (ids and codes only)."""
        await self.send_json(message["event"])
