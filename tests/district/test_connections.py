"""Database connections stay bounded under concurrent ASGI requests (issue #7).

Under ASGI every request runs in a thread of its own, and a Django connection belongs to its
thread. With persistent connections (``CONN_MAX_AGE`` > 0, the old configuration) each request
therefore opened a connection of its own and left it open until the garbage collector freed
it: 64 clients ran PostgreSQL out of connections. These tests drive the real ASGI application
in-process with many concurrent requests and count the PostgreSQL backends that served them;
no test waits for time.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse
from django.urls import path

from district.api import views as api_views
from district.permissions import PUBLIC, declare
from tenants.models import Compound


@declare(GET=PUBLIC)
def backend_pid(request: HttpRequest) -> JsonResponse:
    """Which PostgreSQL backend (connection) served this request, through Django's ORM connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return JsonResponse({"pid": pid})


# This module is the URLconf of the tests marked ``urls(__name__)``: one page that queries the
# database (anonymous pages of the project may not), and /healthz.
urlpatterns = [path("pid", backend_pid), path("healthz", api_views.healthz)]


@pytest.fixture(autouse=True)
def _close_healthz_probe() -> Iterator[None]:
    """The /healthz probe's connection would keep the test database from being dropped."""
    yield
    from district.asgi import healthz_probe

    asyncio.run(healthz_probe.close())


def pool_bound() -> int:
    """The configured most connections one process opens (the pool's ``max_size``)."""
    return int(settings.DATABASE_POOL_SIZE)


def backends() -> int:
    """Connections to the test database now, this test's own included."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps serving its first statistics snapshot.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        (count,) = cursor.fetchone()
    return int(count)


def checked_out() -> int:
    """Pooled connections held by someone (the test's own transaction holds one)."""
    stats = connection.pool.get_stats()
    return int(stats["pool_size"] - stats["pool_available"])


async def get(application: Any, url: str) -> tuple[int, bytes]:
    """One GET through the ASGI application, waiting until it has finished (request_finished ran)."""
    communicator = ApplicationCommunicator(
        application,
        {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": url,
            "raw_path": url.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        },
    )
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=60)
    body = await communicator.receive_output(timeout=60)
    # The response is out; the connection goes back to the pool when the handler ends.
    await communicator.wait(timeout=60)
    return start["status"], body["body"]


def test_asgi_refuses_persistent_connections() -> None:
    from district.asgi import check_no_persistent_connections

    check_no_persistent_connections({"default": {"CONN_MAX_AGE": 0}})
    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE"):
        check_no_persistent_connections({"default": {"CONN_MAX_AGE": 60}})
    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE"):
        check_no_persistent_connections({"default": {"CONN_MAX_AGE": None}})  # None: forever


def test_connections_are_pooled_not_persistent() -> None:
    database = settings.DATABASES["default"]
    assert database["CONN_MAX_AGE"] == 0
    pool = database["OPTIONS"]["pool"]
    assert pool["max_size"] == settings.DATABASE_POOL_SIZE
    # A bound well below PostgreSQL's default max_connections (100), which other processes
    # (job workers, more ASGI processes, management commands) share.
    assert 1 <= pool["max_size"] <= 20
    assert pool["timeout"] <= 30


@pytest.mark.urls(__name__)
def test_concurrent_requests_use_at_most_the_pool(db: None) -> None:
    """4 × the bound of concurrent requests are served by at most the bound of backends, all returned after.

    Django's own ASGI handler, which daphne runs under ``district.asgi``: each request in a
    thread of its own, as in production.
    """
    from django.core.asgi import get_asgi_application

    application = get_asgi_application()
    bound = pool_bound()
    requests = 4 * bound
    before = backends()

    async def burst() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(get(application, "/pid") for _ in range(requests)))

    answers = asyncio.run(burst())

    assert [status for status, _ in answers] == [200] * requests
    pids = {json.loads(body)["pid"] for _, body in answers}
    # The old configuration: one backend per request (here 4 × the bound), each left open.
    assert len(pids) <= bound, f"{len(pids)} connections served {requests} requests"
    assert backends() <= before + bound


