"""Every write of the compound's access control: devices, consent, face templates, cards (STYLE.md §2).

Each action runs in one transaction inside the compound's schema (``connection.tenant``),
writes its audit row (who, which record, the verb and the *names* of the fields that changed,
never their values: no secret, no encoding, no card number reaches the log) and queues the
realtime event ``access.<model>.<verb>`` to the compound's access group
(``events.actions.access_group``), which leaves only when the transaction commits.

Face templates are biometric data (PIPL art. 28–29): none is stored without the person's
active, separate consent (:class:`access.models.BiometricConsent`); withdrawing the consent
deletes them in the same transaction. Every change to the templates bumps
``AccessSettings.face_version``, which each gate-matching process compares with the version of
its cached matrix on every decision, so a removed face stops opening gates in every process.

Files (thumbnails of enrolled faces, scans of signed consent forms) live in ``default_storage``
under ``ACCESS_SNAPSHOT_DIR/<compound code>/``; they are deleted once the transaction that
removed their row commits, so a rolled-back removal keeps its file.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from access.choices import DeviceStatus
from access.faces import ImageRefusedError, decode, encode_one, thumbnail_jpeg
from access.models import AccessSettings, BiometricConsent, Card, Device, FaceTemplate
from district.audit import changed_fields, do_record_audit, do_record_change, stored_values
from district.models import AuditAction
from district.realtime import Event, send_event_on_commit
from district.typing import AnyUser
from events.actions import access_group
from events.choices import Direction
from events.credentials import hash_secret, new_secret, new_uid
from events.models import DeviceIndex
from registry.choices import AddressLevel
from registry.models import Address, Person
from tenants.models import Compound

__all__ = [
    "CARD_NUMBER_MAX",
    "CONSENT_DOCUMENT_MAX_BYTES",
    "MAX_FACES_PER_PERSON",
    "active_consent",
    "check_consent_document",
    "current_compound",
    "do_create_device",
    "do_delete_card",
    "do_enrol_face",
    "do_record_consent",
    "do_remove_face",
    "do_revoke_device",
    "do_rotate_device_secret",
    "do_save_card",
    "do_set_device_status",
    "do_update_device",
    "do_withdraw_consent",
    "normalise_card_number",
]

# Several photos per person help a gate under different light; more than this adds nothing
# but biometric data to keep.
MAX_FACES_PER_PERSON = 5
# A scanned or photographed consent form; a phone photo of one page is 1–3 MB.
CONSENT_DOCUMENT_MAX_BYTES = 5 * 1024 * 1024
# IC card numbers as readers report them: 8–20 hex or decimal digits (Mifare UIDs, 10-digit numbers).
CARD_NUMBER_MIN, CARD_NUMBER_MAX = 4, 32
CARD_NUMBER = re.compile(rf"[0-9A-Z]{{{CARD_NUMBER_MIN},{CARD_NUMBER_MAX}}}")
CARD_NUMBER_SEPARATORS = re.compile(r"[\s\-:]+")
# Where a device may be placed in the address tree (a gate has no address; floors and rooms have no doors of ours).
DEVICE_ADDRESS_LEVELS = (AddressLevel.BUILDING, AddressLevel.UNIT)
# The fields a device edit may change (status, uid and credential have actions of their own).
DEVICE_EDITABLE = ("name", "kind", "direction", "gate", "address")

CREATED, UPDATED, DELETED = "created", "updated", "deleted"


# --- Shared helpers ------------------------------------------------------------------------------


def current_compound() -> Compound:
    """The compound whose schema the connection is on; an access write anywhere else is a bug."""
    tenant = getattr(connection, "tenant", None)
    if not isinstance(tenant, Compound):
        raise RuntimeError("access actions run inside a compound's schema (tenant_context)")
    return tenant


def _announce(compound: Compound, model: str, verb: str, pk: int, fields: Iterable[str] = (), **ids: Any) -> None:
    """Queue ``access.<model>.<verb>`` for the compound's access group (ids and field names only)."""
    payload: Event = {"type": f"access.{model}.{verb}", "compound": compound.code, "id": pk, "fields": sorted(fields)}
    payload.update(ids)
    send_event_on_commit([access_group(compound.pk)], payload)


