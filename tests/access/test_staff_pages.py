"""Access staff pages: devices with live state, the credential shown once, revoke and rotate with
confirmation, and a person's consent, enrolled photos (real ones, from ../shared/faces) and cards.

Who may do what is the generated permission matrix's (tests/district/matrix.py); here a few
role cases are spelled out because the issue names them: a street office sees devices but
cannot enrol, a mediator sees nothing of access.
"""

from __future__ import annotations

import datetime
import io
import re
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from PIL import Image

from access import actions
from access.choices import ConsentMethod, DeviceKind, DeviceStatus
from access.models import BiometricConsent, Card, Device, FaceTemplate
from district.models import AuditAction, AuditEntry
from events.credentials import hash_secret, secret_matches
from events.models import DeviceIndex
from tests.conftest import CODE_A
from tests.factories import PersonFactory, RoleFactory

pytestmark = pytest.mark.django_db

BASE = f"/c/{CODE_A}/access"
FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/faces is not beside the project")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"


def upload(name: str, data: bytes, content_type: str = "image/jpeg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def blank_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (230, 230, 230)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def staff(compound_a):
    return RoleFactory(user__username="wuye-pages", role="property_staff", compound=compound_a).user


@pytest.fixture
def browser(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def person(compound_a):
    with tenant_context(compound_a):
        return PersonFactory(name="刷脸居民")


def make_device(compound, user, **extra) -> tuple[Device, str]:
    with tenant_context(compound):
        fields = {"name": "南门闸机", "kind": DeviceKind.FACE_GATE, "direction": "in", "gate": "南门"} | extra
        return actions.do_create_device(compound, **fields, acting_user=user)


def consent(compound, person, user) -> BiometricConsent:
    with tenant_context(compound):
        return actions.do_record_consent(
            person,
            method=ConsentMethod.WRITTEN,
            given_at=timezone.now() - datetime.timedelta(hours=1),
            acting_user=user,
        )


# --- Devices ---------------------------------------------------------------------------------------


def test_device_list_shows_online_state_and_polls_a_fragment(browser, compound_a, staff):
    seen, _secret = make_device(compound_a, staff, name="东门闸机")
    make_device(compound_a, staff, name="西门闸机")
    DeviceIndex.objects.filter(uid=seen.uid).update(last_seen_at=timezone.now())
    response = browser.get(f"{BASE}/devices/", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert response.status_code == 200
    assert "东门闸机" in html and "西门闸机" in html
    assert html.count('data-testid="online"') == 1 and html.count('data-testid="offline"') == 1
    # htmx polls a fragment every 15 s; no inline script does it.
    assert f'hx-get="{BASE}/devices/state/"' in html and 'hx-trigger="every 15s"' in html
    assert "<script>" not in html
    fragment = browser.get(f"{BASE}/devices/state/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "东门闸机" in fragment
    # Seen too long ago: offline on the next poll.
    DeviceIndex.objects.filter(uid=seen.uid).update(last_seen_at=timezone.now() - datetime.timedelta(hours=1))
    fragment = browser.get(f"{BASE}/devices/state/").content.decode()
    assert 'data-testid="online"' not in fragment and fragment.count('data-testid="offline"') == 2


def test_creating_a_device_shows_the_credential_once_and_stores_only_its_hash(browser, compound_a):
    body = {"name": "北门人脸闸机", "kind": "face_gate", "direction": "in", "gate": "北门", "address": ""}
    response = browser.post(f"{BASE}/devices/new/", body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    html = response.content.decode()
    token = re.search(r'id="device-token" value="([^"]+)"', html).group(1)
    uid, secret = token.split(".", 1)
    assert f"Authorization: Device {uid}.{secret}" in html
    assert "shown only this once" in html
    index = DeviceIndex.objects.get(uid=uid)
    assert index.key_hash == hash_secret(secret) and secret not in index.key_hash
    with tenant_context(compound_a):
        device = Device.objects.get(uid=uid)
    # Nowhere else: not on the device's page, not in the audit log.
    detail = browser.get(f"{BASE}/devices/{device.pk}/").content.decode()
    assert uid in detail and secret not in detail
    assert not [e for e in AuditEntry.objects.all() if secret in repr(e.detail)]


def test_an_invalid_device_form_answers_422_with_the_field_error(browser):
    response = browser.post(f"{BASE}/devices/new/", {"name": "", "kind": "toaster"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="error-name"' in html and 'data-testid="error-kind"' in html
    assert not DeviceIndex.objects.exists()


def test_edit_disable_enable_a_device(browser, compound_a, staff):
    device, _secret = make_device(compound_a, staff)
    body = {"name": "南门闸机2", "kind": "card_reader", "direction": "out", "gate": "南门", "address": ""}
    assert browser.post(f"{BASE}/devices/{device.pk}/edit/", body).status_code == 302
    assert browser.post(f"{BASE}/devices/{device.pk}/status/", {"status": "disabled"}).status_code == 302
    with tenant_context(compound_a):
        stored = Device.objects.get(pk=device.pk)
    assert (stored.name, stored.kind, stored.status) == ("南门闸机2", "card_reader", DeviceStatus.DISABLED)
    assert DeviceIndex.objects.get(uid=device.uid).kind == "card_reader"
    browser.post(f"{BASE}/devices/{device.pk}/status/", {"status": "active"})
    with tenant_context(compound_a):
        assert Device.objects.get(pk=device.pk).status == DeviceStatus.ACTIVE


def test_revoke_asks_first_then_sets_revoked_at(browser, compound_a, staff):
    device, _secret = make_device(compound_a, staff)
    page = browser.get(f"{BASE}/devices/{device.pk}/revoke/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "cannot be undone" in page.content.decode()
    assert DeviceIndex.objects.get(uid=device.uid).revoked_at is None  # asking changed nothing
    response = browser.post(f"{BASE}/devices/{device.pk}/revoke/")
    assert response.status_code == 302
    assert DeviceIndex.objects.get(uid=device.uid).revoked_at is not None
    detail = browser.get(f"{BASE}/devices/{device.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Revoked" in detail and f"{BASE}/devices/{device.pk}/rotate/" not in detail
    assert browser.get(f"{BASE}/devices/{device.pk}/rotate/").status_code == 404


def test_rotate_shows_a_new_secret_and_the_old_one_stops_working(browser, compound_a, staff):
    device, old = make_device(compound_a, staff)
    assert browser.get(f"{BASE}/devices/{device.pk}/rotate/").status_code == 200
    response = browser.post(f"{BASE}/devices/{device.pk}/rotate/")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store, private"
    token = re.search(r'id="device-token" value="([^"]+)"', response.content.decode()).group(1)
    new = token.split(".", 1)[1]
    stored = DeviceIndex.objects.get(uid=device.uid).key_hash
    assert secret_matches(new, stored) and not secret_matches(old, stored)


# --- A person's face & card page ---------------------------------------------------------------------


def test_the_person_record_links_to_face_and_card_only_for_enrol_roles(client, compound_a, staff, admin_a, person):
    record = f"/c/{CODE_A}/persons/{person.pk}/"
    client.force_login(staff)
    html = client.get(record).content.decode()
    assert f'href="{BASE}/persons/{person.pk}/"' in html and f'href="{BASE}/devices/"' in html
    client.force_login(admin_a)  # street office: devices in the menu, no enrolment
    html = client.get(record).content.decode()
    assert f'href="{BASE}/persons/{person.pk}/"' not in html and f'href="{BASE}/devices/"' in html


def test_enrol_input_opens_the_phone_camera(browser, compound_a, staff, person):
    consent(compound_a, person, staff)
    html = browser.get(f"{BASE}/persons/{person.pk}/").content.decode()
    assert re.search(r'<input type="file" name="image"[^>]*accept="image/\*"[^>]*capture="user"', html), html


def test_enrolment_without_consent_is_refused_on_the_page(browser, compound_a, person):
    page = browser.get(f"{BASE}/persons/{person.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="needs-consent"' in page and 'name="image"' not in page
    response = browser.post(
        f"{BASE}/persons/{person.pk}/faces/", {"image": upload("face.jpg", blank_jpeg())}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert "recorded consent" in response.content.decode()
    with tenant_context(compound_a):
        assert not FaceTemplate.objects.exists()


def test_record_consent_with_a_scan_served_privately(browser, compound_a, staff, person, media):
    response = browser.post(
        f"{BASE}/persons/{person.pk}/consent/",
        {"method": "written", "given_on": "2026-01-05", "document": upload("form.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 302
    with tenant_context(compound_a):
        recorded = BiometricConsent.objects.get(person=person)
    assert recorded.recorded_by == staff and timezone.localtime(recorded.given_at).date() == datetime.date(2026, 1, 5)
    scan = browser.get(f"{BASE}/consents/{recorded.pk}/document/")
    assert scan.status_code == 200 and scan.content == PDF and scan["Content-Type"] == "application/pdf"
    assert scan["Cache-Control"] == "no-store, private"
    assert browser.get(f"/media/{recorded.document}").status_code == 404  # never a public URL
    # A second consent while one is in force: refused with the reason.
    again = browser.post(
        f"{BASE}/persons/{person.pk}/consent/",
        {"method": "written", "given_on": "2026-01-06"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert again.status_code == 422 and "already recorded" in again.content.decode()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"method": "written", "given_on": "2999-01-01"}, "given_on", "future"),
        ({"method": "telepathy", "given_on": "2026-01-05"}, "method", "valid choice"),
        ({"method": "written", "given_on": "2026-01-05", "document": "exe"}, "document", "JPEG, PNG or PDF"),
    ],
)
def test_a_bad_consent_form_is_refused(browser, compound_a, person, body, field, message):
    if body.get("document") == "exe":
        body = body | {"document": upload("form.pdf", b"MZ\x90\x00not a scan", "application/pdf")}
    response = browser.post(f"{BASE}/persons/{person.pk}/consent/", body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    html = response.content.decode()
    assert f'data-testid="error-{field}"' in html and message in html
    with tenant_context(compound_a):
        assert not BiometricConsent.objects.exists()


@needs_faces
def test_enrol_a_real_photo_see_its_thumbnail_and_remove_it(browser, compound_a, staff, person, media):
    consent(compound_a, person, staff)
    image = (FACES / "enroll" / "obama.jpg").read_bytes()
    response = browser.post(f"{BASE}/persons/{person.pk}/faces/", {"image": upload("obama.jpg", image)})
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(compound_a):
        face = FaceTemplate.objects.get(person=person)
    page = browser.get(f"{BASE}/persons/{person.pk}/").content.decode()
    assert f'src="{BASE}/faces/{face.pk}/photo.jpg"' in page and "/media/" not in page
    # Showing the photos is recorded like an unmasked view.
    entry = AuditEntry.objects.filter(action=AuditAction.VIEW_PII).latest("id")
    assert entry.object_type == "access.facetemplate" and entry.object_ids == [face.pk]
    thumbnail = browser.get(f"{BASE}/faces/{face.pk}/photo.jpg")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.content)).format == "JPEG"
    assert browser.get(f"/media/{face.photo}").status_code == 404
    assert browser.post(f"{BASE}/faces/{face.pk}/remove/").status_code == 302
    with tenant_context(compound_a):
        assert not FaceTemplate.objects.exists()


@needs_faces
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: (FACES / "probe" / "two_people.jpg").read_bytes(), "The photo shows 2 faces"),
        (blank_jpeg, "No face was found in the photo."),
    ],
    ids=["two-faces", "blank"],
)
def test_a_photo_that_is_not_one_face_is_refused_on_the_page(browser, compound_a, staff, person, make, message):
    consent(compound_a, person, staff)
    response = browser.post(
        f"{BASE}/persons/{person.pk}/faces/", {"image": upload("x.jpg", make())}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    with tenant_context(compound_a):
        assert not FaceTemplate.objects.exists()


def test_an_oversized_photo_is_refused_before_it_is_read(browser, compound_a, staff, person, settings):
    consent(compound_a, person, staff)
    settings.ACCESS_IMAGE_MAX_BYTES = 1024
    response = browser.post(
        f"{BASE}/persons/{person.pk}/faces/", {"image": upload("big.jpg", blank_jpeg())}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 422 and "larger than" in response.content.decode()


@needs_faces
def test_withdrawing_consent_on_the_page_deletes_the_photos(browser, compound_a, staff, person):
    consent(compound_a, person, staff)
    with tenant_context(compound_a):
        actions.do_enrol_face(person, (FACES / "enroll" / "obama.jpg").read_bytes(), acting_user=staff)
    confirm = browser.get(f"{BASE}/persons/{person.pk}/consent/withdraw/", HTTP_ACCEPT_LANGUAGE="en")
    assert confirm.status_code == 200 and "1 enrolled photo" in confirm.content.decode()
    assert browser.post(f"{BASE}/persons/{person.pk}/consent/withdraw/").status_code == 302
    with tenant_context(compound_a):
        assert not FaceTemplate.objects.exists()
        assert BiometricConsent.objects.get(person=person).withdrawn_at is not None
    assert browser.get(f"{BASE}/persons/{person.pk}/consent/withdraw/").status_code == 404  # nothing to withdraw


def test_cards_add_and_remove(browser, compound_a, person):
    assert browser.post(f"{BASE}/persons/{person.pk}/cards/", {"number": "0a-1b 2c3d"}).status_code == 302
    with tenant_context(compound_a):
        card = Card.objects.get(person=person)
    assert card.number == "0A1B2C3D"
    assert "0A1B2C3D" in browser.get(f"{BASE}/persons/{person.pk}/").content.decode()
    duplicate = browser.post(f"{BASE}/persons/{person.pk}/cards/", {"number": "0A1B2C3D"}, HTTP_ACCEPT_LANGUAGE="en")
    assert duplicate.status_code == 422 and 'data-testid="error-number"' in duplicate.content.decode()
    assert browser.post(f"{BASE}/cards/{card.pk}/remove/").status_code == 302
    with tenant_context(compound_a):
        assert not Card.objects.exists()


# --- Roles -------------------------------------------------------------------------------------------------


def test_a_street_office_sees_devices_but_cannot_enrol_or_manage(client, compound_a, staff, admin_a, person):
    device, _secret = make_device(compound_a, staff)
    client.force_login(admin_a)
    assert client.get(f"{BASE}/devices/").status_code == 200
    assert client.get(f"{BASE}/devices/{device.pk}/").status_code == 200
    html = client.get(f"{BASE}/devices/{device.pk}/").content.decode()
    assert f"{BASE}/devices/{device.pk}/revoke/" not in html  # no buttons it may not use
    assert client.get(f"{BASE}/devices/new/").status_code == 403
    assert client.post(f"{BASE}/devices/{device.pk}/revoke/").status_code == 403
    assert client.get(f"{BASE}/persons/{person.pk}/").status_code == 403
    assert client.post(f"{BASE}/persons/{person.pk}/consent/", {"method": "written"}).status_code == 403
    assert DeviceIndex.objects.get(uid=device.uid).revoked_at is None


def test_a_mediator_sees_nothing_of_access(client, compound_a, staff, person):
    device, _secret = make_device(compound_a, staff)
    mediator = RoleFactory(user__username="tiaojie", role="mediator", compound=compound_a).user
    client.force_login(mediator)
    for path in (
        f"{BASE}/devices/",
        f"{BASE}/devices/state/",
        f"{BASE}/devices/{device.pk}/",
        f"{BASE}/persons/{person.pk}/",
    ):
        assert client.get(path).status_code == 403, path
    html = client.get(f"/c/{CODE_A}/persons/{person.pk}/").content.decode()
    assert f"{BASE}/" not in html  # neither the menu entry nor the face & card link


def test_compound_b_staff_cannot_reach_compound_a(client, compound_a, compound_b, staff, person):
    device, _secret = make_device(compound_a, staff)
    other = RoleFactory(user__username="wuye-b", role="property_staff", compound=compound_b).user
    client.force_login(other)
    assert client.get(f"{BASE}/devices/{device.pk}/").status_code == 404
    assert client.get(f"{BASE}/persons/{person.pk}/").status_code == 404
    # Nor through its own compound's URLs: the device is not in B's schema.
    assert client.get(f"/c/{compound_b.code}/access/devices/{device.pk}/").status_code == 404