@pytest.mark.urls(__name__)
def test_the_served_application_returns_every_connection(db: None) -> None:
    """``district.asgi.application`` (pages and /healthz): every connection back in the pool after."""
    from district.asgi import application

    bound = pool_bound()
    requests = 4 * bound
    before, held_before = backends(), checked_out()

    async def burst() -> list[tuple[int, bytes]]:
        pages = [get(application, "/pid") for _ in range(requests)]
        probes = [get(application, "/healthz") for _ in range(requests)]
        return await asyncio.gather(*pages, *probes)

    answers = asyncio.run(burst())

    assert [status for status, _ in answers] == [200] * (2 * requests)
    assert all(json.loads(body)["database"] == "ok" for _, body in answers[requests:])
    assert checked_out() == held_before
    # Besides the pool's connections the only new backend is /healthz's own.
    assert backends() <= before + bound + 1


def test_a_pooled_connection_does_not_carry_a_compound_schema(compound_a: Compound) -> None:
    """A request that worked in a compound returns its connection; the next user is in public."""
    first = connections.create_connection("default")
    try:
        first.set_tenant(compound_a)
        with first.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), current_setting('search_path')")
            pid, search_path = cursor.fetchone()
        assert compound_a.schema_name in search_path
    finally:
        first.close()  # what request_finished does with CONN_MAX_AGE 0: back to the pool

    # Take every idle pooled connection at once, so the one just returned is among them.
    idle = int(connection.pool.get_stats()["pool_available"])
    later = [connections.create_connection("default") for _ in range(idle)]
    try:
        seen = {}
        for wrapper in later:
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid(), current_setting('search_path')")
                backend, current = cursor.fetchone()
            seen[backend] = current
        assert pid in seen
        assert seen[pid] == "public"
    finally:
        for wrapper in later:
            wrapper.close()


@pytest.fixture
def short_healthz_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """/healthz gives up after 0.2 s instead of 2 s, so the tests below end quickly."""
    monkeypatch.setattr(api_views, "HEALTHZ_DATABASE_TIMEOUT", 0.2)
    return 0.2


@pytest.fixture
def exhausted_pool(db: None) -> Iterator[None]:
    """Every connection of the pool handed out (as under a load that holds them all)."""
    pool = connection.pool
    taken = []
    try:
        while pool.get_stats()["pool_size"] < pool.max_size or pool.get_stats()["pool_available"]:
            taken.append(pool.getconn(timeout=5))
        yield
    finally:
        for conn in taken:
            pool.putconn(conn)


def test_healthz_view_answers_busy_when_no_pooled_connection_is_free(
    short_healthz_timeout: float, exhausted_pool: None
) -> None:
    assert api_views.ping_database() == "busy"
    status, payload = api_views.healthz_payload("busy")
    assert (status, payload["status"]) == (503, "unavailable")


def test_asgi_healthz_does_not_need_the_pool(exhausted_pool: None) -> None:
    """Under daphne /healthz is answered before Django, on a connection of its own."""
    from district.asgi import application

    status, body = asyncio.run(get(application, "/healthz"))
    assert status == 200
    assert json.loads(body)["database"] == "ok"


def test_asgi_healthz_answers_503_in_time_when_postgresql_does_not_answer() -> None:
    """A server that accepts the connection but never answers: 503 "timeout", not a hang."""
    from district.asgi import DatabaseProbe

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever answers
        port = silent.getsockname()[1]
        probe = DatabaseProbe({"host": "127.0.0.1", "port": port, "dbname": "x", "connect_timeout": 30}, timeout=0.2)
        assert asyncio.run(probe.status()) == "timeout"


def test_asgi_healthz_reports_a_refused_connection() -> None:
    from district.asgi import DatabaseProbe

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        probe = DatabaseProbe({"host": "127.0.0.1", "port": port, "dbname": "x"}, timeout=5)
        assert asyncio.run(probe.status()) == "error: OperationalError"
