"""Gate decisions: a capture, a card, a plate or an ID card in; open, deny or hit out (issue #9).

Each decision is written by one action, in one transaction: its access events (one per face of
a capture), the capture's snapshot (stored once, shared by the capture's events), the alert of
a watch-list hit, and the device's delivery key when it sent one, so that a retried delivery
gets the stored answer and writes nothing twice (``events.actions.do_remember_delivery``: of two
concurrent retries, the loser's transaction rolls back and raises :class:`DeliveryRaceLostError`).
Events and alerts are announced on commit by ``events.actions``.

What the device is told is what a gate needs: open or not, a reason code, the person's id and
a masked name for its display (``张*``). Watch-list entries, ID numbers and full names never
go back to the device.

Decisions of a capture (:func:`decide_faces`), face by face:

1. the nearest watch-list face within the compound's tolerance → ``hit``: the door stays
   shut and the compound's beat officer gets an alert, even if the face is also a resident's;
2. liveness reported ``failed`` by the device → ``deny``;
3. the nearest resident within the tolerance and clear of every other resident by the margin
   → ``open``; within the tolerance but too close to someone else → ``deny`` (ambiguous);
4. otherwise ``deny`` (unknown).

The door opens when some face opens and no face of the capture is a watch-list hit (a watched
person walking in behind a resident must not get the door held open for them).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from access.faces import FoundFace
from access.matching import FaceMatrix, Match, current_settings, resident_matrix, watch_matrix
from access.models import AccessSettings, Card, Device, FaceTemplate
from events.actions import device_time, do_raise_alert, do_record_access_event, do_remember_delivery, save_snapshot
from events.choices import WATCHED_PERSON_KINDS, Decision, Direction, EventKind, Severity, WatchKind
from events.models import AccessEvent, AreaTagged, DeviceIndex, WatchlistEntry
from registry.masking import mask_id_number
from registry.models import Person, Vehicle
from tenants.models import Compound

__all__ = [
    "FACES_PER_CAPTURE",
    "PLATE_ALERT",
    "WATCH_ALERT",
    "Delivery",
    "DeliveryRaceLostError",
    "FaceResult",
    "Liveness",
    "Reason",
    "decide_faces",
    "do_decide_capture",
    "do_decide_card",
    "do_decide_plate",
    "do_record_readings",
    "do_verify_identity",
    "mask_name",
    "snapshot_suffix",
]

# Faces of one capture that get a decision (and an event); a gate's frame holds one or two.
FACES_PER_CAPTURE = 8
# Alert kinds of ``alerts.catalogue``: a watched person (face, card or ID number), a watched plate.
WATCH_ALERT = "watchlist_hit"
PLATE_ALERT = "key_area_plate"


class Liveness(models.TextChoices):
    """What the device's own liveness check (IR, depth) said; recorded, never computed here."""

    PASSED = "passed", _("Live person")
    FAILED = "failed", _("Not a live person")
    UNCHECKED = "unchecked", _("Not checked")


class Reason(models.TextChoices):
    """Why a decision went as it did (``AccessEvent.reason``, and the device's ``reason``)."""

    RESIDENT = "resident", _("Enrolled resident")
    UNKNOWN_FACE = "unknown_face", _("Face not enrolled")
    AMBIGUOUS = "ambiguous", _("Too close to another enrolled person")
    LIVENESS_FAILED = "liveness_failed", _("Liveness check failed")
    WATCHLIST = "watchlist", _("On the watch-list")
    CARD = "card", _("Valid card")
    UNKNOWN_CARD = "unknown_card", _("Unknown card")
    INACTIVE_CARD = "inactive_card", _("Card deactivated")
    EXPIRED_CARD = "expired_card", _("Card expired")
    RESIDENT_VEHICLE = "resident_vehicle", _("Registered vehicle")
    UNKNOWN_PLATE = "unknown_plate", _("Vehicle not registered")
    BLOCKED_PLATE = "blocked_plate", _("Blocked plate")
    VERIFIED = "verified", _("Face matches the ID")
    FACE_MISMATCH = "face_mismatch", _("Face does not match the ID")
    NO_REFERENCE = "no_reference_face", _("No ID photo or enrolled face to compare with")


class DeliveryRaceLostError(Exception):
    """Another request with the same delivery key committed first; this one's writes roll back."""


