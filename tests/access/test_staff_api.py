"""Access staff API: devices (credential once, revoke, rotate), consents, faces (JSON base64 and
multipart, real photos from ../shared/faces), cards; the custom actions' permissions, which the
generated matrix does not cover (it knows the router's CRUD actions only); the schema's examples.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from PIL import Image

from access import actions
from access.choices import ConsentMethod, DeviceKind, DeviceStatus
from access.models import BiometricConsent, Card, FaceTemplate
from district.choices import Role
from events.credentials import hash_secret, secret_matches
from events.models import DeviceIndex
from tests.conftest import CODE_A, STREET_A
from tests.factories import PersonFactory, RoleFactory

pytestmark = pytest.mark.django_db

API = f"/c/{CODE_A}/api/access"
FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/faces is not beside the project")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def staff(compound_a):
    return RoleFactory(user__username="wuye-api", role="property_staff", compound=compound_a).user


@pytest.fixture
def api(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def person(compound_a):
    with tenant_context(compound_a):
        return PersonFactory(name="接口居民")


def post(client, path: str, body: dict | None = None, **extra):
    return client.post(path, json.dumps(body or {}), content_type="application/json", **extra)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def blank_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (210, 210, 210)).save(out, format="JPEG")
    return out.getvalue()


def make_device(compound, user):
    with tenant_context(compound):
        return actions.do_create_device(compound, name="东门闸机", kind=DeviceKind.FACE_GATE, acting_user=user)


def give_consent(compound, person, user) -> BiometricConsent:
    with tenant_context(compound):
        return actions.do_record_consent(
            person,
            method=ConsentMethod.WRITTEN,
            given_at=timezone.now() - datetime.timedelta(hours=1),
            acting_user=user,
        )


# --- Devices ---------------------------------------------------------------------------------------


def test_create_returns_the_secret_once_and_only_its_hash_is_stored(api):
    response = post(
        api, f"{API}/devices/", {"name": "北门闸机", "kind": "face_gate", "direction": "in", "gate": "北门"}
    )
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    uid, secret = body["uid"], body["secret"]
    assert body["token"] == f"{uid}.{secret}" and body["authorization"] == f"Device {uid}.{secret}"
    assert (body["status"], body["online"], body["revoked_at"]) == ("active", False, None)
    stored = DeviceIndex.objects.get(uid=uid).key_hash
    assert stored == hash_secret(secret)
    for later in (api.get(f"{API}/devices/"), api.get(f"{API}/devices/{body['id']}/")):
        assert later.status_code == 200
        assert secret not in later.content.decode() and stored not in later.content.decode()
        assert "secret" not in later.content.decode()


def test_list_shows_the_online_state(api, compound_a, staff):
    device, _secret = make_device(compound_a, staff)
    DeviceIndex.objects.filter(uid=device.uid).update(last_seen_at=timezone.now())
    (row,) = api.get(f"{API}/devices/").json()["results"]
    assert row["uid"] == device.uid and row["online"] is True and row["last_seen_at"]


def test_patch_changes_fields_and_disables(api, compound_a, staff):
    device, _secret = make_device(compound_a, staff)
    response = api.patch(
        f"{API}/devices/{device.pk}/",
        json.dumps({"name": "东门读卡器", "status": "disabled"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["status"]) == ("东门读卡器", "disabled")
    # Revoking is not a status to PATCH.
    refused = api.patch(
        f"{API}/devices/{device.pk}/", json.dumps({"status": "revoked"}), content_type="application/json"
    )
    assert refused.status_code == 400 and "status" in refused.json()
    # No PUT and no DELETE (revoke instead): undeclared methods are refused before the view.
    assert api.put(f"{API}/devices/{device.pk}/", "{}", content_type="application/json").status_code == 403
    assert api.delete(f"{API}/devices/{device.pk}/").status_code == 403


def test_revoke_and_rotate_actions(api, compound_a, staff):
    device, old = make_device(compound_a, staff)
    rotated = post(api, f"{API}/devices/{device.pk}/rotate/")
    assert rotated.status_code == 200 and rotated["Cache-Control"] == "no-store"
    new = rotated.json()["secret"]
    stored = DeviceIndex.objects.get(uid=device.uid).key_hash
    assert secret_matches(new, stored) and not secret_matches(old, stored)
    revoked = post(api, f"{API}/devices/{device.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == DeviceStatus.REVOKED
    assert revoked.json()["revoked_at"] and DeviceIndex.objects.get(uid=device.uid).revoked_at is not None
    again = post(api, f"{API}/devices/{device.pk}/rotate/", HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 400 and "revoked" in again.content.decode()


# --- Consents and faces -----------------------------------------------------------------------------


def test_consent_create_list_and_withdraw(api, compound_a, person):
    body = {"person": person.pk, "method": "written", "given_at": "2026-01-05T10:00:00+08:00", "document": b64(PDF)}
    response = post(api, f"{API}/consents/", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["has_document"] is True and created["recorded_by"] == "wuye-api" and created["withdrawn_at"] is None
    assert "document" not in created  # the stored file's name never leaves
    listed = api.get(f"{API}/consents/", {"person": person.pk}).json()["results"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert api.get(f"{API}/consents/", {"person": person.pk + 1000}).json()["results"] == []
    assert api.get(f"{API}/consents/", {"person": "1.5"}).status_code == 400
    duplicate = post(api, f"{API}/consents/", body | {"document": None}, HTTP_ACCEPT_LANGUAGE="en")
    assert duplicate.status_code == 400
    withdrawn = post(api, f"{API}/consents/{created['id']}/withdraw/")
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    assert post(api, f"{API}/consents/{created['id']}/withdraw/").status_code == 400


@pytest.mark.parametrize(
    ("document", "message"),
    [("not base64!", "base64"), (b64(b"MZ\x90\x00 not a scan"), "JPEG, PNG or PDF"), ("", "empty")],
)
def test_a_bad_consent_scan_is_refused(api, compound_a, person, document, message):
    body = {"person": person.pk, "method": "written", "given_at": "2026-01-05T10:00:00+08:00", "document": document}
    response = post(api, f"{API}/consents/", body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and message in " ".join(response.json()["document"])
    with tenant_context(compound_a):
        assert not BiometricConsent.objects.exists()


def test_enrolment_without_consent_is_refused(api, compound_a, person):
    response = post(api, f"{API}/faces/", {"person": person.pk, "image": b64(blank_jpeg())}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "recorded consent" in response.json()["non_field_errors"][0]
    with tenant_context(compound_a):
        assert not FaceTemplate.objects.exists()


@needs_faces
def test_enrol_a_real_photo_in_json_list_it_and_delete_it(api, compound_a, staff, person):
    give_consent(compound_a, person, staff)
    image = (FACES / "enroll" / "obama.jpg").read_bytes()
    response = post(api, f"{API}/faces/", {"person": person.pk, "image": b64(image)})
    assert response.status_code == 201, response.content
    face = response.json()
    assert set(face) == {"id", "person", "consent", "created_at", "photo_url"}  # never the encoding
    assert face["photo_url"] == f"/c/{CODE_A}/access/faces/{face['id']}/photo.jpg"
    assert api.get(face["photo_url"])["Content-Type"] == "image/jpeg"
    listed = api.get(f"{API}/faces/", {"person": person.pk}).json()["results"]
    assert [f["id"] for f in listed] == [face["id"]]
    assert api.delete(f"{API}/faces/{face['id']}/").status_code == 204
    with tenant_context(compound_a):
        assert not FaceTemplate.objects.exists()


@needs_faces
def test_enrol_by_multipart_upload(api, compound_a, staff, person):
    from django.core.files.uploadedfile import SimpleUploadedFile

    give_consent(compound_a, person, staff)
    image = SimpleUploadedFile("obama.jpg", (FACES / "enroll" / "obama.jpg").read_bytes(), content_type="image/jpeg")
    response = api.post(f"{API}/faces/", {"person": person.pk, "image": image})
    assert response.status_code == 201, response.content


@needs_faces
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: (FACES / "probe" / "two_people.jpg").read_bytes(),
            "The photo shows 2 faces; an enrolment photo must show one.",
        ),
        (blank_jpeg, "No face was found in the photo."),
        (lambda: b"GIF89a not a photo", "The file is not a readable JPEG or PNG photo."),
    ],
    ids=["two-faces", "blank", "not-an-image"],
)
def test_a_photo_that_is_not_one_face_is_refused(api, compound_a, staff, person, make, message):
    give_consent(compound_a, person, staff)
    response = post(api, f"{API}/faces/", {"person": person.pk, "image": b64(make())}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json() == {"image": [message]}
    with tenant_context(compound_a):
        assert not FaceTemplate.objects.exists()


def test_refusals_are_in_the_users_language(api, compound_a, person):
    response = post(api, f"{API}/faces/", {"person": person.pk, "image": "@@@"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.json() == {"image": ["Send the file as a multipart upload or as base64 text."]}


# --- Cards ---------------------------------------------------------------------------------------------


def test_cards_crud(api, compound_a, person):
    created = post(api, f"{API}/cards/", {"number": "ab-12 cd 34", "person": person.pk})
    assert created.status_code == 201, created.content
    card = created.json()
    assert card["number"] == "AB12CD34"
    assert post(api, f"{API}/cards/", {"number": "AB12CD34", "person": person.pk}).status_code == 400
    assert post(api, f"{API}/cards/", {"number": "卡", "person": person.pk}).status_code == 400
    patched = api.patch(f"{API}/cards/{card['id']}/", json.dumps({"active": False}), content_type="application/json")
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert api.delete(f"{API}/cards/{card['id']}/").status_code == 204
    with tenant_context(compound_a):
        assert not Card.objects.exists()


# --- Permissions of the custom actions (the matrix covers the CRUD ones) -------------------------------------

ROLE_NODES = {
    Role.STREET_OFFICE: ("area", STREET_A),
    Role.GRID_WORKER: ("compound", CODE_A),
    Role.MEDIATOR: ("compound", CODE_A),
    Role.BEAT_OFFICER: ("compound", CODE_A),
    Role.PROPERTY_STAFF: ("compound", CODE_A),
}
ALLOWED = {Role.BEAT_OFFICER, Role.PROPERTY_STAFF}


def role_user(role: str):
    from district.models import Area
    from tenants.models import Compound

    level, code = ROLE_NODES[role]
    node = {"area": Area.objects.get(code=code)} if level == "area" else {"compound": Compound.objects.get(code=code)}
    return RoleFactory(user__username=f"api-{role}", role=role, **node).user


@pytest.mark.parametrize("role", list(ROLE_NODES))
def test_who_may_revoke_rotate_and_withdraw(client, compound_a, staff, person, role):
    device, _secret = make_device(compound_a, staff)
    consent = give_consent(compound_a, person, staff)
    client.force_login(role_user(role))
    expected = 200 if role in ALLOWED else 403
    assert post(client, f"{API}/devices/{device.pk}/rotate/").status_code == expected
    assert post(client, f"{API}/consents/{consent.pk}/withdraw/").status_code == expected
    assert post(client, f"{API}/devices/{device.pk}/revoke/").status_code == expected
    assert (DeviceIndex.objects.get(uid=device.uid).revoked_at is not None) == (role in ALLOWED)


def test_another_compounds_staff_and_anonymous_are_refused(client, compound_a, compound_b, staff):
    device, _secret = make_device(compound_a, staff)
    assert post(client, f"{API}/devices/{device.pk}/revoke/").status_code == 403  # anonymous
    client.force_login(RoleFactory(user__username="api-wuye-b", role="property_staff", compound=compound_b).user)
    assert post(client, f"{API}/devices/{device.pk}/revoke/").status_code == 404
    assert post(client, f"/c/{compound_b.code}/api/access/devices/{device.pk}/revoke/").status_code == 404
    assert DeviceIndex.objects.get(uid=device.uid).revoked_at is None


# --- The schema documents the enrolment with examples -----------------------------------------------------


def test_the_enrolment_endpoint_is_documented_with_examples(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/c/{compound}/api/access/faces/"]["post"]
    request = operation["requestBody"]["content"]["application/json"]
    assert request["examples"] and "multipart/form-data" in operation["description"]
    created = operation["responses"]["201"]["content"]["application/json"]
    assert created["examples"]["Enrolled"]["value"]["photo_url"].endswith("/photo.jpg")
    refused = operation["responses"]["400"]["content"]["application/json"]
    assert {"NoConsentRecorded", "TwoFacesInThePhoto", "NoFaceInThePhoto"} <= set(refused["examples"])
    device = schema["paths"]["/c/{compound}/api/access/devices/"]["post"]
    assert "Authorization: Device" in device["description"]
    for path in ("devices/{id}/revoke/", "devices/{id}/rotate/", "consents/{id}/withdraw/"):
        assert "post" in schema["paths"][f"/c/{{compound}}/api/access/{path}"]
