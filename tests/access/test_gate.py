"""Gate decisions through the device API: faces, cards, plates, 实名闸 and sensor readings (issue #9).

Real photos from ``../shared/faces`` (skipped when absent): a capture posted over HTTP goes
through the whole pipeline (decode, detect, encode, match, record). Tests about the decision
rather than the pipeline call the ``access.gate`` actions with faces encoded once per session
(``tests/access/gate_support.py``). Each test asserts the events written and, where it matters,
what was delivered on commit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from access import gate
from access.actions import do_remove_face, do_save_card
from access.choices import DeviceKind
from access.models import Card
from events.actions import access_group, alert_groups
from events.choices import Decision, EventKind, Severity, WatchKind
from events.models import AccessEvent, Alert, AreaTagged, DeliveryKey
from registry.models import Person
from tests.access.gate_support import (
    CARD_URL,
    FACE_URL,
    HEARTBEAT_URL,
    IDENTITY_URL,
    PLATE_URL,
    READINGS_URL,
    SYSTEM,
    city_of,
    encoding_of,
    enrol,
    faces_of,
    image_bytes,
    make_device,
    needs_faces,
    photo,
    watch,
)
from tests.factories import PersonFactory, VehicleFactory, make_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> Any:
    """Snapshots go to a temporary folder, not the project's media/."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def face_gate(compound_a: Any) -> Any:
    return make_device(compound_a, DeviceKind.FACE_GATE)


@pytest.fixture
def residents(compound_a: Any) -> dict[str, Person]:
    """Two residents of compound A, each enrolled with their enrolment photo."""
    with tenant_context(compound_a):
        obama = PersonFactory(name="欧巴马")
        biden = PersonFactory(name="拜登")
        enrol(obama, encoding_of("enroll/obama.jpg"))
        enrol(biden, encoding_of("enroll/biden.jpg"))
    return {"obama": obama, "biden": biden}


def post_face(client: Any, image: bytes, *, key: str = "", filename: str = "capture.jpg", **fields: Any) -> Any:
    upload = SimpleUploadedFile(filename, image, content_type="image/jpeg")
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(FACE_URL, {"image": upload, **fields}, format="multipart", **extra)


def recorded(sent: list, compound: Any) -> list[dict]:
    return [p for groups, p in sent if p["type"] == "access.event.recorded" and access_group(compound.pk) in groups]


# --- Faces over HTTP --------------------------------------------------------------------------------


@needs_faces
def test_an_enrolled_resident_opens_and_the_passage_is_recorded(face_gate, residents, compound_a, committing, media):
    capture = photo("probe/obama2.jpg")
    with committing() as sent:
        response = post_face(face_gate.client(), capture, direction="in", liveness="passed")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["open"] is True and body["faces_in_capture"] == 1
    [result] = body["results"]
    obama = residents["obama"]
    assert (result["decision"], result["reason"], result["person_id"]) == ("open", "resident", obama.pk)
    assert result["display_name"] == "欧**"  # what a gate display needs, never the name
    assert "欧巴马" not in response.content.decode()
    assert 0.6 < result["similarity"] < 0.7  # distance 0.36 to the enrolment photo
    assert result["margin"] > 0.4  # Biden, the other resident, is 0.82 away
    assert result["watch_hit"] is False

    event = AccessEvent.objects.get(pk=result["event_id"])
    assert (event.kind, event.decision, event.reason, event.person_id) == ("face", "open", "resident", obama.pk)
    assert (event.compound_id, event.street_id) == (compound_a.pk, compound_a.street_id)
    assert event.city_id == city_of(compound_a) and event.device_id == face_gate.index.pk
    assert (event.face_index, event.faces_in_capture, event.liveness, event.direction) == (0, 1, "passed", "in")
    assert event.similarity == pytest.approx(result["similarity"], abs=1e-4)
    with default_storage.open(event.snapshot) as stored:
        assert stored.read() == capture  # the capture as received, stored once
    assert f"/{compound_a.code}/snapshots/" in event.snapshot
    assert [p["id"] for p in recorded(sent, compound_a)] == [event.pk]