@dataclass(frozen=True)
class Delivery:
    """Who delivered, when and which way: what every decision's events share."""

    compound: Compound
    device: DeviceIndex
    local: Device
    received_at: datetime
    reported_at: datetime | None = None
    direction: str = ""
    liveness: str = ""
    key: str = ""  # the device's Idempotency-Key, if it sent one

    @property
    def city_id(self) -> int:
        return AreaTagged.tags_for(self.compound)["city_id"]

    def event_fields(self, reported_at: datetime | None = None) -> dict[str, Any]:
        """The columns every event of this delivery shares (``reported_at`` overrides the delivery's)."""
        reported = reported_at if reported_at is not None else self.reported_at
        occurred_at, trusted = device_time(reported, self.received_at)
        direction = self.direction
        if not direction and self.local.direction in (Direction.IN, Direction.OUT):
            direction = self.local.direction
        detail: dict[str, Any] = {}
        if not trusted and reported is not None:
            detail["device_time"] = reported.isoformat()  # kept, not trusted: it was ahead of ours
        return {
            "occurred_at": occurred_at,
            "received_at": self.received_at,
            "device": self.device,
            "direction": direction,
            "liveness": self.liveness,
            "detail": detail,
        }


def mask_name(name: str) -> str:
    """What a gate may display of a name: its first character (``张*``, ``欧**``)."""
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


def snapshot_suffix(data: bytes) -> str:
    """The file suffix of a capture that ``access.faces.decode`` accepted (JPEG or PNG)."""
    return "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"


def _remember(delivery: Delivery, payload: dict[str, Any]) -> None:
    if delivery.key and not do_remember_delivery(delivery.device, delivery.key, status=200, response=payload):
        raise DeliveryRaceLostError


def _live_entries(city_id: int, at: datetime) -> models.QuerySet[WatchlistEntry]:
    """The city's watch-list entries in force at ``at`` (active, not expired)."""
    return WatchlistEntry.objects.filter(city_id=city_id, active=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at)
    )


def watched_id_number(city_id: int, id_number: str, at: datetime) -> WatchlistEntry | None:
    """The wanted or key-person entry of the city for this ID number, if one is in force."""
    if not id_number:
        return None
    return (
        _live_entries(city_id, at)
        .filter(kind__in=sorted(WATCHED_PERSON_KINDS), id_number=id_number.strip().upper())
        .order_by("kind", "pk")  # "key_person" < "wanted": either raises an alert; the first one wins
        .first()
    )


def _raise_watch_alert(
    delivery: Delivery,
    event: AccessEvent,
    entry_id: int,
    severity: str,
    *,
    kind: str = WATCH_ALERT,
    **detail: Any,
) -> None:
    """The alert of a watch-list hit, folded per entry and device (one ongoing situation).

    ``detail`` carries what ``alerts.catalogue`` explains the alert with (the device, the
    entry's kind, the similarity or the plate), never a name or an ID number.
    """
    watch_kind = WatchlistEntry.objects.filter(pk=entry_id).values_list("kind", flat=True).first() or ""
    do_raise_alert(
        delivery.compound,
        kind=kind,
        occurred_at=event.occurred_at,
        severity=severity,
        fold_key=f"watch:{entry_id}:{delivery.device.uid}",
        detail={
            "device": delivery.local.name,
            "device_uid": delivery.device.uid,
            "gate": delivery.local.gate,
            "event_kind": event.kind,
            "watch_kind": watch_kind,
            **detail,
        },
        access_event=event,
        device=delivery.device,
        person_id=event.person_id,
        watch_entry_id=entry_id,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# --- Faces at a gate ---------------------------------------------------------------------------


@dataclass
class FaceResult:
    """The decision for one face of a capture."""

    face_index: int
    box: tuple[int, int, int, int]
    decision: str
    reason: str
    person_id: int | None = None
    similarity: float | None = None
    margin: float | None = None
    watch_entry_id: int | None = None
    event_id: int | None = None
    display_name: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "face_index": self.face_index,
            "decision": self.decision,
            "reason": self.reason,
            # Which resident is watched is police information: the device is not told.
            "person_id": self.person_id if self.decision != Decision.HIT else None,
            "display_name": self.display_name,
            "similarity": _rounded(self.similarity),
            "margin": _rounded(self.margin),
            "watch_hit": self.decision == Decision.HIT,
            "event_id": self.event_id,
            "box": list(self.box),
        }


