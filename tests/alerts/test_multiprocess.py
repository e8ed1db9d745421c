"""An alert raised in one process reaches a browser connected to another (issue #10, "must show").

A real daphne process serves ``district.asgi:application`` on the test database; a WebSocket
client signs in with a session made here and connects to it; then a separate worker process
(``manage.py shell``) raises an alert in its own transaction and exits. The client must receive
the alert:

(a) through the real Redis channel layer (``REDIS_URL``), as in production with several ASGI
    workers; skipped if Redis does not answer on 127.0.0.1:6379;
(b) without Redis: each process has an in-memory layer, and the worker's message travels by
    PostgreSQL ``NOTIFY`` to the server's relay (``district.realtime``), as with ``make run``.

The client is a minimal RFC 6455 implementation on asyncio streams (no WebSocket package is a
dependency of the project); every wait for the server is a read with a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import os
import secrets
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from tenants.models import Compound
from tests.alerts.live import committed
from tests.conftest import CODE_A, CODE_B

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = str(Path(sys.executable))
REDIS = ("127.0.0.1", 6379)
# A Redis database of its own, so that other suites using Redis on this machine stay apart.
REDIS_URL = "redis://127.0.0.1:6379/13"
START_TIMEOUT = 30.0
RECEIVE_TIMEOUT = 20.0  # covers the worker process's start (Django setup) and the delivery
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


# --- A minimal WebSocket client ------------------------------------------------------------------


class WebSocketClosedError(Exception):
    """The server closed the connection (``code`` from its close frame)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class MiniWebSocket:
    """Just enough of RFC 6455 for a test client: handshake, masked text frames out, frames in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int, path: str, headers: dict[str, str], timeout: float) -> MiniWebSocket:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status, *header_lines = head.decode("latin-1").split("\r\n")
        assert status.split(" ")[1] == "101", f"handshake refused: {status}"
        answer = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        expected = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()  # the protocol's digest
        assert answer.get("sec-websocket-accept") == expected
        return cls(reader, writer)

    async def _frame(self) -> tuple[int, bool, bytes]:
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        mask = await self.reader.readexactly(4) if second & 0x80 else b""
        data = await self.reader.readexactly(length)
        if mask:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return first & 0x0F, bool(first & 0x80), data

    async def _send(self, opcode: int, data: bytes) -> None:
        mask = secrets.token_bytes(4)
        header = bytes([0x80 | opcode])
        if len(data) < 126:
            header += bytes([0x80 | len(data)])
        elif len(data) < 2**16:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(data))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(data))
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        await self.writer.drain()

    async def receive_text(self) -> str:
        parts: list[bytes] = []
        while True:
            opcode, fin, data = await self._frame()
            if opcode == 0x8:
                raise WebSocketClosedError(struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None)
            if opcode == 0x9:
                await self._send(0xA, data)  # pong
                continue
            if opcode in (0x1, 0x0):
                parts.append(data)
                if fin:
                    return b"".join(parts).decode()

    async def receive_json(self, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.receive_text(), timeout))
        return message

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(0x8, struct.pack("!H", 1000))
        self.writer.close()


# --- The server and the worker --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def environment(database_url: str, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="district.settings", DEBUG="false")
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def wait_until_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/healthz`` until the new process answers (waiting for it to listen, not for app state)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"daphne exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"daphne did not answer /healthz within {START_TIMEOUT:.0f} s:\n{log.read_text()}")


def daphne(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "district.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return server, port


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


RAISE = """
from django.db import transaction
from django.utils import timezone
from events.actions import do_raise_alert
from tenants.models import Compound
with transaction.atomic():
    alert = do_raise_alert(Compound.objects.get(code={code!r}), kind="stranger", occurred_at=timezone.now(),
                           severity="high", detail={{"device": "东门"}})
print("ALERT", alert.pk)
"""


def start_worker(env: dict[str, str], code: str) -> subprocess.Popen[str]:
    """A separate process that raises one alert in compound ``code`` and commits it."""
    return subprocess.Popen(
        [PYTHON, "manage.py", "shell", "-c", RAISE.format(code=code)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def raised_id(worker: subprocess.Popen[str]) -> int:
    out, err = worker.communicate(timeout=RECEIVE_TIMEOUT)
    assert worker.returncode == 0, err
    return int(next(line for line in out.splitlines() if line.startswith("ALERT ")).split()[1])


@pytest.fixture
def people() -> Iterator[Any]:
    with committed() as made:
        made.person("mp-staff-a", "property_staff", compound=Compound.objects.get(code=CODE_A))
        made.person("mp-staff-b", "property_staff", compound=Compound.objects.get(code=CODE_B))
        yield made


def across_processes(people: Any, database_url: str, redis_url: str | None, tmp_path: Path) -> None:
    env = environment(database_url, redis_url)
    server, port = daphne(env, tmp_path / "daphne.log")
    try:
        wait_until_healthy(port, server, tmp_path / "daphne.log")

        async def scenario() -> tuple[int, dict[str, Any]]:
            def client(name: str) -> Any:
                headers = {"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={people.cookies[name]}"}
                return MiniWebSocket.connect("127.0.0.1", port, "/ws/live/", headers, START_TIMEOUT)

            mine, theirs = await client("mp-staff-a"), await client("mp-staff-b")
            worker = start_worker(env, CODE_A)
            try:
                message = await mine.receive_json(RECEIVE_TIMEOUT)
                # From the alert's time (taken just before its commit in the worker) to receipt here.
                latency = timezone.now() - datetime.datetime.fromisoformat(message["occurred_at"])
                layer = "redis" if redis_url else "notify"
                print(f"\n{layer}: raised → received in {latency.total_seconds() * 1000:.1f} ms")
                alert_id = await asyncio.get_running_loop().run_in_executor(None, raised_id, worker)
                # Staff of another street's compound: nothing within the same wait.
                with pytest.raises(TimeoutError):
                    await theirs.receive_json(1.0)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
                await mine.close()
                await theirs.close()
            return alert_id, message

        alert_id, message = async_to_sync(scenario)()
        assert (message["type"], message["id"], message["kind"]) == ("alert.raised", alert_id, "stranger")
        assert message["compound_id"] == Compound.objects.get(code=CODE_A).pk
    finally:
        stop(server)


@pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_an_alert_raised_by_a_worker_reaches_a_client_of_another_server_process_through_redis(
    people, test_database_url, tmp_path
):
    across_processes(people, test_database_url, REDIS_URL, tmp_path)


def test_without_redis_the_alert_travels_by_postgresql_notify(people, test_database_url, tmp_path):
    across_processes(people, test_database_url, None, tmp_path)
