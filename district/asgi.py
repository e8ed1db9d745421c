"""ASGI entry point: HTTP through Django, ``GET /healthz`` before it, WebSockets (``/ws/live/``) through Channels.

WebSockets authenticate with the session cookie (``AuthMiddlewareStack``) and must come from one
of ``ALLOWED_HOSTS`` (``AllowedHostsOriginValidator``: another site's page cannot open a socket
with our user's cookie).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import psycopg
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "district.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from alerts.routing import websocket_urlpatterns  # noqa: E402
from district.api.views import HEALTHZ_DATABASE_TIMEOUT, healthz_payload  # noqa: E402
from district.realtime import plain_connection_params  # noqa: E402

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def check_no_persistent_connections(databases: Mapping[str, Mapping[str, object]]) -> None:
    """Refuse to serve with ``CONN_MAX_AGE`` other than 0 on any database.

    Django's ASGI handler runs each request's sync code in a thread of its own and connections
    belong to threads, so a persistent connection is never reused: each request leaves one
    open until the garbage collector frees it, and a few dozen clients exhaust PostgreSQL
    (issue #7, docs/benchmarks.md). The connection pool in settings.DATABASES bounds them.
    """
    for alias, database in databases.items():
        if database.get("CONN_MAX_AGE", 0) != 0:
            raise ImproperlyConfigured(
                f"DATABASES[{alias!r}]['CONN_MAX_AGE'] is {database['CONN_MAX_AGE']!r}: persistent connections "
                "leak one connection per request under ASGI; set it to 0 and use the connection pool "
                "(OPTIONS['pool'])."
            )


class DatabaseProbe:
    """The database check of ``/healthz``, on the event loop, on one connection of its own.

    Not through Django: there every request runs in a thread of its own and queues for a pooled
    connection behind the pages in flight, so under load a health check waited as long as the
    slowest page, and a flood of anonymous ``/healthz`` took pooled connections from real
    requests. Here one check runs at a time, on one connection per process, and every request
    that arrives meanwhile shares its answer: a flood costs one ``SELECT 1`` after another, not
    a queue of them. Each check answers within ``timeout`` seconds, connecting included.
    """

    def __init__(self, params: dict[str, Any], timeout: float) -> None:
        self.params = params
        self.timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._running: asyncio.Task[str] | None = None

    async def status(self) -> str:
        """``"ok"``, ``"timeout"`` or ``"error: <exception>"``."""
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._check())
        # Shielded: a client that hangs up cancels its own wait, not the check others share.
        return await asyncio.shield(self._running)

    async def _check(self) -> str:
        try:
            return await asyncio.wait_for(self._select_one(), self.timeout)
        except TimeoutError:
            return "timeout"

    async def _select_one(self) -> str:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(**self.params, autocommit=True)
            await self._conn.execute("SELECT 1")
        except psycopg.Error as exc:
            await self._discard()
            return f"error: {exc.__class__.__name__}"
        except asyncio.CancelledError:
            # Timed out while connecting or querying: the connection's state is unknown.
            await self._discard()
            raise
        return "ok"

    async def close(self) -> None:
        """Close the probe's connection (a later check opens a new one)."""
        await self._discard()

    async def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


def probe_params() -> dict[str, Any]:
    """How Django connects to the default database, for a plain async connection of our own."""
    return plain_connection_params()


def healthz_first(app: ASGIApp, probe: DatabaseProbe) -> ASGIApp:
    """``app``, with ``GET``/``HEAD /healthz`` answered on the event loop before it.

    Same body as ``district.api.views.healthz``. No middleware runs for it: the answer is
    fixed JSON that depends neither on the host nor on a session.
    """

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/healthz" or scope["method"] not in ("GET", "HEAD"):
            await app(scope, receive, send)
            return
        status, payload = healthz_payload(await probe.status())
        body = json.dumps(payload).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})

    return application


def body_limit(app: ASGIApp, max_bytes: int) -> ASGIApp:
    """``app``, with HTTP request bodies over ``max_bytes`` refused (413) before it reads them.

    A declared ``Content-Length`` over the limit is answered at once; a body sent without one
    (chunked) is cut off when it passes the limit: the app sees the client disconnect, and the
    client gets the 413 if nothing was answered yet.
    """

    async def refuse(send: Send) -> None:
        body = json.dumps({"detail": "Request body too large."}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await refuse(send)
            return
        received, started, cut = 0, False, False

        async def limited_receive() -> MutableMapping[str, Any]:
            nonlocal received, cut
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    cut = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        await app(scope, limited_receive, watched_send)
        if cut and not started:
            await refuse(send)

    return application


check_no_persistent_connections(settings.DATABASES)

healthz_probe = DatabaseProbe(probe_params(), HEALTHZ_DATABASE_TIMEOUT)
application = body_limit(
    healthz_first(
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            }
        ),
        healthz_probe,
    ),
    settings.REQUEST_BODY_MAX_BYTES,
)


# daphne's HTTP parser (twisted) silently drops a connection whose request line passes 16 KiB,
# e.g. a 2,000-character Chinese search (18 KB percent-encoded). Let request lines and headers
# up to 64 KiB through to Django (which bounds ``q`` and answers), and answer anything longer
# with twisted's own "400 Bad Request" instead of a reset connection.
REQUEST_HEAD_MAX_BYTES = 64 * 1024


def answer_long_request_lines(max_bytes: int = REQUEST_HEAD_MAX_BYTES) -> None:
    try:
        from twisted.web import http
    except ImportError:  # another ASGI server
        return
    channel: Any = http.HTTPChannel
    channel.totalHeadersSize = max_bytes
    channel.MAX_LENGTH = max_bytes
    channel.lineLengthExceeded = lambda self, line: self._respondToBadRequestAndDisconnect()


answer_long_request_lines()