def decide_faces(
    faces: Sequence[FoundFace],
    residents: Sequence[Match | None],
    watched: Sequence[Match | None],
    settings: AccessSettings,
    liveness: str = "",
) -> list[FaceResult]:
    """The decision for each face (see the module docstring), from its resident and watch-list matches."""
    results = []
    for index, (face, resident, watch) in enumerate(zip(faces, residents, watched, strict=True)):
        within = resident is not None and resident.distance <= settings.face_tolerance
        clear = within and resident is not None and (resident.margin is None or resident.margin >= settings.face_margin)
        admitted = resident.owner if clear and resident is not None else None
        best = resident
        if watch is not None and watch.distance <= settings.face_tolerance:
            # The watch-list's similarity and margin are what the officer weighs.
            decision, reason, best = Decision.HIT, Reason.WATCHLIST, watch
        elif liveness == Liveness.FAILED:
            decision, reason, admitted = Decision.DENY, Reason.LIVENESS_FAILED, None
        elif clear:
            decision, reason = Decision.OPEN, Reason.RESIDENT
        elif within:
            decision, reason = Decision.DENY, Reason.AMBIGUOUS
        else:
            decision, reason = Decision.DENY, Reason.UNKNOWN_FACE
        results.append(
            FaceResult(
                face_index=index,
                box=face.box,
                decision=decision,
                reason=reason,
                person_id=admitted,
                similarity=best.similarity if best is not None else None,
                margin=best.margin if best is not None else None,
                watch_entry_id=watch.owner if decision == Decision.HIT and watch is not None else None,
            )
        )
    return results


@transaction.atomic
def do_decide_capture(delivery: Delivery, faces: Sequence[FoundFace], image: bytes) -> dict[str, Any]:
    """Decide every face of a gate's capture, record one event per face, answer the device.

    The first :data:`FACES_PER_CAPTURE` faces (left to right) are matched against the
    compound's residents and the city's watch-list (one matrix product each), the capture is
    stored once as the events' snapshot, each hit raises a high-severity alert, and the answer
    is remembered under the delivery's key. Raises :class:`DeliveryRaceLostError` (everything rolled
    back, the snapshot deleted) when a concurrent retry of the same delivery answered first.
    """
    settings = current_settings(delivery.city_id)
    considered = list(faces[:FACES_PER_CAPTURE])
    probes = np.stack([face.encoding for face in considered])
    gallery = resident_matrix(settings)
    residents = gallery.match(probes)
    watched = watch_matrix(delivery.city_id, settings).match(probes, at=delivery.received_at)
    results = decide_faces(considered, residents, watched, settings, delivery.liveness)
    shared = delivery.event_fields()
    snapshot = save_snapshot(delivery.compound, image, shared["occurred_at"], suffix=snapshot_suffix(image))
    try:
        for result, face in zip(results, considered, strict=True):
            detail: dict[str, Any] = {**shared["detail"], "box": list(result.box)}
            if result.reason == Reason.UNKNOWN_FACE:
                # A stranger's encoding, for the alert engine's patterns over days
                # (``alerts.clusters``); removed with the snapshot after the retention period.
                detail["encoding"] = base64.b64encode(np.asarray(face.encoding, dtype="<f4").tobytes()).decode("ascii")
            event = do_record_access_event(
                delivery.compound,
                **{**shared, "detail": detail},
                kind=EventKind.FACE,
                decision=result.decision,
                reason=result.reason,
                person_id=result.person_id,
                watch_entry_id=result.watch_entry_id,
                similarity=result.similarity,
                margin=result.margin,
                face_index=result.face_index,
                faces_in_capture=len(faces),
                snapshot=snapshot,
            )
            result.event_id = event.pk
            if result.decision == Decision.OPEN and result.person_id is not None:
                result.display_name = mask_name(gallery.names.get(result.person_id, ""))
            if result.watch_entry_id is not None:
                _raise_watch_alert(
                    delivery,
                    event,
                    result.watch_entry_id,
                    Severity.HIGH,
                    matched_by="face",
                    similarity=_rounded(result.similarity),
                    face_index=result.face_index,
                )
        hit = any(r.decision == Decision.HIT for r in results)
        payload = {
            "open": not hit and any(r.decision == Decision.OPEN for r in results),
            "faces_in_capture": len(faces),
            "results": [r.payload() for r in results],
        }
        _remember(delivery, payload)
    except BaseException:
        default_storage.delete(snapshot)  # the events that named it are rolled back with this transaction
        raise
    return payload


# --- Cards and plates --------------------------------------------------------------------------