@needs_faces
def test_a_watched_face_is_a_hit_the_door_stays_shut_and_the_beat_officer_is_alerted(
    face_gate, residents, compound_a, committing
):
    entry = watch(city_of(compound_a), encodings=(encoding_of("enroll/biden.jpg"),), name="拜登布控")
    with committing() as sent:
        response = post_face(face_gate.client(), photo("probe/biden2.jpg"))

    body = response.json()
    assert response.status_code == 200 and body["open"] is False
    [result] = body["results"]
    # Biden is also an enrolled resident: the watch-list comes first.
    assert (result["decision"], result["reason"], result["watch_hit"]) == ("hit", "watchlist", True)
    assert result["display_name"] == ""
    assert "拜登" not in response.content.decode() and str(entry.pk) not in str(body["results"][0]["reason"])
    event = AccessEvent.objects.get(pk=result["event_id"])
    assert (event.decision, event.watch_entry_id) == (Decision.HIT, entry.pk)
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.compound_id) == ("watchlist_hit", Severity.HIGH, compound_a.pk)
    assert alert.fold_key == f"watch:{entry.pk}:{face_gate.local.uid}"
    assert (alert.access_event_id, alert.watch_entry_id, alert.device_id) == (event.pk, entry.pk, face_gate.index.pk)
    assert alert.detail["watch_kind"] == "wanted" and alert.detail["device"] == face_gate.local.name
    raised = [(groups, p) for groups, p in sent if p["type"] == "alert.raised"]
    assert [p["id"] for _groups, p in raised] == [alert.pk]
    # Watch-list hits reach the police of the compound and above only.
    assert raised[0][0] == alert_groups(AreaTagged.tags_for(compound_a), police_only=True)


@needs_faces
def test_two_people_in_one_capture_give_two_results_left_to_right(face_gate, residents, compound_a):
    """The input of tailgating: a resident followed by a watched person does not get the door held."""
    watch(city_of(compound_a), encodings=(encoding_of("enroll/biden.jpg"),))
    response = post_face(face_gate.client(), photo("probe/two_people.jpg"))

    body = response.json()
    assert [r["face_index"] for r in body["results"]] == [0, 1]
    # Biden is a resident too: the event says so, the device is not told whose face was a hit.
    assert [(r["decision"], r["person_id"]) for r in body["results"]] == [
        ("open", residents["obama"].pk),
        ("hit", None),
    ]
    assert body["open"] is False and body["faces_in_capture"] == 2
    events = list(AccessEvent.objects.order_by("face_index"))
    assert [e.faces_in_capture for e in events] == [2, 2]
    assert [e.person_id for e in events] == [residents["obama"].pk, residents["biden"].pk]
    assert events[0].snapshot == events[1].snapshot != ""  # one file per capture
    assert events[0].detail["box"][3] < events[1].detail["box"][3]  # left edge: left to right
    assert Alert.objects.count() == 1


def thirty_megapixels() -> bytes:
    data = image_bytes((6000, 5000), mode="L", colour=128)
    assert len(data) < 1_000_000  # small in bytes, big in pixels
    return data


