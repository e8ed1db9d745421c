"""What the WebSocket tests share: committed people with roles and signed-in sessions, a
communicator per person on the real ASGI application, and the clean-up of what a test committed.

The consumer reads the session and the alert rows on Channels' database thread, which never sees
a test's uncommitted transaction: these tests run on ``committed_db`` and remove what they made
(:class:`Committed`). Every wait is a receive with a timeout; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from alerts.models import Broadcast
from district.models import Area, AuditEntry, RoleAssignment
from events.models import AccessEvent, Alert

ORIGIN = b"http://testserver"
RECEIVE_TIMEOUT = 3.0  # seconds a delivery may take before the test fails
SILENCE = 0.3  # seconds of silence that prove nothing was delivered (after a delivery that was)


class Committed:
    """People made for one test, and the rows the test commits; all removed by :meth:`clean`."""

    def __init__(self) -> None:
        self.users: list[Any] = []
        self.cookies: dict[str, str] = {}
        self.marks = {
            "alert": Alert.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            "broadcast": Broadcast.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            "audit": AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            "event": AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        }

    def person(self, username: str, role: str | None = None, *, area: Area | None = None, compound: Any = None) -> Any:
        """A committed user (with one role, unless ``role`` is None) and a signed-in session."""
        user = get_user_model().objects.create(username=username)
        self.users.append(user)
        if role is not None:
            RoleAssignment.objects.create(user=user, role=role, area=area, compound=compound)
        browser = Client()
        browser.force_login(user)
        self.cookies[username] = browser.cookies[settings.SESSION_COOKIE_NAME].value
        return user

    def clean(self) -> None:
        connection.set_schema_to_public()
        Alert.objects.filter(pk__gt=self.marks["alert"]).delete()
        Broadcast.objects.filter(pk__gt=self.marks["broadcast"]).delete()
        AccessEvent.objects.filter(pk__gt=self.marks["event"]).delete()
        AuditEntry.objects.filter(pk__gt=self.marks["audit"]).delete()
        ids = {str(u.pk) for u in self.users}
        Session.objects.filter(
            session_key__in=[s.session_key for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) in ids]
        ).delete()
        # Not the ORM's delete: its collector would also visit compound-schema tables that point
        # at users (e.g. access consents), which do not exist in the public schema.
        RoleAssignment.objects.filter(user__in=self.users).delete()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM auth_user WHERE id = ANY(%s)", [[u.pk for u in self.users]])


@contextmanager
def committed() -> Iterator[Committed]:
    made = Committed()
    try:
        yield made
    finally:
        made.clean()


def communicator(
    cookie: str | None, *, path: str = "/ws/live/", origin: bytes | None = ORIGIN
) -> WebsocketCommunicator:
    """A client of the real ASGI application (origin check, session auth, routing) at ``path``."""
    from district.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def connect(cookie: str | None, *, path: str = "/ws/live/") -> WebsocketCommunicator:
    """A connected client; fails the test if the connection is refused."""
    client = communicator(cookie, path=path)
    connected, _ = await client.connect(timeout=RECEIVE_TIMEOUT)
    assert connected, f"{path} refused the connection"
    return client


HANDSHAKE = "handshake refused"


async def refusal(cookie: str | None, *, path: str = "/ws/live/", origin: bytes | None = ORIGIN) -> int | str:
    """How the endpoint refuses this client: the code it closes with once accepted, or :data:`HANDSHAKE`."""
    client = communicator(cookie, path=path, origin=origin)
    connected, _ = await client.connect(timeout=RECEIVE_TIMEOUT)
    if not connected:
        return HANDSHAKE
    message = await client.receive_output(timeout=RECEIVE_TIMEOUT)
    assert message["type"] == "websocket.close", message
    await client.wait(timeout=RECEIVE_TIMEOUT)
    code: int = message["code"]
    return code


async def receive(client: WebsocketCommunicator) -> dict[str, Any]:
    message: dict[str, Any] = await client.receive_json_from(timeout=RECEIVE_TIMEOUT)
    return message
