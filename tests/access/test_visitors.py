"""Visitor passes, the gate's PIN / QR decision and remote opening (issue #9, part 5).

Real PostgreSQL throughout; time is moved by replacing ``access.visitors.clock`` (nothing
sleeps). The concurrency tests commit (``fresh_compound``) and race real threads, each on its
own database connection, through the same actions the device endpoints call.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from access import visitors
from access.choices import DeviceKind
from access.models import AccessSettings, Device, VisitorPass
from district.models import AuditAction, AuditEntry
from events.credentials import hash_secret, new_secret, new_uid
from events.models import AccessEvent, DeliveryKey, DeviceIndex
from tenants.models import Compound
from tests.conftest import CODE_A, CODE_B
from tests.factories import PersonFactory, RoleFactory

DECIDE = "/api/device/v1/decisions/pass/"
COMMANDS = "/api/device/v1/commands/"


# --- Helpers (also used by test_pass_search) --------------------------------------------------


class Gate:
    """A device of a compound: its public index row, its compound row and its credential."""

    def __init__(self, compound: Compound, kind: str = DeviceKind.FACE_GATE, name: str = "南门闸机") -> None:
        secret = new_secret()
        self.compound = compound
        self.index = DeviceIndex.objects.create(
            uid=new_uid(), compound=compound, kind=kind, key_hash=hash_secret(secret)
        )
        with tenant_context(compound):
            self.local = Device.objects.create(uid=self.index.uid, name=name, kind=kind, gate="南门")
        self.header = f"Device {self.index.uid}.{secret}"

    def post(self, path: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
        return Client().post(
            path, json.dumps(body or {}), content_type="application/json", HTTP_AUTHORIZATION=self.header, **headers
        )


class Clock:
    """``access.visitors.clock``, moved by the test."""

    def __init__(self, start: datetime.datetime) -> None:
        self.now = start

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(visitors, "clock", fake)
    return fake


def issue(compound: Compound, user: Any, *, hours: float = 2, max_uses: int = 2, **extra: Any) -> visitors.IssuedPass:
    with tenant_context(compound):
        now = visitors.clock()
        return visitors.do_issue_pass(
            compound,
            visitor_name=extra.pop("visitor_name", "王访客"),
            valid_until=now + datetime.timedelta(hours=hours),
            max_uses=max_uses,
            acting_user=user,
            **extra,
        )


@pytest.fixture
def officer_a(compound_a: Compound) -> Any:
    return RoleFactory(user__username="officer-a", role="beat_officer", compound=compound_a).user


@pytest.fixture
def gate_a(compound_a: Compound) -> Gate:
    return Gate(compound_a)


# --- Issuing ------------------------------------------------------------------------------------


def test_issue_returns_token_and_pin_once_and_stores_only_keyed_hashes(
    compound_a: Compound, staff_a: Any, clock: Clock, committing: Callable[[], Any]
) -> None:
    with tenant_context(compound_a):
        host = PersonFactory(name="李主人")
    with committing() as sent:
        issued = issue(compound_a, staff_a, host=host, visitor_phone="13912345678", purpose="探亲")
    visitor_pass, token, pin = issued
    assert len(pin) == 6 and pin.isdigit()
    assert len(token) >= 22
    with tenant_context(compound_a):
        stored = VisitorPass.objects.values().get(pk=visitor_pass.pk)
    assert stored["token_hash"] == visitors.token_hash(token) != token
    assert stored["pin_hash"] == visitors.pin_hash(pin)
    # Neither the token nor the PIN is anywhere in the row.
    assert not any(token in str(v) or v == pin for v in stored.values())
    # The hash is keyed: a plain SHA-256 of the PIN (found by trying all 10⁶) is not what is stored.
    import hashlib

    assert stored["pin_hash"] != hashlib.sha256(pin.encode()).hexdigest()
    audit = AuditEntry.objects.get(action=AuditAction.CREATE, object_type="access.visitorpass")
    assert audit.object_ids == [visitor_pass.pk] and audit.compound == compound_a
    assert "visitor_phone" in audit.detail["fields"] and "13912345678" not in json.dumps(audit.detail)
    assert "pin_hash" not in audit.detail["fields"]
    assert ([f"access.compound.{compound_a.pk}"], {"type": "access.pass.issued", "id": visitor_pass.pk}) in sent


def test_issue_page_shows_qr_and_pin_once(compound_a: Compound, staff_a: Any, clock: Clock) -> None:
    client = Client()
    client.force_login(staff_a)
    url = f"/c/{CODE_A}/access/passes/"
    now = timezone.localtime(clock.now)
    response = client.post(
        url,
        {
            "visitor_name": "赵来访",
            "visitor_phone": "",
            "host": "",
            "purpose": "送货",
            "valid_from": now.strftime("%Y-%m-%dT%H:%M"),
            "valid_until": (now + datetime.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
            "max_uses": "1",
        },
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    assert 'data-testid="pass-pin"' in page and 'src="data:image/svg+xml' in page
    pin = page.split('data-testid="pass-pin">')[1].split("<")[0].strip()
    assert len(pin) == 6
    with tenant_context(compound_a):
        visitor_pass = VisitorPass.objects.get(visitor_name="赵来访")
        assert visitor_pass.pin_hash == visitors.pin_hash(pin)
    listing = client.get(url).content.decode()
    assert "赵来访" in listing and pin not in listing


def test_a_pass_longer_than_the_compound_allows_is_refused(compound_a: Compound, staff_a: Any, clock: Clock) -> None:
    with tenant_context(compound_a):
        AccessSettings.objects.update_or_create(pk=1, defaults={"pass_max_hours": 24})
    with pytest.raises(ValidationError) as refused:
        issue(compound_a, staff_a, hours=25)
    assert "valid_until" in refused.value.message_dict
    with pytest.raises(ValidationError):
        issue(compound_a, staff_a, hours=-1)
    with pytest.raises(ValidationError):
        issue(compound_a, staff_a, max_uses=0)
    with pytest.raises(ValidationError) as bad_phone:
        issue(compound_a, staff_a, visitor_phone="12345")
    assert "visitor_phone" in bad_phone.value.message_dict
    assert issue(compound_a, staff_a, hours=24).visitor_pass.pk


def test_a_pin_is_never_shared_by_two_live_passes(
    compound_a: Compound, staff_a: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = iter(["111111", "111111", "111111", "222222"])
    monkeypatch.setattr(visitors, "new_pin", lambda: next(drawn))
    first = issue(compound_a, staff_a)
    second = issue(compound_a, staff_a)
    assert (first.pin, second.pin) == ("111111", "222222")
    # Once the first pass has ended, its PIN may be drawn again.
    clock.advance(hours=3)
    monkeypatch.setattr(visitors, "new_pin", lambda: "111111")
    assert issue(compound_a, staff_a).pin == "111111"


def test_issue_needs_the_capability(compound_a: Compound, admin_a: Any) -> None:
    client = Client()
    client.force_login(admin_a)  # a street office sees the event log, issues no passes
    assert client.get(f"/c/{CODE_A}/access/passes/").status_code == 403
    assert client.post(f"/c/{CODE_A}/api/access/passes/", {}, content_type="application/json").status_code == 403


def test_issue_through_the_api_answers_token_pin_and_qr_once(compound_a: Compound, staff_a: Any, clock: Clock) -> None:
    client = Client()
    client.force_login(staff_a)
    until = (clock.now + datetime.timedelta(hours=2)).isoformat()
    response = client.post(
        f"/c/{CODE_A}/api/access/passes/",
        {"visitor_name": "钱访客", "visitor_phone": "13800001234", "valid_until": until, "max_uses": 1},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["pin"]) == 6 and body["token"] and body["qr"].startswith("data:image/svg+xml")
    assert response["Cache-Control"] == "no-store"
    listed = client.get(f"/c/{CODE_A}/api/access/passes/").json()["results"]
    assert listed[0]["id"] == body["id"] and "pin" not in listed[0] and "token" not in listed[0]
    assert listed[0]["visitor_phone"] == "138****1234"  # property staff see phones masked
    revoked = client.post(f"/c/{CODE_A}/api/access/passes/{body['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"


# --- The gate's decision ------------------------------------------------------------------------


def test_a_pin_opens_within_validity_and_counts_its_uses(
    compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock
) -> None:
    visitor_pass, _token, pin = issue(compound_a, staff_a, max_uses=2)
    first = gate_a.post(DECIDE, {"pin": pin, "direction": "in"})
    assert first.status_code == 200, first.content
    assert first.json() | {"event_id": 0} == {
        "decision": "open",
        "reason": "",
        "event_id": 0,
        "uses_left": 1,
        "valid_until": visitor_pass.valid_until.isoformat(),
    }
    event = AccessEvent.objects.get(pk=first.json()["event_id"])
    assert (event.kind, event.decision, event.visitor_pass_id, event.direction) == (
        "pin",
        "open",
        visitor_pass.pk,
        "in",
    )
    assert event.compound_id == compound_a.pk and event.device_id == gate_a.index.pk
    assert gate_a.post(DECIDE, {"pin": pin}).json()["decision"] == "open"
    used_up = gate_a.post(DECIDE, {"pin": pin}).json()
    assert (used_up["decision"], used_up["reason"]) == ("deny", "used_up")
    with tenant_context(compound_a):
        assert VisitorPass.objects.get(pk=visitor_pass.pk).uses == 2


def test_a_qr_token_opens(compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock) -> None:
    _visitor_pass, token, _pin = issue(compound_a, staff_a)
    answer = gate_a.post(DECIDE, {"token": token}).json()
    assert answer["decision"] == "open"
    assert AccessEvent.objects.get(pk=answer["event_id"]).kind == "qr"
    assert gate_a.post(DECIDE, {"token": "x" * 22}).json()["reason"] == "unknown"


def test_refusals_say_why(compound_a: Compound, compound_b: Compound, staff_a: Any, gate_a: Gate, clock: Clock) -> None:
    _p, _t, pin = issue(compound_a, staff_a, hours=1)
    later = issue(compound_a, staff_a, valid_from=clock.now + datetime.timedelta(hours=1), hours=3)
    revoked = issue(compound_a, staff_a)
    with tenant_context(compound_a):
        visitors.do_revoke_pass(compound_a, revoked.visitor_pass, acting_user=staff_a)
    gate_b = Gate(compound_b, name="B 南门")

    def reason(gate: Gate, pin: str) -> str:
        return str(gate.post(DECIDE, {"pin": pin}).json()["reason"])

    assert reason(gate_a, later.pin) == "not_yet_valid"
    assert reason(gate_a, revoked.pin) == "revoked"
    # A device of another compound knows nothing of compound A's passes.
    assert reason(gate_b, pin) == "unknown"
    assert not AccessEvent.objects.filter(compound_id=compound_b.pk, decision="open").exists()
    clock.advance(hours=1, seconds=1)
    assert reason(gate_a, pin) == "expired"
    assert reason(gate_a, later.pin) == ""  # its validity has begun


def test_bad_requests_and_devices_are_refused(compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock) -> None:
    refused = gate_a.post(DECIDE, {})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    assert gate_a.post(DECIDE, {"pin": "12345"}).status_code == 400
    assert gate_a.post(DECIDE, {"pin": "123456", "token": "a" * 22}).status_code == 400
    sensor = Gate(compound_a, kind=DeviceKind.IR_MOTION, name="红外")
    wrong_kind = sensor.post(DECIDE, {"pin": "123456"})
    assert wrong_kind.status_code == 403 and wrong_kind.json()["code"] == "wrong_device_type"
    DeviceIndex.objects.filter(pk=gate_a.index.pk).update(revoked_at=timezone.now())
    assert gate_a.post(DECIDE, {"pin": "123456"}).status_code == 401
    assert Client().post(DECIDE, {"pin": "123456"}, content_type="application/json").status_code in (401, 403)


def test_wrong_pins_are_limited_per_device(
    compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor_pass, token, pin = issue(compound_a, staff_a, max_uses=5)
    wrong = [f"{n:06d}" for n in range(1, 100) if f"{n:06d}" != pin][: visitors.PIN_MISS_LIMIT]
    for guess in wrong:
        assert gate_a.post(DECIDE, {"pin": guess}).json()["reason"] == "unknown"
        clock.advance(seconds=5)
    refused = gate_a.post(DECIDE, {"pin": pin})  # even the right PIN: the device is guessing
    assert refused.status_code == 429
    assert refused.json()["reason"] == "rate_limited" and int(refused["Retry-After"]) > 0
    event = AccessEvent.objects.get(pk=refused.json()["event_id"])
    assert (event.decision, event.reason) == ("deny", "rate_limited")
    # The QR code (128 random bits, never guessed) still opens, and another gate still takes PINs.
    assert gate_a.post(DECIDE, {"token": token}).json()["decision"] == "open"
    other = Gate(compound_a, name="北门")
    assert other.post(DECIDE, {"pin": pin}).json()["decision"] == "open"
    # Once the first misses leave the window, the gate takes PINs again.
    clock.advance(minutes=10)
    assert gate_a.post(DECIDE, {"pin": pin}).json()["decision"] == "open"
    with tenant_context(compound_a):
        assert VisitorPass.objects.get(pk=visitor_pass.pk).uses == 3


def test_a_retried_delivery_decides_once(compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock) -> None:
    visitor_pass, _token, pin = issue(compound_a, staff_a, max_uses=1)
    first = gate_a.post(DECIDE, {"pin": pin}, HTTP_IDEMPOTENCY_KEY="gate-42-0001")
    again = gate_a.post(DECIDE, {"pin": pin}, HTTP_IDEMPOTENCY_KEY="gate-42-0001")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["decision"] == "open"
    assert again["Idempotent-Replayed"] == "true"
    assert AccessEvent.objects.filter(visitor_pass_id=visitor_pass.pk, compound_id=compound_a.pk).count() == 1
    assert DeliveryKey.objects.filter(device=gate_a.index, key="gate-42-0001").count() == 1
    assert gate_a.post(DECIDE, {"pin": pin}, HTTP_IDEMPOTENCY_KEY="é" * 3).status_code == 400


def test_the_device_time_is_kept_only_when_plausible(
    compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock
) -> None:
    _p, _t, pin = issue(compound_a, staff_a)
    reported = clock.now - datetime.timedelta(seconds=30)
    event_id = gate_a.post(DECIDE, {"pin": pin, "occurred_at": reported.isoformat()}).json()["event_id"]
    assert AccessEvent.objects.get(pk=event_id).occurred_at == reported
    far = clock.now - datetime.timedelta(days=40)
    event = AccessEvent.objects.get(
        pk=gate_a.post(DECIDE, {"pin": pin, "occurred_at": far.isoformat()}).json()["event_id"]
    )
    assert event.occurred_at == clock.now
    assert datetime.datetime.fromisoformat(event.detail["device_time"]) == far


# --- Remote opening -----------------------------------------------------------------------------


def test_remote_open_is_delivered_once_within_a_minute(
    compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock, committing: Callable[[], Any]
) -> None:
    client = Client()
    client.force_login(staff_a)
    with committing() as sent:
        response = client.post(f"/c/{CODE_A}/access/remote-open/", {"device": gate_a.index.uid, "note": "快递"})
    assert response.status_code == 302
    event = AccessEvent.objects.get(compound_id=compound_a.pk, kind="remote")
    assert (event.decision, event.actor_id, event.device_id) == ("open", staff_a.pk, gate_a.index.pk)
    assert event.detail == {"command": "open", "delivered": False, "note": "快递"}
    assert AuditEntry.objects.filter(action=AuditAction.CREATE, object_type="events.accessevent", object_ids=[event.pk])
    types = [payload["type"] for _groups, payload in sent]
    assert "access.remote_open.requested" in types and "access.event.recorded" in types

    polled = gate_a.post(COMMANDS).json()["commands"]
    assert [c["id"] for c in polled] == [event.pk] and polled[0]["command"] == "open"
    assert gate_a.post(COMMANDS).json() == {"commands": []}
    event.refresh_from_db()
    assert event.detail["delivered"] is True
    # Another device of the compound is not told.
    assert Gate(compound_a, name="北门").post(COMMANDS).json() == {"commands": []}
    # A command nobody fetched within 60 s is dropped.
    with tenant_context(compound_a):
        stale = visitors.do_remote_open(compound_a, gate_a.local, acting_user=staff_a)
    clock.advance(seconds=61)
    assert gate_a.post(COMMANDS).json() == {"commands": []}
    stale.refresh_from_db()
    assert stale.detail["delivered"] is False


def test_remote_open_through_the_api(compound_a: Compound, staff_a: Any, gate_a: Gate, clock: Clock) -> None:
    client = Client()
    client.force_login(staff_a)
    url = f"/c/{CODE_A}/api/access/remote-open/"
    response = client.post(url, {"device": gate_a.index.uid, "note": ""}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert gate_a.post(COMMANDS).json()["commands"][0]["id"] == response.json()["event_id"]
    unknown = client.post(url, {"device": "DNOSUCHDEVICE"}, content_type="application/json")
    assert unknown.status_code == 400
    sensor = Gate(compound_a, kind=DeviceKind.IR_MOTION, name="红外")
    assert client.post(url, {"device": sensor.index.uid}, content_type="application/json").status_code == 400


def test_a_device_of_another_compound_cannot_be_opened(
    compound_a: Compound, compound_b: Compound, staff_a: Any
) -> None:
    gate_b = Gate(compound_b, name="B 南门")
    client = Client()
    client.force_login(staff_a)
    response = client.post(f"/c/{CODE_A}/access/remote-open/", {"device": gate_b.index.uid})
    assert response.status_code == 422
    assert client.post(f"/c/{CODE_B}/access/remote-open/", {"device": gate_b.index.uid}).status_code == 404
    assert not AccessEvent.objects.filter(kind="remote").exists()


# --- Concurrency (committed data, real threads) ---------------------------------------------------


def race(compound: Compound, work: Callable[[int], Any], n: int = 2) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads at once, each on its own connection in the compound's schema."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            connection.set_tenant(compound)
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # reported by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.fixture
def committed_gates(fresh_compound: Compound) -> Iterator[list[Gate]]:
    """Four gates of the committed compound (removed after the test with their events)."""
    gates = [Gate(fresh_compound, name=f"闸机{i}") for i in range(4)]
    try:
        yield gates
    finally:
        connection.set_schema_to_public()
        AccessEvent.objects.filter(compound_id=fresh_compound.pk).delete()
        DeliveryKey.objects.filter(device__compound=fresh_compound).delete()
        DeviceIndex.objects.filter(compound=fresh_compound).delete()


class TestConcurrency:
    """Real threads on committed data: each thread's connection sees what the others commit."""

    @pytest.fixture
    def db(self, committed_db: None) -> None:
        """Here ``db`` commits (see ``committed_db``)."""

    def test_a_one_use_pass_opens_once_at_four_gates_at_once(
        self, fresh_compound: Compound, committed_gates: list[Gate]
    ) -> None:
        with tenant_context(fresh_compound):
            _p, _token, pin = visitors.do_issue_pass(
                fresh_compound,
                visitor_name="并发访客",
                valid_until=timezone.now() + datetime.timedelta(hours=1),
                max_uses=1,
                acting_user=_system(),
            )
        gates = committed_gates
        results = race(fresh_compound, lambda i: visitors.do_decide_pass(gates[i].index, gates[i].local, pin=pin), n=4)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(r.reason for r in results) == ["", "used_up", "used_up", "used_up"]
        with tenant_context(fresh_compound):
            assert VisitorPass.objects.get().uses == 1

    def test_concurrent_polls_deliver_a_command_once(
        self, fresh_compound: Compound, committed_gates: list[Gate]
    ) -> None:
        gate = committed_gates[0]
        with tenant_context(fresh_compound):
            opened = [visitors.do_remote_open(fresh_compound, gate.local, acting_user=_system()) for _ in range(3)]
        results = race(fresh_compound, lambda i: visitors.do_take_commands(gate.index), n=4)
        assert not [r for r in results if isinstance(r, Exception)], results
        delivered = [c["id"] for commands in results for c in commands]
        assert sorted(delivered) == sorted(e.pk for e in opened)


def _system() -> Any:
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()