@needs_faces
@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (lambda: image_bytes((640, 480)), 422, "no_face"),
        (lambda: photo("probe/obama_480p.jpg")[:40_000], 400, "corrupt"),
        (lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 400, "not_image"),
        (lambda: b"%PDF-1.4 not a photo at all", 400, "not_image"),
        (lambda: image_bytes((64, 64), fmt="GIF"), 400, "format"),
        (lambda: b"", 400, "invalid"),  # an empty upload: refused as a field
        (thirty_megapixels, 413, "too_many_pixels"),
    ],
    ids=["no-face", "truncated", "garbage", "not-image", "gif", "empty", "30-megapixels"],
)
def test_a_photo_we_cannot_use_gets_a_clear_4xx_and_records_nothing(face_gate, residents, media, make, status, code):
    response = post_face(face_gate.client(), make(), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"]
    assert not AccessEvent.objects.exists()  # no event, so none claiming an opened door
    assert not list(media.rglob("*.jpg")) and not list(media.rglob("*.png"))


def test_the_refusal_speaks_the_request_language(face_gate):
    response = face_gate.client().post(FACE_URL, {}, format="multipart", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "No file was submitted.",
        "errors": {"image": ["No file was submitted."]},
    }


@needs_faces
def test_a_device_of_another_compound_cannot_open_with_these_residents(residents, compound_a, compound_b):
    gate_b = make_device(compound_b, DeviceKind.FACE_GATE)
    response = post_face(gate_b.client(), photo("probe/obama2.jpg"))

    [result] = response.json()["results"]
    assert (result["decision"], result["reason"], result["person_id"]) == ("deny", "unknown_face", None)
    event = AccessEvent.objects.get()
    assert (event.compound_id, event.street_id) == (compound_b.pk, compound_b.street_id)
    assert f"/{compound_b.code}/" in event.snapshot


@needs_faces
def test_a_retried_capture_gets_the_first_answer_and_writes_nothing(face_gate, residents):
    first = post_face(face_gate.client(), photo("probe/obama2.jpg"), key="cap-2026-12-01-0001")
    again = post_face(face_gate.client(), photo("probe/obama2.jpg"), key="cap-2026-12-01-0001")

    assert again.status_code == 200 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert AccessEvent.objects.count() == 1
    assert DeliveryKey.objects.get().key == "cap-2026-12-01-0001"


# --- Face decisions, without the HTTP pipeline --------------------------------------------------------


@needs_faces
def test_removing_a_template_makes_the_next_decision_deny(face_gate, compound_a):
    """The cached matrix is named by the face version: a removal reaches the very next decision."""
    probe = faces_of("probe/obama2.jpg")
    with tenant_context(compound_a):
        obama = PersonFactory(name="欧巴马")
        template = enrol(obama, encoding_of("enroll/obama.jpg"))
        assert gate.do_decide_capture(face_gate.delivery(), probe, b"\xff\xd8\xff")["open"] is True
        do_remove_face(template, acting_user=SYSTEM)
        answer = gate.do_decide_capture(face_gate.delivery(), probe, b"\xff\xd8\xff")
    assert answer["open"] is False
    assert answer["results"][0]["reason"] == "unknown_face"


@needs_faces
def test_liveness_failed_denies_a_resident(face_gate, residents, compound_a):
    with tenant_context(compound_a):
        delivery = face_gate.delivery(liveness=gate.Liveness.FAILED)
        answer = gate.do_decide_capture(delivery, faces_of("probe/obama2.jpg"), b"\xff\xd8\xff")
    assert answer["open"] is False
    assert answer["results"][0]["reason"] == "liveness_failed"
    assert AccessEvent.objects.get().liveness == "failed"


@needs_faces
def test_an_expired_or_ended_entry_no_longer_hits(face_gate, compound_a):
    now = timezone.now()
    city = city_of(compound_a)
    watch(city, encodings=(encoding_of("enroll/biden.jpg"),), expires_at=now + timedelta(minutes=5))
    probe = faces_of("probe/biden2.jpg")
    with tenant_context(compound_a):
        assert gate.do_decide_capture(face_gate.delivery(received_at=now), probe, b"x")["results"][0]["watch_hit"]
        # Expiry passing bumps no version: the cached matrix leaves the row out by its expiry.
        later = face_gate.delivery(received_at=now + timedelta(minutes=6))
        assert gate.do_decide_capture(later, probe, b"x")["results"][0]["decision"] == "deny"


@needs_faces
def test_repeated_hits_of_one_entry_at_one_device_fold_into_one_alert(face_gate, compound_a):
    entry = watch(city_of(compound_a), encodings=(encoding_of("enroll/biden.jpg"),))
    with tenant_context(compound_a):
        for _ in range(3):
            gate.do_decide_capture(face_gate.delivery(), faces_of("probe/biden2.jpg"), b"x")
    alert = Alert.objects.get(watch_entry_id=entry.pk)
    assert alert.count == 3 and AccessEvent.objects.filter(decision="hit").count() == 3


# --- Cards ------------------------------------------------------------------------------------------


@pytest.fixture
def reader(compound_a: Any) -> Any:
    return make_device(compound_a, DeviceKind.CARD_READER)


@pytest.fixture
def cardholder(compound_a: Any) -> Person:
    with tenant_context(compound_a):
        person = PersonFactory(name="刷卡人", id_number=make_id_number(seq=701))
        do_save_card(Card(number="A1B2C3D4", person=person), acting_user=SYSTEM)
        do_save_card(Card(number="0000DEAD", person=person, active=False), acting_user=SYSTEM)
        past = timezone.now() - timedelta(days=1)
        do_save_card(Card(number="0000BEEF", person=person, valid_until=past), acting_user=SYSTEM)
    return person


@pytest.mark.parametrize(
    ("card_no", "decision", "reason"),
    [
        ("a1b2-c3d4", "open", "card"),  # normalised as the card was saved
        ("0000DEAD", "deny", "inactive_card"),
        ("0000BEEF", "deny", "expired_card"),
        ("12345678", "deny", "unknown_card"),
    ],
)
def test_a_card_opens_when_active_and_valid(reader, cardholder, card_no, decision, reason):
    response = reader.client().post(CARD_URL, {"card_no": card_no}, format="json")

    body = response.json()
    assert (body["decision"], body["reason"], body["open"]) == (decision, reason, decision == "open")
    assert body["display_name"] == ("刷**" if decision == "open" else "")
    event = AccessEvent.objects.get(pk=body["event_id"])
    assert (event.kind, event.decision, event.direction) == (EventKind.CARD, decision, "in")


def test_the_card_of_a_watched_person_is_a_hit(reader, cardholder, compound_a):
    entry = watch(city_of(compound_a), kind=WatchKind.KEY_PERSON, id_number=cardholder.id_number)
    body = reader.client().post(CARD_URL, {"card_no": "A1B2C3D4"}, format="json").json()

    assert (body["decision"], body["open"], body["watch_hit"]) == ("hit", False, True)
    assert Alert.objects.get().watch_entry_id == entry.pk


def test_a_retried_card_delivery_is_answered_once(reader, cardholder):
    client = reader.client()
    first = client.post(CARD_URL, {"card_no": "A1B2C3D4"}, format="json", HTTP_IDEMPOTENCY_KEY="swipe-1")
    again = client.post(CARD_URL, {"card_no": "A1B2C3D4"}, format="json", HTTP_IDEMPOTENCY_KEY="swipe-1")
    other = client.post(CARD_URL, {"card_no": "A1B2C3D4"}, format="json", HTTP_IDEMPOTENCY_KEY="swipe-2")

    assert first.json() == again.json() and "Idempotent-Replayed" not in first
    assert other.json()["event_id"] != first.json()["event_id"]
    assert AccessEvent.objects.count() == 2


@pytest.mark.parametrize("key", ["x" * 97, "两个字", "has space"])
def test_a_malformed_idempotency_key_is_refused(reader, cardholder, key):
    response = reader.client().post(CARD_URL, {"card_no": "A1B2C3D4"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and response.json()["code"] == "idempotency_key"
    assert not AccessEvent.objects.exists()


# --- Plates -----------------------------------------------------------------------------------------


@pytest.fixture
def barrier(compound_a: Any) -> Any:
    return make_device(compound_a, DeviceKind.PLATE_BARRIER)


@pytest.fixture
def owner(compound_a: Any) -> Person:
    with tenant_context(compound_a):
        person = PersonFactory(name="车主")
        VehicleFactory(plate="鲁A12345", owner=person)
    return person


def post_plate(device: Any, plate: str) -> Any:
    return device.client().post(PLATE_URL, {"plate": plate}, format="json")


def test_a_registered_plate_opens_whatever_its_width_and_case(barrier, owner):
    body = post_plate(barrier, "鲁ａ１２３４５").json()  # full-width, lower case, as cameras send
    assert (body["decision"], body["reason"], body["person_id"]) == ("open", "resident_vehicle", owner.pk)
    assert AccessEvent.objects.get().plate == "鲁A12345"
    assert post_plate(barrier, "鲁B99999").json()["reason"] == "unknown_plate"


def test_a_blocked_plate_stays_out_and_alerts(barrier, owner, compound_a):
    entry = watch(city_of(compound_a), kind=WatchKind.BLOCKED_PLATE, plate="鲁A12345")
    body = post_plate(barrier, "鲁A12345").json()

    assert (body["decision"], body["reason"], body["watch_hit"], body["open"]) == ("deny", "blocked_plate", True, False)
    alert = Alert.objects.get()
    assert (alert.severity, alert.watch_entry_id) == (Severity.HIGH, entry.pk)


def test_a_key_area_plate_is_decided_by_the_registry_and_alerts(barrier, owner, compound_a):
    entry = watch(city_of(compound_a), kind=WatchKind.KEY_AREA_PLATE, plate="鲁A12345")
    body = post_plate(barrier, "鲁A12345").json()

    # The barrier opens as usual and is not told: the alert reaches the police alone.
    assert (body["decision"], body["watch_hit"]) == ("open", False)
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.detail["plate"]) == ("key_area_plate", Severity.MEDIUM, "鲁A12345")
    assert AccessEvent.objects.get().watch_entry_id == entry.pk


def test_an_unreadable_plate_is_refused(barrier):
    response = post_plate(barrier, "ABC")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert "plate" in response.json()["errors"]


# --- 实名闸 --------------------------------------------------------------------------------------------


@pytest.fixture
def id_gate(compound_a: Any) -> Any:
    return make_device(compound_a, DeviceKind.ID_GATE)


def post_identity(device: Any, number: str, live: bytes, id_photo: bytes | None = None) -> Any:
    data: dict[str, Any] = {"id_number": number, "image": SimpleUploadedFile("live.jpg", live)}
    if id_photo is not None:
        data["id_photo"] = SimpleUploadedFile("id.jpg", id_photo)
    return device.client().post(IDENTITY_URL, data, format="multipart")


@needs_faces
def test_the_live_face_is_compared_with_the_id_photo_and_the_number_never_echoed(id_gate):
    number = make_id_number(seq=711)
    response = post_identity(id_gate, number, photo("probe/obama2.jpg"), photo("enroll/obama.jpg"))

    body = response.json()
    assert response.status_code == 200, body
    assert (body["decision"], body["reason"], body["verified"], body["compared_with"]) == (
        "open",
        "verified",
        True,
        "id_photo",
    )
    assert body["registered"] is False and body["id_number"] == f"{number[:4]}{'*' * 10}{number[-4:]}"
    assert number not in response.content.decode()
    event = AccessEvent.objects.get()
    assert (event.kind, event.decision) == (EventKind.ID_VERIFY, "open")
    assert event.detail["id_number"] == body["id_number"] and number not in str(event.detail)


@needs_faces
def test_a_watched_id_number_is_a_hit_with_an_alert(id_gate, compound_a):
    number = make_id_number(seq=712)
    entry = watch(city_of(compound_a), id_number=number)
    body = post_identity(id_gate, number, photo("probe/obama2.jpg"), photo("enroll/obama.jpg")).json()

    assert (body["decision"], body["watch_hit"], body["open"]) == ("hit", True, False)
    alert = Alert.objects.get()
    assert (alert.watch_entry_id, alert.detail["matched_by"]) == (entry.pk, "id_number")


@needs_faces
def test_without_an_id_photo_the_enrolled_faces_are_the_reference(id_gate, residents, compound_a):
    obama = residents["obama"]
    live = faces_of("probe/obama2.jpg")[0]
    with tenant_context(compound_a):
        matched = gate.do_verify_identity(id_gate.delivery(), obama.id_number, live, None, b"x")
        nobody = PersonFactory(name="无照片")
        unknown = gate.do_verify_identity(id_gate.delivery(), nobody.id_number, live, None, b"x")
        biden = gate.do_verify_identity(id_gate.delivery(), residents["biden"].id_number, live, None, b"x")
    assert (matched["reason"], matched["registered"], matched["compared_with"]) == ("verified", True, "enrolled")
    assert matched["display_name"] == "欧**"
    assert (unknown["decision"], unknown["reason"]) == ("deny", "no_reference_face")
    assert (biden["decision"], biden["reason"]) == ("deny", "face_mismatch")


@needs_faces
def test_a_watched_face_under_another_id_number_is_a_hit(id_gate, compound_a):
    entry = watch(city_of(compound_a), encodings=(encoding_of("enroll/biden.jpg"),))
    live, card_photo = faces_of("probe/biden2.jpg")[0], faces_of("enroll/biden.jpg")[0]
    with tenant_context(compound_a):
        body = gate.do_verify_identity(id_gate.delivery(), make_id_number(seq=713), live, card_photo, b"x")
    assert (body["decision"], body["verified"]) == ("hit", True)
    assert Alert.objects.get().detail["matched_by"] == "face"
    assert AccessEvent.objects.get().watch_entry_id == entry.pk


@needs_faces
def test_an_id_photo_without_a_face_is_refused(id_gate):
    response = post_identity(id_gate, make_id_number(seq=714), photo("probe/obama2.jpg"), image_bytes((320, 240)))
    assert response.status_code == 422 and response.json()["code"] == "no_face_on_id_photo"
    assert not AccessEvent.objects.exists()


# --- Sensors and heartbeats -------------------------------------------------------------------------


def test_a_sensor_reports_one_reading_or_a_batch(compound_a, committing):
    counter = make_device(compound_a, DeviceKind.CROWD_COUNTER)
    client = counter.client()
    with committing() as sent:
        one = client.post(READINGS_URL, {"kind": "crowd_count", "count": 37}, format="json")
        batch = client.post(READINGS_URL, [{"kind": "crowd_count", "count": n} for n in range(100)], format="json")

    assert one.json()["recorded"] == 1 and batch.json()["recorded"] == 100
    event = AccessEvent.objects.get(pk=one.json()["event_ids"][0])
    assert (event.kind, event.decision, event.reason, event.detail) == (
        "sensor",
        "reported",
        "crowd_count",
        {"count": 37},
    )
    assert len(recorded(sent, compound_a)) == 101


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "motion"},  # not what a crowd counter sends
        [{"kind": "crowd_count"}] * 101,
        [],
        {"kind": "crowd_count", "count": -1},
        {"kind": "crowd_count", "occurred_at": "2020-01-01T00:00:00Z"},  # a broken clock
        "crowd_count",
    ],
    ids=["wrong-kind", "101", "empty", "negative", "too-old", "not-an-object"],
)
def test_readings_out_of_bounds_are_refused(compound_a, body):
    counter = make_device(compound_a, DeviceKind.CROWD_COUNTER)
    response = counter.client().post(READINGS_URL, body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid", response.content
    assert not AccessEvent.objects.exists()


def test_a_device_clock_ahead_of_ours_is_kept_but_not_trusted(compound_a):
    motion = make_device(compound_a, DeviceKind.IR_MOTION)
    ahead = timezone.now() + timedelta(hours=3)
    motion.client().post(READINGS_URL, {"kind": "motion", "occurred_at": ahead.isoformat()}, format="json")
    event = AccessEvent.objects.get()
    assert event.occurred_at < ahead - timedelta(hours=2)
    assert event.detail["device_time"].startswith(str(ahead.year))


def test_a_heartbeat_answers_the_server_time_and_marks_the_device_seen(face_gate):
    response = face_gate.client().post(HEARTBEAT_URL, {"firmware": "V5.7.3", "uptime_s": 86400}, format="json")

    assert response.status_code == 200
    assert response.json()["device"] == face_gate.local.uid
    face_gate.index.refresh_from_db()
    assert face_gate.index.is_online()
    assert not AccessEvent.objects.exists()


# --- The answers are what the OpenAPI schema documents ------------------------------------------------


@pytest.fixture
def documented() -> Any:
    """The app's OpenAPI schema, as schemathesis validates responses against it."""
    import schemathesis
    from django.test import Client

    return schemathesis.openapi.from_dict(Client().get("/api/schema/", HTTP_ACCEPT="application/json").json())


def check_documented(schema: Any, url: str, response: Any) -> None:
    import httpx

    answer = httpx.Response(
        response.status_code,
        headers={k: v for k, v in response.items()},
        content=response.content,
        request=httpx.Request("POST", f"http://testserver{url}"),
    )
    answer.read()
    answer.elapsed = timedelta(0)
    schema[url]["POST"].validate_response(answer)


@needs_faces
def test_answers_and_refusals_are_as_documented(documented, face_gate, residents, reader, cardholder, compound_a):
    faces = post_face(face_gate.client(), photo("probe/obama2.jpg"))
    refused = post_face(face_gate.client(), image_bytes((320, 240)))
    card = reader.client().post(CARD_URL, {"card_no": "A1B2C3D4"}, format="json")
    invalid = reader.client().post(CARD_URL, {"card_no": "?"}, format="json")
    wrong_kind = reader.client().post(PLATE_URL, {"plate": "鲁A12345"}, format="json")
    counter = make_device(compound_a, DeviceKind.CROWD_COUNTER)
    readings = counter.client().post(READINGS_URL, [{"kind": "crowd_count", "count": 2}], format="json")
    beat = face_gate.client().post(HEARTBEAT_URL, {}, format="json")
    anonymous = APIClient().post(HEARTBEAT_URL, {}, format="json")
    for url, response, status in [
        (FACE_URL, faces, 200),
        (FACE_URL, refused, 422),
        (CARD_URL, card, 200),
        (CARD_URL, invalid, 400),
        (PLATE_URL, wrong_kind, 403),
        (READINGS_URL, readings, 200),
        (HEARTBEAT_URL, beat, 200),
        (HEARTBEAT_URL, anonymous, 401),
    ]:
        assert response.status_code == status, (url, response.content)
        check_documented(documented, url, response)
