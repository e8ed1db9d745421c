"""Live push on ``/ws/live/`` (issue #10 part 3) with Channels' WebsocketCommunicator on the real ASGI app.

A compound's alert reaches the users of that compound, its street, its district and its city, and
not those of the sibling street; nobody joins a group by naming it; police-only alerts reach police
roles only; a client that reconnects with the last id it saw receives what it missed; anonymous
users, users without an alert role and pages of another origin are refused.

The tree is the suite's (tests/conftest.py): city → district → street A (compound A) and street B
(compound B). Everything here is committed (the consumer reads on its own thread) and removed.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from alerts import actions
from alerts.consumers import NO_ALERTS, UNAUTHENTICATED
from district.models import Area
from events.actions import do_raise_alert
from tenants.models import Compound
from tests.alerts.live import HANDSHAKE, SILENCE, committed, connect, receive, refusal
from tests.conftest import CITY, CODE_A, CODE_B, DISTRICT, STREET_A, STREET_B


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


def raise_alert(code: str, kind: str = "stranger") -> int:
    """Raise an alert in compound ``code`` and commit it (its message leaves on commit)."""
    with transaction.atomic():
        alert = do_raise_alert(
            Compound.objects.select_related("street__parent").get(code=code),
            kind=kind,
            occurred_at=timezone.now(),
            severity="high",
            detail={"device": "东门"},
        )
    return alert.pk


def area(code: str) -> Area:
    return Area.objects.get(code=code)


@pytest.fixture
def world() -> Any:
    """Users at every level of the tree above compound A, and beside it (street B, compound B)."""
    with committed() as made:
        a, b = Compound.objects.get(code=CODE_A), Compound.objects.get(code=CODE_B)
        made.person("live-staff-a", "property_staff", compound=a)
        made.person("live-grid-a", "grid_worker", compound=a)
        made.person("live-officer-a", "beat_officer", compound=a)
        made.person("live-street-a", "street_office", area=area(STREET_A))
        made.person("live-district", "district_branch", area=area(DISTRICT))
        made.person("live-city", "city_bureau", area=area(CITY))
        made.person("live-street-b", "street_office", area=area(STREET_B))
        made.person("live-staff-b", "property_staff", compound=b)
        made.person("live-officer-b", "beat_officer", compound=b)
        made.person("live-mediator-a", "mediator", compound=a)
        made.person("live-nobody")
        yield made


async def assert_silent(clients: list[Any]) -> None:
    for client in clients:
        assert await client.receive_nothing(timeout=SILENCE), "a message reached a client outside the alert's scope"


async def disconnect(clients: list[Any]) -> None:
    for client in clients:
        await client.disconnect()


def test_a_compound_alert_reaches_compound_street_district_and_city_not_the_sibling_street(world):
    reached = ["live-staff-a", "live-grid-a", "live-officer-a", "live-street-a", "live-district", "live-city"]
    beside = ["live-street-b", "live-staff-b", "live-officer-b"]

    async def scenario() -> None:
        clients = {name: await connect(world.cookies[name]) for name in reached + beside}
        alert_id = await database_sync_to_async(raise_alert)(CODE_A)
        for name in reached:
            message = await receive(clients[name])
            assert (message["type"], message["id"], message["kind"]) == ("alert.raised", alert_id, "stranger"), name
            assert set(message) == {"type", "id", "kind", "severity", "status", "count", "compound_id", "occurred_at"}
        await assert_silent([clients[name] for name in beside])
        # A lifecycle step is announced to the same people, and only to them.
        await database_sync_to_async(step)(alert_id, world.users[0])
        for name in reached:
            message = await receive(clients[name])
            assert (message["type"], message["id"], message["status"]) == ("alert.updated", alert_id, "acknowledged")
        await assert_silent([clients[name] for name in beside])
        await disconnect(list(clients.values()))

    async_to_sync(scenario)()


def step(alert_id: int, user: Any) -> None:
    from events.models import Alert

    with transaction.atomic():
        actions.do_acknowledge_alert(Alert.objects.get(pk=alert_id), acting_user=user, note="收到")


def test_no_group_can_be_joined_by_naming_it(world):
    """A client never names a group: neither in the query string nor in a message."""
    a = Compound.objects.get(code=CODE_A)
    names = [f"alerts.compound.{a.pk}", f"alerts.street.{a.street_id}", f"alerts.police.compound.{a.pk}"]
    crafted = "&".join(f"group={name}" for name in names)

    async def scenario() -> None:
        outsider = await connect(world.cookies["live-staff-b"], path=f"/ws/live/?{crafted}&groups={names[0]}")
        for name in names:
            for message in (
                {"type": "join", "group": name},
                {"type": "subscribe", "groups": [name]},
                {"type": "group_add", "group": name},
            ):
                await outsider.send_json_to(message)
        await outsider.send_to(text_data="not json")  # ignored, the connection stays
        await outsider.send_to(bytes_data=b"\x00\x01")
        insider = await connect(world.cookies["live-staff-a"])
        alert_id = await database_sync_to_async(raise_alert)(CODE_A)
        assert (await receive(insider))["id"] == alert_id  # it was sent…
        await assert_silent([outsider])  # …and never reached the crafted groups
        # A user without any role is refused, whatever group the URL names.
        assert await refusal(world.cookies["live-nobody"], path=f"/ws/live/?{crafted}") == NO_ALERTS
        await disconnect([outsider, insider])

    async_to_sync(scenario)()


def test_police_only_alerts_reach_police_roles_only(world):
    police = ["live-officer-a", "live-district", "live-city"]
    others = ["live-staff-a", "live-grid-a", "live-street-a", "live-officer-b"]

    async def scenario() -> None:
        clients = {name: await connect(world.cookies[name]) for name in police + others}
        alert_id = await database_sync_to_async(raise_alert)(CODE_A, "watchlist_hit")
        for name in police:
            message = await receive(clients[name])
            assert (message["id"], message["kind"]) == (alert_id, "watchlist_hit"), name
        await assert_silent([clients[name] for name in others])
        # Nor can property staff catch up on it by replaying.
        await clients["live-staff-a"].send_json_to({"type": "replay", "last_id": alert_id - 1})
        await assert_silent([clients["live-staff-a"]])
        await disconnect(list(clients.values()))

    async_to_sync(scenario)()


def test_a_reconnecting_client_receives_what_it_missed(world):
    async def scenario() -> None:
        first = await connect(world.cookies["live-staff-a"])
        seen = await database_sync_to_async(raise_alert)(CODE_A)
        assert (await receive(first))["id"] == seen
        await first.disconnect()
        # While the client is away: two alerts of its compound, one of another, one police-only.
        missed = [await database_sync_to_async(raise_alert)(CODE_A, "crowd")]
        await database_sync_to_async(raise_alert)(CODE_B)
        await database_sync_to_async(raise_alert)(CODE_A, "watchlist_hit")
        missed.append(await database_sync_to_async(raise_alert)(CODE_A, "tailgating"))
        # Back with the last id it saw, in the query string…
        again = await connect(world.cookies["live-staff-a"], path=f"/ws/live/?last_id={seen}")
        replayed = [await receive(again), await receive(again)]
        assert [m["id"] for m in replayed] == missed
        assert all(m["replay"] is True and m["type"] == "alert.raised" for m in replayed)
        await assert_silent([again])
        # …or in a message, as the client's script may send after connecting.
        await again.send_json_to({"type": "replay", "last_id": seen})
        assert [(await receive(again))["id"], (await receive(again))["id"]] == missed
        # Nonsense ids replay nothing and keep the connection.
        for last_id in ("x", -1, 2**64, None, [1]):
            await again.send_json_to({"type": "replay", "last_id": last_id})
        await assert_silent([again])
        await again.disconnect()
        bad = await connect(world.cookies["live-staff-a"], path="/ws/live/?last_id=abc")
        await assert_silent([bad])
        await bad.disconnect()

    async_to_sync(scenario)()


def test_anonymous_users_are_refused_with_4401(world):
    async def scenario() -> None:
        assert await refusal(None) == UNAUTHENTICATED
        assert await refusal("not-a-session-key") == UNAUTHENTICATED

    async_to_sync(scenario)()


def test_users_without_an_alert_role_are_refused_with_4403(world):
    async def scenario() -> None:
        assert await refusal(world.cookies["live-nobody"]) == NO_ALERTS
        assert await refusal(world.cookies["live-mediator-a"]) == NO_ALERTS

    async_to_sync(scenario)()


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://testserver.evil.example", b"null", None])
def test_another_origin_is_refused_at_the_handshake(world, origin):
    """A page of another site cannot open the socket with our user's cookie (nor a client without an Origin)."""

    async def scenario() -> None:
        assert await refusal(world.cookies["live-city"], origin=origin) == HANDSHAKE
        accepted = await connect(world.cookies["live-city"])  # the same user from our own origin
        await accepted.disconnect()

    async_to_sync(scenario)()