def _store(compound: Compound, folder: str, data: bytes, suffix: str) -> str:
    """Save ``data`` under the compound's folder with a random name; return the storage name."""
    name = f"{settings.ACCESS_SNAPSHOT_DIR}/{compound.code}/{folder}/{uuid.uuid4().hex}.{suffix}"
    return default_storage.save(name, ContentFile(data))


def _delete_files_on_commit(names: list[str]) -> None:
    """Delete stored files once the removal of their rows commits (a rollback keeps them)."""

    def delete() -> None:
        for name in names:
            default_storage.delete(name)

    if names:
        transaction.on_commit(delete)


def _bump_face_version() -> None:
    """Tell every gate-matching process that the compound's face templates changed."""
    AccessSettings.objects.get_or_create(pk=1)
    AccessSettings.objects.filter(pk=1).update(face_version=F("face_version") + 1)


# --- Devices ---------------------------------------------------------------------------------------


def _check_device_address(device: Device) -> None:
    address: Address | None = device.address
    if address is not None and address.level not in DEVICE_ADDRESS_LEVELS:
        raise ValidationError({"address": _("A device is placed at a building or a unit, not at a floor or room.")})


@transaction.atomic
def do_create_device(
    compound: Compound,
    *,
    name: str,
    kind: str,
    direction: str = Direction.BOTH,
    gate: str = "",
    address: Address | None = None,
    acting_user: AnyUser,
) -> tuple[Device, str]:
    """Add a device and issue its credential; returns ``(device, secret)``.

    The compound's ``Device`` row and the public ``events.DeviceIndex`` row (uid, compound, the
    SHA-256 of the secret) are written together. The secret is returned once, to be shown to
    the person installing the device; it is stored nowhere. Needs ``access.devices``.
    """
    if current_compound().pk != compound.pk:
        raise RuntimeError("do_create_device runs in the schema of the compound it adds to")
    device = Device(uid=new_uid(), name=str(name).strip(), kind=kind, direction=direction, gate=str(gate).strip())
    device.address = address
    device.full_clean()
    _check_device_address(device)
    secret = new_secret()
    DeviceIndex.objects.create(uid=device.uid, compound=compound, kind=device.kind, key_hash=hash_secret(secret))
    device.save()
    fields = changed_fields(None, device)
    do_record_change(acting_user, AuditAction.CREATE, device, fields=fields, compound=compound)
    _announce(compound, "device", CREATED, device.pk, fields)
    return device, secret


@transaction.atomic
def do_update_device(device: Device, *, acting_user: AnyUser) -> Device:
    """Save changes to a device's name, type, direction, gate or place (``access.devices``).

    Status and credential change through their own actions; a revoked device is kept as it
    was when revoked. An edit that changes nothing writes nothing.
    """
    compound = current_compound()
    before = stored_values(device)
    if before is None:
        raise ValueError("do_update_device changes an existing device; do_create_device adds one")
    if before["status"] == DeviceStatus.REVOKED:
        raise ValidationError(_("A revoked device cannot be changed."))
    if before["uid"] != device.uid or before["status"] != device.status:
        raise ValidationError(_("The device id and status are not changed by editing the device."))
    device.name, device.gate = str(device.name).strip(), str(device.gate).strip()
    device.full_clean()
    _check_device_address(device)
    fields = [name for name in changed_fields(before, device) if name in DEVICE_EDITABLE]
    if not fields:
        return device
    device.save(update_fields=fields)
    if "kind" in fields:
        DeviceIndex.objects.filter(uid=device.uid).update(kind=device.kind)
    do_record_change(acting_user, AuditAction.UPDATE, device, fields=fields, compound=compound)
    _announce(compound, "device", UPDATED, device.pk, fields)
    return device


def _locked(device: Device) -> tuple[Device, DeviceIndex]:
    """The device and its index row, locked for this transaction (re-read: the caller's copy may be stale)."""
    local = Device.objects.select_for_update().get(pk=device.pk)
    index = DeviceIndex.objects.select_for_update().get(uid=local.uid)
    return local, index


