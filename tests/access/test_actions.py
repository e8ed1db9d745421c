"""Each access action writes its rows, its audit row and its realtime event on commit (STYLE.md §5).

Every test asserts the database state, the audit row (actor, compound, record, verb, changed
field names — never a secret, an encoding or a card number) and the events actually delivered
once the transaction committed; a refused or rolled-back write delivers nothing. Face tests use
the real photos of ``../shared/faces`` (skipped when absent).
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone, translation
from PIL import Image

from access import actions
from access.choices import ConsentMethod, DeviceKind, DeviceStatus
from access.models import AccessSettings, BiometricConsent, Card, Device, FaceTemplate
from district.models import AuditAction, AuditEntry
from events.actions import access_group
from events.credentials import hash_secret, secret_matches
from events.models import DeviceIndex
from tests.factories import PersonFactory, RoleFactory

pytestmark = pytest.mark.django_db

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/faces is not beside the project")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


def blank_jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 200, 200)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Stored thumbnails and scans go to a temporary folder, not the project's media/."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def staff(compound_a):
    return RoleFactory(user__username="wuye-access", role="property_staff", compound=compound_a).user


@pytest.fixture
def person(in_a):
    return PersonFactory(name="门禁居民")


def last_entry() -> AuditEntry:
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None
    return entry


def assert_change(user, compound, obj, verb: str, fields: list[str]) -> AuditEntry:
    entry = last_entry()
    assert (entry.user, entry.compound, entry.action) == (user, compound, verb)
    assert entry.object_type == obj._meta.label_lower
    assert entry.detail["fields"] == sorted(fields)
    return entry


def events_of(sent, event_type: str, compound) -> list[dict]:
    found = [payload for groups, payload in sent if payload["type"] == event_type]
    for groups, payload in sent:
        assert groups == [access_group(compound.pk)], groups
        assert payload["compound"] == compound.code
    return found


def face_version() -> int:
    return AccessSettings.objects.filter(pk=1).values_list("face_version", flat=True).first() or 0


def consent_for(person, user) -> BiometricConsent:
    return actions.do_record_consent(
        person, method=ConsentMethod.WRITTEN, given_at=timezone.now() - datetime.timedelta(hours=1), acting_user=user
    )


def new_device(compound, user, **extra) -> tuple[Device, str]:
    fields = {"name": "南门人脸闸机", "kind": DeviceKind.FACE_GATE, "direction": "in", "gate": "南门"} | extra
    return actions.do_create_device(compound, **fields, acting_user=user)


# --- Devices ---------------------------------------------------------------------------------------


def test_create_device_writes_the_device_and_its_index_and_returns_the_secret_once(in_a, staff, committing):
    with committing() as sent:
        device, secret = new_device(in_a, staff)
    assert Device.objects.get(pk=device.pk).status == DeviceStatus.ACTIVE
    index = DeviceIndex.objects.get(uid=device.uid)
    assert (index.compound_id, index.kind, index.revoked_at) == (in_a.pk, DeviceKind.FACE_GATE, None)
    # Only the hash is stored, and it is the hash of the secret handed back.
    assert index.key_hash == hash_secret(secret) and secret not in index.key_hash
    entry = assert_change(staff, in_a, device, AuditAction.CREATE, ["direction", "gate", "kind", "name", "uid"])
    assert secret not in repr(entry.detail) + repr(sent) and index.key_hash not in repr(entry.detail) + repr(sent)
    (event,) = events_of(sent, "access.device.created", in_a)
    assert event["id"] == device.pk


def test_a_device_at_a_room_is_refused_and_nothing_is_written(in_a, staff, committing):
    from tests.factories import AddressPathFactory

    room = AddressPathFactory("1", "1", "1", "101")
    with committing() as sent, pytest.raises(ValidationError) as refused:
        new_device(in_a, staff, address=room)
    assert "address" in refused.value.message_dict
    assert not Device.objects.exists() and not DeviceIndex.objects.filter(compound=in_a).exists() and sent == []
    unit = room.parent.parent
    device, _secret = new_device(in_a, staff, address=unit)
    assert device.address == unit


def test_update_device_names_the_changed_fields_and_follows_the_kind_in_the_index(in_a, staff, committing):
    device, _secret = new_device(in_a, staff)
    device.name, device.kind = "南门读卡器", DeviceKind.CARD_READER
    with committing() as sent:
        actions.do_update_device(device, acting_user=staff)
    assert Device.objects.get(pk=device.pk).name == "南门读卡器"
    assert DeviceIndex.objects.get(uid=device.uid).kind == DeviceKind.CARD_READER
    assert_change(staff, in_a, device, AuditAction.UPDATE, ["kind", "name"])
    assert [e["fields"] for e in events_of(sent, "access.device.updated", in_a)] == [["kind", "name"]]
    rows = AuditEntry.objects.count()
    with committing() as sent:
        actions.do_update_device(Device.objects.get(pk=device.pk), acting_user=staff)
    assert AuditEntry.objects.count() == rows and sent == []


def test_disable_and_enable_a_device(in_a, staff, committing):
    device, _secret = new_device(in_a, staff)
    with committing() as sent:
        actions.do_set_device_status(device, DeviceStatus.DISABLED, acting_user=staff)
    assert Device.objects.get(pk=device.pk).status == DeviceStatus.DISABLED
    assert_change(staff, in_a, device, AuditAction.UPDATE, ["status"])
    assert len(events_of(sent, "access.device.updated", in_a)) == 1
    actions.do_set_device_status(device, DeviceStatus.ACTIVE, acting_user=staff)
    assert Device.objects.get(pk=device.pk).status == DeviceStatus.ACTIVE
    with pytest.raises(ValidationError):  # revoking is not a status to set
        actions.do_set_device_status(device, DeviceStatus.REVOKED, acting_user=staff)


def test_revoke_sets_revoked_at_for_good(in_a, staff, committing):
    device, _secret = new_device(in_a, staff)
    with committing() as sent:
        actions.do_revoke_device(device, acting_user=staff)
    index = DeviceIndex.objects.get(uid=device.uid)
    assert index.revoked_at is not None
    assert Device.objects.get(pk=device.pk).status == DeviceStatus.REVOKED
    entry = assert_change(staff, in_a, device, AuditAction.UPDATE, ["status"])
    assert entry.detail["revoked"] is True
    assert len(events_of(sent, "access.device.revoked", in_a)) == 1
    # Irreversible: not enabled again, no new credential, no edit; revoking again changes nothing.
    with pytest.raises(ValidationError):
        actions.do_set_device_status(device, DeviceStatus.ACTIVE, acting_user=staff)
    with pytest.raises(ValidationError):
        actions.do_rotate_device_secret(device, acting_user=staff)
    device.name = "改名"
    with pytest.raises(ValidationError):
        actions.do_update_device(device, acting_user=staff)
    rows = AuditEntry.objects.count()
    with committing() as sent:
        actions.do_revoke_device(Device.objects.get(pk=device.pk), acting_user=staff)
    assert AuditEntry.objects.count() == rows and sent == []
    assert DeviceIndex.objects.get(uid=device.uid).revoked_at == index.revoked_at


def test_rotate_issues_a_new_secret_and_the_old_one_stops_working(in_a, staff, committing):
    device, old = new_device(in_a, staff)
    with committing() as sent:
        new = actions.do_rotate_device_secret(device, acting_user=staff)
    stored = DeviceIndex.objects.get(uid=device.uid).key_hash
    assert new != old and secret_matches(new, stored) and not secret_matches(old, stored)
    entry = assert_change(staff, in_a, device, AuditAction.UPDATE, ["credential"])
    assert new not in repr(entry.detail) + repr(sent) and stored not in repr(entry.detail) + repr(sent)
    assert len(events_of(sent, "access.device.rotated", in_a)) == 1


# --- Consent -------------------------------------------------------------------------------------------


def test_record_consent_with_a_scan_and_only_one_in_force(in_a, staff, person, committing, media):
    given = timezone.now() - datetime.timedelta(days=1)
    with committing() as sent:
        consent = actions.do_record_consent(
            person, method=ConsentMethod.WRITTEN, given_at=given, document_bytes=PDF, acting_user=staff
        )
    stored = BiometricConsent.objects.get(pk=consent.pk)
    assert (stored.person, stored.recorded_by, stored.withdrawn_at) == (person, staff, None)
    assert stored.document.startswith(f"access/{in_a.code}/consents/") and stored.document.endswith(".pdf")
    assert default_storage.open(stored.document).read() == PDF
    assert_change(staff, in_a, consent, AuditAction.CREATE, ["document", "given_at", "method", "person", "recorded_by"])
    (event,) = events_of(sent, "access.consent.created", in_a)
    assert event["person"] == person.pk
    with committing() as sent, pytest.raises(ValidationError, match="already recorded"):
        consent_for(person, staff)
    assert sent == [] and BiometricConsent.objects.filter(person=person).count() == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00 not a scan", "JPEG, PNG or PDF"),
        (b"\xff\xd8\xff\xe0 truncated jpeg", "JPEG, PNG or PDF"),
        (b"%PDF-" + b"0" * (5 * 1024 * 1024), "larger than 5 MB"),
    ],
)
def test_a_bad_consent_scan_is_refused_and_nothing_is_stored(in_a, staff, person, committing, media, document, message):
    with translation.override("en"), committing() as sent, pytest.raises(ValidationError) as refused:
        actions.do_record_consent(
            person, method=ConsentMethod.WRITTEN, given_at=timezone.now(), document_bytes=document, acting_user=staff
        )
    assert message in " ".join(refused.value.message_dict["document"])
    assert not BiometricConsent.objects.exists() and sent == [] and not any(media.rglob("*.*"))


def test_consent_in_the_future_is_refused(in_a, staff, person):
    with translation.override("en"), pytest.raises(ValidationError, match="future"):
        actions.do_record_consent(
            person,
            method=ConsentMethod.WRITTEN,
            given_at=timezone.now() + datetime.timedelta(days=1),
            acting_user=staff,
        )


def test_a_png_scan_is_kept_as_png(in_a, staff, person):
    out = io.BytesIO()
    Image.new("RGB", (300, 400), "white").save(out, format="PNG")
    consent = actions.do_record_consent(
        person, method=ConsentMethod.GUARDIAN, given_at=timezone.now(), document_bytes=out.getvalue(), acting_user=staff
    )
    assert consent.document.endswith(".png")


# --- Faces -----------------------------------------------------------------------------------------------


def test_enrolment_without_consent_is_refused_before_any_work(in_a, staff, person, committing, media):
    rows, version = AuditEntry.objects.count(), face_version()
    with translation.override("en"), committing() as sent, pytest.raises(ValidationError) as refused:
        actions.do_enrol_face(person, blank_jpeg(), acting_user=staff)
    assert "recorded consent" in " ".join(refused.value.messages)
    assert refused.value.error_list[0].code == "no_consent"
    assert not FaceTemplate.objects.exists() and sent == [] and AuditEntry.objects.count() == rows
    assert face_version() == version and not any(media.rglob("*.*"))


@needs_faces
def test_enrol_a_real_photo_stores_float32_and_a_thumbnail_and_audits_no_encoding(in_a, staff, person, committing):
    consent_for(person, staff)
    version = face_version()
    with committing() as sent:
        face = actions.do_enrol_face(person, photo("enroll/obama.jpg"), acting_user=staff)
    stored = FaceTemplate.objects.get(pk=face.pk)
    encoding = bytes(stored.encoding)
    assert len(encoding) == 512
    vector = np.frombuffer(encoding, dtype=np.float32)
    assert vector.shape == (128,) and 0.5 < float(np.linalg.norm(vector)) < 2
    assert stored.photo.startswith(f"access/{in_a.code}/faces/") and stored.photo.endswith(".jpg")
    with default_storage.open(stored.photo) as thumb:
        image = Image.open(thumb)
        assert image.format == "JPEG" and max(image.size) <= 240
    assert face_version() == version + 1
    entry = assert_change(staff, in_a, face, AuditAction.CREATE, ["consent", "person", "photo"])
    flat = repr(entry.detail) + repr(sent)
    assert "encoding" not in flat and encoding.hex()[:32] not in flat
    (event,) = events_of(sent, "access.face.created", in_a)
    assert (event["id"], event["person"]) == (face.pk, person.pk)


@needs_faces
@pytest.mark.parametrize(
    ("make", "code", "message"),
    [
        (
            lambda: photo("probe/two_people.jpg"),
            "several_faces",
            "The photo shows 2 faces; an enrolment photo must show one.",
        ),
        (blank_jpeg, "no_face", "No face was found in the photo."),
        (lambda: b"not an image at all", "not_image", "The file is not a readable JPEG or PNG photo."),
        (lambda: blank_jpeg()[:300], "corrupt", "The photo is damaged and cannot be read."),
    ],
    ids=["two-faces", "blank", "not-an-image", "corrupt"],
)
def test_a_photo_that_is_not_one_face_is_refused_with_its_reason(
    in_a, staff, person, committing, media, make, code, message
):
    consent_for(person, staff)
    version = face_version()
    with translation.override("en"), committing() as sent, pytest.raises(ValidationError) as refused:
        actions.do_enrol_face(person, make(), acting_user=staff)
    (error,) = refused.value.error_dict["image"]
    assert (error.code, error.message) == (code, message)
    assert not FaceTemplate.objects.exists() and sent == [] and face_version() == version
    assert not any((media / "access" / in_a.code / "faces").glob("*")) if (media / "access").exists() else True


def test_a_sixth_photo_is_refused(in_a, staff, person):
    consent = consent_for(person, staff)
    for _n in range(actions.MAX_FACES_PER_PERSON):
        FaceTemplate.objects.create(person=person, consent=consent, encoding=bytes(512))
    with translation.override("en"), pytest.raises(ValidationError, match="already has 5 photos"):
        actions.do_enrol_face(person, blank_jpeg(), acting_user=staff)


@needs_faces
def test_remove_face_deletes_the_encoding_and_its_thumbnail_on_commit(in_a, staff, person, committing):
    consent_for(person, staff)
    face = actions.do_enrol_face(person, photo("enroll/obama.jpg"), acting_user=staff)
    name, pk, version = face.photo, face.pk, face_version()
    with committing() as sent:
        actions.do_remove_face(face, acting_user=staff)
        assert default_storage.exists(name)  # until the removal commits
    assert not FaceTemplate.objects.filter(pk=pk).exists() and not default_storage.exists(name)
    assert face_version() == version + 1
    entry = last_entry()
    assert (entry.action, entry.object_ids, entry.detail["fields"]) == (AuditAction.DELETE, [pk], [])
    assert [e["id"] for e in events_of(sent, "access.face.deleted", in_a)] == [pk]


@needs_faces
def test_withdrawing_consent_deletes_the_persons_templates(in_a, staff, person, committing):
    consent = consent_for(person, staff)
    faces = [
        actions.do_enrol_face(person, photo(name), acting_user=staff)
        for name in ("enroll/obama.jpg", "probe/obama2.jpg")
    ]
    other = PersonFactory(name="另一位居民")
    other_face = FaceTemplate.objects.create(person=other, consent=consent_for(other, staff), encoding=bytes(512))
    version = face_version()
    with committing() as sent:
        actions.do_withdraw_consent(consent, acting_user=staff)
    assert not FaceTemplate.objects.filter(person=person).exists()
    assert FaceTemplate.objects.filter(pk=other_face.pk).exists()
    assert not any(default_storage.exists(f.photo) for f in faces)
    stored = BiometricConsent.objects.get(pk=consent.pk)
    assert stored.withdrawn_at is not None and stored.withdrawn_by == staff
    assert face_version() == version + 1
    entry = assert_change(staff, in_a, consent, AuditAction.UPDATE, ["withdrawn_at", "withdrawn_by"])
    assert entry.detail["faces_deleted"] == 2
    deleted = AuditEntry.objects.get(action=AuditAction.DELETE, object_type="access.facetemplate")
    assert sorted(deleted.object_ids) == sorted(f.pk for f in faces)
    assert len(events_of(sent, "access.consent.withdrawn", in_a)) == 1
    assert sorted(e["id"] for e in events_of(sent, "access.face.deleted", in_a)) == sorted(f.pk for f in faces)
    # Withdrawn twice: refused. Enrolment now needs a new consent.
    with pytest.raises(ValidationError):
        actions.do_withdraw_consent(consent, acting_user=staff)
    with pytest.raises(ValidationError):
        actions.do_enrol_face(person, photo("enroll/obama.jpg"), acting_user=staff)
    assert consent_for(person, staff).withdrawn_at is None


# --- Cards -------------------------------------------------------------------------------------------------


def test_save_card_normalises_bounds_and_keeps_numbers_unique(in_a, staff, person, committing):
    with committing() as sent:
        card = actions.do_save_card(Card(person=person, number=" 12 ab-34:cd "), acting_user=staff)
    assert Card.objects.get(pk=card.pk).number == "12AB34CD"
    entry = assert_change(staff, in_a, card, AuditAction.CREATE, ["number", "person"])
    assert "12AB34CD" not in repr(entry.detail) + repr(sent)
    (event,) = events_of(sent, "access.card.created", in_a)
    assert event["person"] == person.pk
    with translation.override("en"):
        for bad in ("12", "卡号1234", "X" * 33):
            with pytest.raises(ValidationError) as refused:
                actions.do_save_card(Card(person=person, number=bad), acting_user=staff)
            assert "number" in refused.value.message_dict
        with pytest.raises(ValidationError) as refused:
            actions.do_save_card(Card(person=person, number="12ab34cd"), acting_user=staff)
        assert "number" in refused.value.message_dict
    card.active = False
    with committing() as sent:
        actions.do_save_card(card, acting_user=staff)
    assert_change(staff, in_a, card, AuditAction.UPDATE, ["active"])
    assert len(events_of(sent, "access.card.updated", in_a)) == 1


def test_delete_card(in_a, staff, person, committing):
    card = actions.do_save_card(Card(person=person, number="A1B2C3D4"), acting_user=staff)
    pk = card.pk
    with committing() as sent:
        actions.do_delete_card(card, acting_user=staff)
    assert not Card.objects.filter(pk=pk).exists()
    entry = last_entry()
    assert (entry.action, entry.object_ids) == (AuditAction.DELETE, [pk])
    assert [e["id"] for e in events_of(sent, "access.card.deleted", in_a)] == [pk]


# --- Rollback and coverage -----------------------------------------------------------------------------------


def test_a_rolled_back_write_sends_nothing_and_keeps_no_audit_row(in_a, staff, person, committing):
    rows = AuditEntry.objects.count()

    class AbortError(Exception):
        pass

    with committing() as sent, pytest.raises(AbortError), transaction.atomic():
        new_device(in_a, staff)
        consent_for(person, staff)
        actions.do_save_card(Card(person=person, number="DEADBEEF"), acting_user=staff)
        raise AbortError
    assert not Device.objects.exists() and not BiometricConsent.objects.exists() and not Card.objects.exists()
    assert not DeviceIndex.objects.filter(compound=in_a).exists()
    assert AuditEntry.objects.count() == rows and sent == []


def test_actions_refuse_to_run_outside_a_compound_schema(compound_a, staff):
    with pytest.raises(RuntimeError):
        actions.do_create_device(compound_a, name="x", kind=DeviceKind.FACE_GATE, direction="in", acting_user=staff)


ACTIONS_UNDER_TEST = [
    actions.do_create_device,
    actions.do_update_device,
    actions.do_set_device_status,
    actions.do_revoke_device,
    actions.do_rotate_device_secret,
    actions.do_record_consent,
    actions.do_withdraw_consent,
    actions.do_enrol_face,
    actions.do_remove_face,
    actions.do_save_card,
    actions.do_delete_card,
]


def test_every_access_write_action_is_tested_here():
    """A new ``do_*`` in access.actions must join this module (its rows, audit row and event)."""
    writes = {
        name
        for name in dir(actions)
        if name.startswith("do_")
        and callable(getattr(actions, name))
        and getattr(actions, name).__module__ == actions.__name__
    }
    assert writes == {f.__name__ for f in ACTIONS_UNDER_TEST}