def _single_answer(event: AccessEvent, *, display_name: str = "", **extra: Any) -> dict[str, Any]:
    """The device's answer to one passage.

    ``watch_hit`` only when the watch-list changed the decision (a hit, a blocked plate): a
    key-area plate passes as usual and its alert reaches the police alone. Whose card or face a
    hit was is not told either.
    """
    hit = event.decision == Decision.HIT
    return {
        "open": event.decision == Decision.OPEN,
        "decision": event.decision,
        "reason": event.reason,
        "person_id": None if hit else event.person_id,
        "display_name": display_name,
        "watch_hit": hit or event.reason == Reason.BLOCKED_PLATE,
        "event_id": event.pk,
        **extra,
    }


@transaction.atomic
def do_decide_card(delivery: Delivery, card_no: str) -> dict[str, Any]:
    """A card presented at a reader: open for an active, unexpired card, unless its holder is watched.

    The holder's ID number is checked against the city's wanted and key persons: a hit keeps
    the door shut and raises a high-severity alert, as a face would.
    """
    card = Card.objects.select_related("person").filter(number=card_no).first()
    person: Person | None = card.person if card is not None else None
    if card is None:
        decision, reason = Decision.DENY, Reason.UNKNOWN_CARD
    elif not card.active:
        decision, reason = Decision.DENY, Reason.INACTIVE_CARD
    elif card.valid_until is not None and card.valid_until <= delivery.received_at:
        decision, reason = Decision.DENY, Reason.EXPIRED_CARD
    else:
        decision, reason = Decision.OPEN, Reason.CARD
    entry = watched_id_number(delivery.city_id, person.id_number, delivery.received_at) if person else None
    if entry is not None:
        decision, reason = Decision.HIT, Reason.WATCHLIST
    event = do_record_access_event(
        delivery.compound,
        **delivery.event_fields(),
        kind=EventKind.CARD,
        decision=decision,
        reason=reason,
        card_no=card_no,
        person_id=person.pk if person is not None else None,
        watch_entry_id=entry.pk if entry is not None else None,
    )
    if entry is not None:
        _raise_watch_alert(delivery, event, entry.pk, Severity.HIGH, matched_by="card", similarity=None)
    name = mask_name(person.name) if person is not None and decision == Decision.OPEN else ""
    payload = _single_answer(event, display_name=name)
    _remember(delivery, payload)
    return payload


@transaction.atomic
def do_decide_plate(delivery: Delivery, plate: str) -> dict[str, Any]:
    """A plate read at a barrier (``plate`` normalised): open for a registered vehicle, watch-list first.

    A blocked plate of the city keeps the barrier down whoever owns the car and raises a
    high-severity alert; a key-area plate is decided by the registry as usual and raises a
    medium-severity alert (the officer wants to know it came, not to stop it).
    """
    vehicle = Vehicle.objects.filter(plate=plate).only("pk", "owner_id").first()
    entries = list(
        _live_entries(delivery.city_id, delivery.received_at)
        .filter(kind__in=[WatchKind.BLOCKED_PLATE, WatchKind.KEY_AREA_PLATE], plate=plate)
        .order_by("pk")
    )
    blocked = next((e for e in entries if e.kind == WatchKind.BLOCKED_PLATE), None)
    key_area = next((e for e in entries if e.kind == WatchKind.KEY_AREA_PLATE), None)
    entry = blocked or key_area
    if blocked is not None:
        decision, reason = Decision.DENY, Reason.BLOCKED_PLATE
    elif vehicle is not None:
        decision, reason = Decision.OPEN, Reason.RESIDENT_VEHICLE
    else:
        decision, reason = Decision.DENY, Reason.UNKNOWN_PLATE
    owner = vehicle.owner_id if vehicle is not None else None
    event = do_record_access_event(
        delivery.compound,
        **delivery.event_fields(),
        kind=EventKind.PLATE,
        decision=decision,
        reason=reason,
        plate=plate,
        person_id=owner,
        watch_entry_id=entry.pk if entry is not None else None,
    )
    if entry is not None:
        severity = Severity.HIGH if entry is blocked else Severity.MEDIUM
        _raise_watch_alert(delivery, event, entry.pk, severity, kind=PLATE_ALERT, plate=plate)
    payload = _single_answer(event)
    _remember(delivery, payload)
    return payload


# --- 实名闸: ID card and live face --------------------------------------------------------------


def _face_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a.astype(np.float32) - b.astype(np.float32)))