@transaction.atomic
def do_set_device_status(device: Device, status: str, *, acting_user: AnyUser) -> Device:
    """Disable a device (its credential is refused until enabled again) or enable it (``access.devices``).

    Revoking is :func:`do_revoke_device`, and cannot be undone here.
    """
    compound = current_compound()
    if status not in (DeviceStatus.ACTIVE, DeviceStatus.DISABLED):
        raise ValidationError({"status": _("A device is enabled or disabled here; revoking has its own action.")})
    local, index = _locked(device)
    if local.status == DeviceStatus.REVOKED:
        raise ValidationError(_("A revoked device cannot be enabled or disabled again."))
    if local.status != status:
        local.status = status
        local.save(update_fields=["status"])
        # Public, so the offline sweep (alerts.detect_time) does not report a switched-off device.
        index.disabled_at = timezone.now() if status == DeviceStatus.DISABLED else None
        index.save(update_fields=["disabled_at"])
        do_record_change(acting_user, AuditAction.UPDATE, local, fields=["status"], compound=compound)
        _announce(compound, "device", UPDATED, local.pk, ["status"])
    device.status = local.status
    return device


@transaction.atomic
def do_revoke_device(device: Device, *, acting_user: AnyUser) -> Device:
    """Revoke a device for good: its credential is refused from now on (``access.devices``).

    Sets ``DeviceIndex.revoked_at`` (checked before any compound schema is chosen) and the
    device's status. Irreversible: a replaced or stolen device gets a new device. Revoking a
    revoked device changes nothing.
    """
    compound = current_compound()
    local, index = _locked(device)
    if local.status != DeviceStatus.REVOKED or index.revoked_at is None:
        index.revoked_at = index.revoked_at or timezone.now()
        index.save(update_fields=["revoked_at"])
        local.status = DeviceStatus.REVOKED
        local.save(update_fields=["status"])
        do_record_change(
            acting_user, AuditAction.UPDATE, local, fields=["status"], compound=compound, detail={"revoked": True}
        )
        _announce(compound, "device", "revoked", local.pk, ["status"])
    device.status = local.status
    return device


@transaction.atomic
def do_rotate_device_secret(device: Device, *, acting_user: AnyUser) -> str:
    """Issue a new secret for a device; the old one stops working at once. Returns the new secret.

    For a credential that may have leaked, or a device being re-installed (``access.devices``).
    The audit row names the credential, never the secret or its hash.
    """
    compound = current_compound()
    local, index = _locked(device)
    if local.status == DeviceStatus.REVOKED or index.revoked_at is not None:
        raise ValidationError(_("A revoked device gets no new credential; add a new device instead."))
    secret = new_secret()
    index.key_hash = hash_secret(secret)
    index.save(update_fields=["key_hash"])
    do_record_change(acting_user, AuditAction.UPDATE, local, fields=["credential"], compound=compound)
    _announce(compound, "device", "rotated", local.pk, ["credential"])
    return secret


# --- Consent -----------------------------------------------------------------------------------------


def active_consent(person: Person, *, lock: bool = False) -> BiometricConsent | None:
    """The person's consent in force (not withdrawn), if any."""
    qs = BiometricConsent.objects.filter(person=person, withdrawn_at__isnull=True)
    if lock:
        qs = qs.select_for_update()
    return qs.first()


