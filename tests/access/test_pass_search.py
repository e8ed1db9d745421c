"""The event log and pass search (案件研判, issue #9 part 6): filters, isolation, masking, snapshots.

Events are written with the action devices use (``events.actions.do_record_access_event``),
for compound A and, with the same person ids and plates, for compound B: nothing of B's may
ever answer a search in A, nor its snapshots.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from access.passes import mask_name
from district.models import AuditAction, AuditEntry
from events.actions import do_record_access_event, save_snapshot
from events.models import AccessEvent
from registry.models import Person
from tenants.models import Compound
from tests.access.test_visitors import Gate
from tests.conftest import CODE_A
from tests.factories import PersonFactory, RoleFactory, make_id_number

EVENTS = f"/c/{CODE_A}/api/access/events/"
LOG = f"/c/{CODE_A}/access/events/"
SEARCH = f"/c/{CODE_A}/access/search/"
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")  # a tiny JPEG's markers


@pytest.fixture
def officer_a(compound_a: Compound) -> Any:
    """社区民警 of compound A: may search passages, sees names and identifiers whole."""
    return RoleFactory(user__username="officer-a", role="beat_officer", compound=compound_a).user


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def event(compound: Compound, gate: Gate, ago: datetime.timedelta, **fields: Any) -> AccessEvent:
    fields.setdefault("kind", "face")
    fields.setdefault("decision", "open")
    return do_record_access_event(compound, occurred_at=timezone.now() - ago, device=gate.index, **fields)


class World:
    """Two residents, two gates and a plate in A; B's events reuse A's person ids and plate."""

    def __init__(self, a: Compound, b: Compound) -> None:
        with tenant_context(a):
            self.zhang = PersonFactory(name="张三丰", id_number=make_id_number(seq=901))
            self.li = PersonFactory(name="李四", id_number=make_id_number(seq=902))
        self.south, self.north = Gate(a, name="南门闸机"), Gate(a, name="北门闸机")
        self.gate_b = Gate(b, name="乙小区大门")
        hour = datetime.timedelta(hours=1)
        self.zhang_south = event(a, self.south, hour, person_id=self.zhang.pk, similarity=0.93)
        self.li_north = event(a, self.north, 2 * hour, person_id=self.li.pk, direction="out")
        self.car = event(a, self.south, 3 * hour, kind="plate", plate="鲁A12345")
        self.denied = event(a, self.north, 4 * hour, kind="pin", decision="deny", reason="unknown")
        self.old = event(a, self.south, datetime.timedelta(days=100), person_id=self.zhang.pk)
        # Compound B: the same person id and plate, a name that must never show in A.
        with tenant_context(b):
            self.stranger = PersonFactory(name="乙外人", id_number=make_id_number(seq=903))
        self.b_same_id = event(b, self.gate_b, hour, person_id=self.zhang.pk)
        self.b_stranger = event(b, self.gate_b, hour, person_id=self.stranger.pk)
        self.b_car = event(b, self.gate_b, 2 * hour, kind="plate", plate="鲁A12345")

    @property
    def recent_a(self) -> list[int]:
        return [self.zhang_south.pk, self.li_north.pk, self.car.pk, self.denied.pk]


@pytest.fixture
def world(compound_a: Compound, compound_b: Compound) -> World:
    return World(compound_a, compound_b)


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- Filters and isolation ------------------------------------------------------------------------


def test_the_api_filters_one_compounds_events(world: World, officer_a: Any) -> None:
    client = client_for(officer_a)
    assert ids(client.get(EVENTS)) == world.recent_a  # the last 7 days, newest first, A only
    assert ids(client.get(EVENTS, {"person": world.zhang.pk})) == [world.zhang_south.pk]
    assert ids(client.get(EVENTS, {"plate": "鲁a 12345"})) == [world.car.pk]  # normalised
    assert ids(client.get(EVENTS, {"device": world.north.index.uid})) == [world.li_north.pk, world.denied.pk]
    assert ids(client.get(EVENTS, {"device": world.gate_b.index.uid})) == []  # B's gate, asked in A
    assert ids(client.get(EVENTS, {"kind": "plate"})) == [world.car.pk]
    assert ids(client.get(EVENTS, {"decision": "deny"})) == [world.denied.pk]
    assert ids(client.get(EVENTS, {"direction": "out"})) == [world.li_north.pk]
    assert ids(client.get(EVENTS, {"q": "张三丰"})) == [world.zhang_south.pk]
    assert ids(client.get(EVENTS, {"q": "zsf"})) == [world.zhang_south.pk]  # pinyin initials
    assert ids(client.get(EVENTS, {"q": "乙外人"})) == []  # B's resident is no resident of A
    now = timezone.now()
    window = {
        "from": (now - datetime.timedelta(days=101)).isoformat(),
        "to": (now - datetime.timedelta(days=99)).isoformat(),
    }
    assert ids(client.get(EVENTS, window)) == [world.old.pk]
    row = client.get(EVENTS, {"person": world.zhang.pk}).json()["results"][0]
    assert (
        row["person_name"] == "张三丰" and row["device_name"] == "南门闸机" and row["device"] == world.south.index.uid
    )
    body = client.get(EVENTS, {"limit": 200}).content.decode()
    assert "乙外人" not in body and "乙小区大门" not in body


def test_a_search_reads_at_most_92_days(world: World, officer_a: Any) -> None:
    client = client_for(officer_a)
    now = timezone.now()
    too_long = {"from": (now - datetime.timedelta(days=93)).isoformat(), "to": now.isoformat()}
    assert client.get(EVENTS, too_long).status_code == 400
    backwards = {"from": now.isoformat(), "to": (now - datetime.timedelta(days=1)).isoformat()}
    assert client.get(EVENTS, backwards).status_code == 400
    assert client.get(EVENTS, {"from": (now - datetime.timedelta(days=100)).isoformat()}).status_code == 400
    assert client.get(EVENTS, {"from": "1900-01-01T00:00:00Z", "to": "1900-01-02T00:00:00Z"}).status_code == 400
    assert client.get(EVENTS, {"cursor": "not-a-cursor"}).status_code == 400
    assert client.get(EVENTS, {"limit": 201}).status_code == 400
    exactly = {"from": (now - datetime.timedelta(days=92)).isoformat(), "to": now.isoformat()}
    assert client.get(EVENTS, exactly).status_code == 200


def test_pages_follow_each_other_by_cursor(compound_a: Compound, officer_a: Any) -> None:
    gate = Gate(compound_a)
    made = [event(compound_a, gate, datetime.timedelta(minutes=m)).pk for m in range(7)]
    # Two events at the very same instant are still ordered (by id) and neither is lost.
    same = timezone.now() - datetime.timedelta(minutes=3, seconds=30)
    twins = [
        do_record_access_event(compound_a, occurred_at=same, device=gate.index, kind="card", decision="open").pk
        for _ in range(2)
    ]
    client = client_for(officer_a)
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(5):
        body = client.get(EVENTS, params).json()
        seen += [row["id"] for row in body["results"]]
        if body["next_cursor"] is None:
            break
        assert body["next"].endswith(f"cursor={body['next_cursor']}") or "cursor=" in body["next"]
        params["cursor"] = body["next_cursor"]
    assert sorted(seen) == sorted(made + twins) and len(seen) == len(set(seen))
    times = list(AccessEvent.objects.filter(pk__in=seen).values_list("pk", "occurred_at"))
    order = {pk: at for pk, at in times}
    assert [order[pk] for pk in seen] == sorted((order[pk] for pk in seen), reverse=True)


# --- Names, masks and the identifier rules ----------------------------------------------------------


def test_names_are_masked_without_the_search_capability(world: World, staff_a: Any, officer_a: Any) -> None:
    row = client_for(staff_a).get(EVENTS, {"person": world.zhang.pk}).json()["results"][0]
    assert row["person_name"] == "张*丰" and row["snapshot_url"] is None
    assert mask_name("李四") == "李*" and mask_name("欧阳娜娜") == "欧**娜" and mask_name("王") == "王"
    page = client_for(staff_a).get(LOG).content.decode()
    assert "张*丰" in page and "张三丰" not in page and "/snapshot/" not in page
    assert client_for(staff_a).get(SEARCH).status_code == 403  # property staff do not search passages
    assert "张三丰" in client_for(officer_a).get(SEARCH).content.decode()


def test_a_masked_user_finds_a_person_by_the_whole_id_number_only_and_is_audited(world: World, staff_a: Any) -> None:
    client = client_for(staff_a)
    number = world.zhang.id_number
    assert ids(client.get(EVENTS, {"q": number[:10]})) == []  # a fragment matches nothing when masked
    assert ids(client.get(EVENTS, {"q": number[-6:]})) == []
    assert ids(client.get(EVENTS, {"q": number})) == [world.zhang_south.pk]
    probe = AuditEntry.objects.get(action=AuditAction.PROBE_IDENTIFIER, user=staff_a)
    assert probe.object_ids == [world.zhang.pk] and probe.detail["found"] is True
    assert AuditEntry.objects.filter(action=AuditAction.SEARCH_ID_NUMBER, user=staff_a).exists()


def test_an_officer_finds_by_fragment_and_a_whole_number_is_still_audited(world: World, officer_a: Any) -> None:
    client = client_for(officer_a)
    number = world.li.id_number
    assert ids(client.get(EVENTS, {"q": number[-6:]})) == [world.li_north.pk]
    assert not AuditEntry.objects.filter(action=AuditAction.SEARCH_ID_NUMBER).exists()
    assert ids(client.get(SEARCH.replace("/access/search/", "/api/access/events/"), {"q": number})) == [
        world.li_north.pk
    ]
    searched = AuditEntry.objects.get(action=AuditAction.SEARCH_ID_NUMBER, user=officer_a)
    assert searched.object_ids == [world.li.pk]


def test_masked_lookups_are_limited(world: World, staff_a: Any, settings: Any) -> None:
    settings.IDENTIFIER_PROBE_LIMIT = 2
    client = client_for(staff_a)
    for seq in (911, 912):
        assert client.get(EVENTS, {"q": make_id_number(seq=seq)}).status_code == 200
    refused = client.get(EVENTS, {"q": make_id_number(seq=913)})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert client.get(LOG, {"q": make_id_number(seq=914)}).status_code == 429


# --- Snapshots ------------------------------------------------------------------------------------


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def with_snapshot(compound: Compound, gate: Gate) -> AccessEvent:
    at = timezone.now() - datetime.timedelta(minutes=5)
    name = save_snapshot(compound, JPEG, at)
    return do_record_access_event(
        compound, occurred_at=at, device=gate.index, kind="face", decision="deny", snapshot=name
    )


def test_each_snapshot_view_is_audited_and_other_compounds_snapshots_are_not_found(
    world: World, compound_a: Compound, compound_b: Compound, officer_a: Any, staff_a: Any, media: Any
) -> None:
    mine = with_snapshot(compound_a, world.south)
    theirs = with_snapshot(compound_b, world.gate_b)
    client = client_for(officer_a)
    url = f"/c/{CODE_A}/access/events/{mine.pk}/snapshot/"
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        assert response.content == JPEG
        assert "no-store" in response["Cache-Control"]
    views = AuditEntry.objects.filter(action=AuditAction.VIEW_PII, object_type="events.accessevent")
    assert list(views.values_list("object_ids", flat=True)) == [[mine.pk], [mine.pk]]
    assert views.first().compound == compound_a
    # B's event through A's URL: not found, and nothing audited.
    assert client.get(f"/c/{CODE_A}/access/events/{theirs.pk}/snapshot/").status_code == 404
    assert client.get(f"/c/{CODE_A}/access/events/{world.zhang_south.pk}/snapshot/").status_code == 404  # none
    assert views.count() == 2
    assert client_for(staff_a).get(url).status_code == 403
    # The search page shows the thumbnail (served by that view); the API gives its URL.
    assert url in client.get(SEARCH).content.decode()
    rows = {row["id"]: row for row in client.get(EVENTS).json()["results"]}
    assert rows[mine.pk]["snapshot_url"] == url and rows[mine.pk]["has_snapshot"] is True
    assert theirs.pk not in rows


def test_the_event_log_refreshes_itself(world: World, staff_a: Any) -> None:
    client = client_for(staff_a)
    page = client.get(LOG).content.decode()
    assert 'hx-trigger="every 10s"' in page and "南门闸机" in page
    partial = client.get(LOG, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "南门闸机" in partial and "乙小区大门" not in partial
    # A chosen end of the window, or an older page, is not live.
    assert 'hx-trigger="every 10s"' not in client.get(LOG, {"to": "2026-01-01T00:00"}).content.decode()
    # Nor is a search for someone: polled, a whole ID number would be audited every 10 s.
    assert 'hx-trigger="every 10s"' not in client.get(LOG, {"q": "张三丰"}).content.decode()
    assert client.get(LOG, {"from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}).status_code == 400


def test_persons_of_the_page_are_read_from_the_compound(world: World, compound_a: Compound, officer_a: Any) -> None:
    """Renaming a resident renames them in every past event: names live in the compound only."""
    with tenant_context(compound_a):
        Person.objects.filter(pk=world.zhang.pk).update(name="张三")
    row = client_for(officer_a).get(EVENTS, {"person": world.zhang.pk}).json()["results"][0]
    assert row["person_name"] == "张三"
    assert "张三" not in str(AccessEvent.objects.filter(pk=world.zhang_south.pk).values().get())
