"""Request bodies over the limit are refused before Django reads (and spools) them."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from district.asgi import body_limit

LIMIT = 1000


def make_app(seen: list[int]) -> Any:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # as Django does: the request is abandoned, nothing is answered
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        seen.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def run(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, list[int]]:
    seen: list[int] = []
    scope = {"type": "http", "method": "POST", "path": "/c/x/import/", "headers": headers}

    async def go() -> int:
        communicator = ApplicationCommunicator(body_limit(make_app(seen), LIMIT), scope)
        for n, chunk in enumerate(chunks):
            await communicator.send_input({"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1})
        start = await communicator.receive_output(timeout=5)
        await communicator.receive_output(timeout=5)
        return int(start["status"])

    return async_to_sync(go)(), seen


def test_a_declared_oversize_body_is_refused_unread() -> None:
    status, seen = run([(b"content-length", b"5000")], [b"x" * 5000])
    assert status == 413 and seen == []


def test_an_undeclared_oversize_body_is_cut_off() -> None:
    status, seen = run([], [b"x" * 600, b"x" * 600])
    assert status == 413 and seen == []


def test_a_body_within_the_limit_passes() -> None:
    status, seen = run([(b"content-length", b"900")], [b"x" * 500, b"x" * 400])
    assert status == 200 and seen == [900]
