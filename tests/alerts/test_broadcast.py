"""Joint-defence broadcasts delivered live (issue #10 part 4): a message to a compound reaches the grid
workers, property staff and officers of that compound; a message to a street reaches those of every
compound of the street; neither reaches another street. Recipients then read the message through the
permission-checked fragment, which answers 404 to everyone else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client

from alerts.models import Broadcast
from district.models import Area
from tenants.models import Compound
from tests.alerts.live import SILENCE, committed, connect, receive
from tests.conftest import CODE_A, CODE_B, STREET_A, STREET_B


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


@pytest.fixture
def world(fresh_compound: Compound) -> Any:
    """Patrol members of compound A, of a second compound of street A, and of street B's compound."""
    with committed() as made:
        a, b = Compound.objects.get(code=CODE_A), Compound.objects.get(code=CODE_B)
        for role in ("grid_worker", "property_staff", "beat_officer"):
            made.person(f"bc-{role}-a", role, compound=a)
            made.person(f"bc-{role}-a2", role, compound=fresh_compound)
            made.person(f"bc-{role}-b", role, compound=b)
        made.person("bc-street-a", "street_office", area=Area.objects.get(code=STREET_A))
        made.person("bc-street-b", "street_office", area=Area.objects.get(code=STREET_B))
        made.compounds = {"a": a, "a2": fresh_compound, "b": b}
        yield made


def members(where: str) -> list[str]:
    return [f"bc-{role}-{where}" for role in ("grid_worker", "property_staff", "beat_officer")]


def send(cookie: str, body: dict[str, Any]) -> dict[str, Any]:
    """Send a broadcast through the API, as the sender's browser would (committed at once)."""
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    response = client.post("/api/alerts/broadcasts/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    created: dict[str, Any] = response.json()
    return created


def read(cookie: str, broadcast_id: int) -> int:
    """The status of the recipient's request for the message fragment (what the live script fetches)."""
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    return client.get(f"/alerts/broadcasts/{broadcast_id}/", {"fragment": "1"}).status_code


def deliver(world: Any, sender: str, body: dict[str, Any], reached: list[str], missed: list[str]) -> int:
    async def scenario() -> int:
        clients = {name: await connect(world.cookies[name]) for name in reached + missed}
        created = await database_sync_to_async(send)(world.cookies[sender], body)
        for name in reached:
            message = await receive(clients[name])
            assert (message["type"], message["id"]) == ("broadcast.sent", created["id"]), name
            assert set(message) == {"type", "id", "sent_at"}  # ids only: the text is fetched
        for name in missed:
            assert await clients[name].receive_nothing(timeout=SILENCE), f"{name} received a broadcast"
        for client in clients.values():
            await client.disconnect()
        return int(created["id"])

    broadcast_id: int = async_to_sync(scenario)()
    for name in reached:
        assert read(world.cookies[name], broadcast_id) == 200, name
    for name in missed:
        if name.endswith("-b"):
            assert read(world.cookies[name], broadcast_id) == 404, name
    return broadcast_id


def test_a_broadcast_to_a_compound_reaches_its_patrol_members_only(world):
    a = world.compounds["a"]
    broadcast_id = deliver(
        world,
        "bc-beat_officer-a",
        {"text": "协查：灰色外套男子，身高约175", "compound": a.pk},
        reached=members("a"),
        missed=[*members("a2"), *members("b"), "bc-street-b"],
    )
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    assert (broadcast.compound_id, broadcast.area_id, broadcast.sender.username) == (a.pk, None, "bc-beat_officer-a")


def test_a_broadcast_to_a_street_reaches_every_compound_of_the_street_not_another_street(world):
    street = Area.objects.get(code=STREET_A)
    broadcast_id = deliver(
        world,
        "bc-street-a",
        {"text": "今晚22点联防巡逻，各小区注意", "street": street.pk},
        reached=[*members("a"), *members("a2"), "bc-street-a"],
        missed=[*members("b"), "bc-street-b"],
    )
    assert Broadcast.objects.get(pk=broadcast_id).area_id == street.pk