@transaction.atomic
def do_verify_identity(
    delivery: Delivery, id_number: str, live: FoundFace, reference: FoundFace | None, image: bytes
) -> dict[str, Any]:
    """实名闸: is the person at the gate the holder of this ID card, and are they watched?

    The live face is compared 1:1 with the ID card's photo when the device sent one, else with
    the faces enrolled for the registry person holding this ID number in the compound. The
    ID number and the live face are both checked against the city's wanted and key persons; a
    hit keeps the gate shut and raises a high-severity alert. One ``id_verify`` event records
    it, with the ID number masked (the public event table never holds it whole).
    """
    settings = current_settings(delivery.city_id)
    person = Person.objects.filter(id_number=id_number).only("pk", "name").first()
    distance: float | None = None
    source = ""
    if reference is not None:
        distance, source = _face_distance(live.encoding, reference.encoding), "id_photo"
    elif person is not None:
        rows = FaceTemplate.objects.filter(person=person, consent__withdrawn_at__isnull=True).values_list(
            "person_id", "encoding"
        )
        enrolled = FaceMatrix.build((0,), ((p, e, float("inf")) for p, e in rows))
        [match] = enrolled.match(live.encoding)
        if match is not None:
            distance, source = match.distance, "enrolled"
    verified = distance is not None and distance <= settings.face_tolerance
    entry = watched_id_number(delivery.city_id, id_number, delivery.received_at)
    by_face: Match | None = None
    if entry is None:
        [by_face] = watch_matrix(delivery.city_id, settings).match(live.encoding, at=delivery.received_at)
        if by_face is not None and by_face.distance > settings.face_tolerance:
            by_face = None
    entry_id = entry.pk if entry is not None else (by_face.owner if by_face is not None else None)
    if entry_id is not None:
        decision, reason = Decision.HIT, Reason.WATCHLIST
    elif delivery.liveness == Liveness.FAILED:
        decision, reason = Decision.DENY, Reason.LIVENESS_FAILED
    elif distance is None:
        decision, reason = Decision.DENY, Reason.NO_REFERENCE
    elif verified:
        decision, reason = Decision.OPEN, Reason.VERIFIED
    else:
        decision, reason = Decision.DENY, Reason.FACE_MISMATCH
    shared = delivery.event_fields()
    masked = mask_id_number(id_number)
    snapshot = save_snapshot(delivery.compound, image, shared["occurred_at"], suffix=snapshot_suffix(image))
    try:
        detail = {**shared["detail"], "id_number": masked, "registered": person is not None, "compared_with": source}
        if by_face is not None:
            detail["watch_similarity"] = _rounded(by_face.similarity)
        event = do_record_access_event(
            delivery.compound,
            **{**shared, "detail": detail},
            kind=EventKind.ID_VERIFY,
            decision=decision,
            reason=reason,
            person_id=person.pk if person is not None else None,
            watch_entry_id=entry_id,
            similarity=None if distance is None else 1.0 - distance,
            snapshot=snapshot,
        )
        if entry_id is not None:
            how = "id_number" if entry is not None else "face"
            similarity = _rounded(by_face.similarity) if by_face is not None else None
            _raise_watch_alert(delivery, event, entry_id, Severity.HIGH, matched_by=how, similarity=similarity)
        name = mask_name(person.name) if person is not None and decision == Decision.OPEN else ""
        payload = _single_answer(
            event,
            display_name=name,
            verified=verified,
            similarity=None if distance is None else _rounded(1.0 - distance),
            compared_with=source,
            registered=person is not None,
            id_number=masked,
        )
        _remember(delivery, payload)
    except BaseException:
        default_storage.delete(snapshot)
        raise
    return payload


# --- Sensor readings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One sensor reading, validated: its kind, which way (if the sensor knows) and bounded figures.

    ``figures`` becomes the event's ``detail``, in the shape the alert models read
    (``{"count": 37}``, ``{"ebike": true}``, ``{"occupied": true}``, ``{"motion": true}``,
    ``{"door": "open"}``; see ``alerts.detect_sensors`` and ``alerts.detect_time``).
    """

    kind: str
    occurred_at: datetime | None = None
    direction: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


@transaction.atomic
def do_record_readings(delivery: Delivery, readings: Sequence[Reading]) -> dict[str, Any]:
    """Record a sensor's readings (one event each, decision ``reported``); the alert engine reads them."""
    ids = []
    for reading in readings:
        shared = delivery.event_fields(reading.occurred_at)
        if reading.direction:
            shared["direction"] = reading.direction
        event = do_record_access_event(
            delivery.compound,
            **{**shared, "detail": {**shared["detail"], **reading.figures}},
            kind=EventKind.SENSOR,
            decision=Decision.REPORTED,
            reason=reading.kind,
        )
        ids.append(event.pk)
    payload = {"recorded": len(ids), "event_ids": ids}
    _remember(delivery, payload)
    return payload