def check_consent_document(data: bytes) -> str:
    """The file suffix of a consent scan (``pdf``, ``jpg``, ``png``), or ValidationError.

    At most :data:`CONSENT_DOCUMENT_MAX_BYTES`; told by its content, not by a name a client
    chose. Images are decoded within the photo limits (``access.faces.decode``), so a
    decompression bomb is refused here too.
    """
    if not data:
        raise ValidationError({"document": _("The scan of the consent form is empty.")})
    if len(data) > CONSENT_DOCUMENT_MAX_BYTES:
        raise ValidationError(
            {
                "document": _("The scan of the consent form is larger than %(mb)d MB.")
                % {"mb": CONSENT_DOCUMENT_MAX_BYTES // (1024 * 1024)}
            }
        )
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
        try:
            image = decode(data)
        except ImageRefusedError:
            pass
        else:
            image.close()
            return "png" if data.startswith(b"\x89PNG") else "jpg"
    raise ValidationError({"document": _("The scan of the consent form must be a readable JPEG, PNG or PDF file.")})


@transaction.atomic
def do_record_consent(
    person: Person,
    *,
    method: str,
    given_at: datetime,
    document_bytes: bytes | None = None,
    acting_user: AnyUser,
) -> BiometricConsent:
    """Record a person's separate consent to face enrolment (单独同意, PIPL art. 29).

    Who consented (``person``), when (``given_at``, not in the future), how (``method``) and who
    recorded it (``acting_user``, ``access.enrol``), with an optional scan of the signed form
    (JPEG, PNG or PDF, at most 5 MB). A person has at most one consent in force.
    """
    compound = current_compound()
    if timezone.is_naive(given_at):
        raise ValidationError({"given_at": _("Give the time of consent with its time zone.")})
    if given_at > timezone.now():
        raise ValidationError({"given_at": _("Consent cannot be given in the future.")})
    suffix = check_consent_document(document_bytes) if document_bytes is not None else None
    consent = BiometricConsent(
        person=person,
        method=method,
        given_at=given_at,
        recorded_by=acting_user if acting_user.is_authenticated else None,
    )
    # The one-consent rule is checked below with a message of its own (under the person's lock).
    consent.full_clean(exclude=["document", "withdrawn_at", "withdrawn_by"], validate_constraints=False)
    # Serialise recordings for one person: the second of two concurrent ones gets the message below.
    list(Person.objects.select_for_update().filter(pk=person.pk).order_by().values_list("pk", flat=True))
    if active_consent(person) is not None:
        raise ValidationError(_("This person's consent is already recorded; withdraw it before recording another."))
    stored = _store(compound, "consents", document_bytes, suffix) if document_bytes is not None and suffix else ""
    consent.document = stored
    try:
        with transaction.atomic():
            consent.save()
    except IntegrityError:  # a concurrent recording won despite the lock (a person row not yet committed)
        if stored:
            default_storage.delete(stored)
        raise ValidationError(
            _("This person's consent is already recorded; withdraw it before recording another.")
        ) from None
    fields = [name for name in changed_fields(None, consent) if name != "recorded_at"]  # bookkeeping
    do_record_change(acting_user, AuditAction.CREATE, consent, fields=fields, compound=compound)
    _announce(compound, "consent", CREATED, consent.pk, fields, person=person.pk)
    return consent


@transaction.atomic
def do_withdraw_consent(consent: BiometricConsent, *, acting_user: AnyUser) -> BiometricConsent:
    """Record that a person withdrew their consent, and delete every face template of theirs.

    In one transaction: the consent is marked withdrawn (by whom, when; the record and its scan
    stay as the history of consent), the person's templates are deleted (their thumbnails once
    it commits) and the face version is bumped, so no gate opens for that face any more
    (``access.enrol``).
    """
    compound = current_compound()
    locked = BiometricConsent.objects.select_for_update().get(pk=consent.pk)
    if locked.withdrawn_at is not None:
        raise ValidationError(_("This consent has already been withdrawn."))
    templates = list(FaceTemplate.objects.select_for_update().filter(person_id=locked.person_id).order_by("pk"))
    if templates:
        do_record_audit(
            acting_user,
            AuditAction.DELETE,
            compound=compound,
            objects=templates,
            detail={"fields": [], "because": "consent_withdrawn"},
        )
        FaceTemplate.objects.filter(pk__in=[t.pk for t in templates]).delete()
        _bump_face_version()
        _delete_files_on_commit([t.photo for t in templates if t.photo])
    locked.withdrawn_at = timezone.now()
    locked.withdrawn_by = acting_user if acting_user.is_authenticated else None
    locked.save(update_fields=["withdrawn_at", "withdrawn_by"])
    fields = ["withdrawn_at", "withdrawn_by"]
    do_record_change(
        acting_user,
        AuditAction.UPDATE,
        locked,
        fields=fields,
        compound=compound,
        detail={"faces_deleted": len(templates)},
    )
    for template in templates:
        _announce(compound, "face", DELETED, template.pk, person=locked.person_id)
    _announce(compound, "consent", "withdrawn", locked.pk, fields, person=locked.person_id)
    consent.withdrawn_at, consent.withdrawn_by = locked.withdrawn_at, locked.withdrawn_by
    return consent


# --- Faces ---------------------------------------------------------------------------------------------


def _check_enrolment_allowed(person: Person, *, lock: bool = False) -> BiometricConsent:
    consent = active_consent(person, lock=lock)
    if consent is None:
        raise ValidationError(
            _("No face can be enrolled without the person's recorded consent: record the signed consent first."),
            code="no_consent",
        )
    if FaceTemplate.objects.filter(person=person).count() >= MAX_FACES_PER_PERSON:
        raise ValidationError(
            _("This person already has %(n)d photos enrolled; remove one before adding another.")
            % {"n": MAX_FACES_PER_PERSON},
            code="too_many_faces",
        )
    return consent


def do_enrol_face(person: Person, image_bytes: bytes, *, acting_user: AnyUser) -> FaceTemplate:
    """Enrol one photo of a person's face: store its float32 encoding and a thumbnail (``access.enrol``).

    Refused (ValidationError, in the user's language) without an active consent, beyond
    :data:`MAX_FACES_PER_PERSON` photos, and for a photo that is not exactly one readable face
    (``access.faces``: too large, not JPEG/PNG, corrupt, no face, several faces). The encoding
    (128 float32, 512 bytes) never leaves the database: not in the audit row, not in the event.
    Bumps the compound's face version.
    """
    compound = current_compound()
    # Cheap refusals first: detecting and encoding a face takes a few hundred milliseconds.
    _check_enrolment_allowed(person)
    try:
        face, image = encode_one(image_bytes)
    except ImageRefusedError as refused:
        raise ValidationError({"image": ValidationError(str(refused), code=refused.code)}) from None
    thumbnail = thumbnail_jpeg(image, face.box)
    image.close()
    with transaction.atomic():
        # Locking the consent serialises enrolments and withdrawal for one person: a withdrawal
        # that commits first leaves nothing to enrol under, and the count cannot be raced past.
        consent = _check_enrolment_allowed(person, lock=True)
        name = _store(compound, "faces", thumbnail, "jpg")
        try:
            template = FaceTemplate.objects.create(
                person=person,
                consent=consent,
                encoding=face.encoding_bytes(),
                photo=name,
                created_by=acting_user if acting_user.is_authenticated else None,
            )
            fields = ["consent", "person", "photo"]  # never the encoding
            do_record_change(acting_user, AuditAction.CREATE, template, fields=fields, compound=compound)
            _bump_face_version()
        except BaseException:
            default_storage.delete(name)
            raise
        _announce(compound, "face", CREATED, template.pk, fields, person=person.pk)
    return template


@transaction.atomic
def do_remove_face(template: FaceTemplate, *, acting_user: AnyUser) -> None:
    """Delete one enrolled photo: its encoding now, its thumbnail on commit (``access.enrol``)."""
    compound = current_compound()
    pk, person_id, photo = template.pk, template.person_id, template.photo
    do_record_change(acting_user, AuditAction.DELETE, template, compound=compound)
    template.delete()
    _bump_face_version()
    _delete_files_on_commit([photo] if photo else [])
    _announce(compound, "face", DELETED, pk, person=person_id)


# --- Cards ---------------------------------------------------------------------------------------------


def normalise_card_number(raw: str) -> str:
    """A card number as stored: separators (spaces, dashes, colons) removed, letters upper-case."""
    return CARD_NUMBER_SEPARATORS.sub("", str(raw)).upper()


@transaction.atomic
def do_save_card(card: Card, *, acting_user: AnyUser) -> Card:
    """Add an IC card for a person, or save changes to one (``access.enrol``).

    The number is normalised (``12 ab-34 CD`` → ``12AB34CD``), 4–32 letters and digits, and
    unique in the compound. An edit that changes nothing writes nothing.
    """
    compound = current_compound()
    card.number = normalise_card_number(card.number)
    if not CARD_NUMBER.fullmatch(card.number):
        raise ValidationError(
            {
                "number": _("A card number has %(min)d to %(max)d letters and digits.")
                % {"min": CARD_NUMBER_MIN, "max": CARD_NUMBER_MAX}
            }
        )
    before = stored_values(card)
    card.full_clean()
    fields = changed_fields(before, card)
    if before is not None and not fields:
        return card
    try:
        with transaction.atomic():
            card.save()
    except IntegrityError:  # the same number saved concurrently: full_clean's check came too early
        raise ValidationError({"number": _("This card number is already registered.")}) from None
    verb = AuditAction.CREATE if before is None else AuditAction.UPDATE
    do_record_change(acting_user, verb, card, fields=fields, compound=compound)
    _announce(compound, "card", CREATED if before is None else UPDATED, card.pk, fields, person=card.person_id)
    return card


@transaction.atomic
def do_delete_card(card: Card, *, acting_user: AnyUser) -> None:
    """Remove an IC card: it opens nothing from now on (``access.enrol``)."""
    compound = current_compound()
    pk, person_id = card.pk, card.person_id
    do_record_change(acting_user, AuditAction.DELETE, card, compound=compound)
    card.delete()
    _announce(compound, "card", DELETED, pk, person=person_id)
