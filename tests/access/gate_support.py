"""Helpers of the gate tests: the shared photos (each encoded once per session), devices, enrolment.

Detecting and encoding a face takes ~0.3 s, so tests that do not exercise the HTTP pipeline
itself take the faces from :func:`faces_of` (cached for the whole session) and call the
actions of ``access.gate`` directly. Enrolment here writes the template from a cached encoding
with the consent recorded by ``access.actions.do_record_consent``; ``access.actions.
do_enrol_face`` (tested with its own module) would encode the photo again.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db.models import F
from django.utils import timezone
from django_tenants.utils import tenant_context
from PIL import Image
from rest_framework.test import APIClient

from access.actions import active_consent, do_create_device, do_record_consent
from access.choices import ConsentMethod, DeviceKind
from access.faces import FoundFace, decode, find_faces
from access.gate import Delivery
from access.models import AccessSettings, Device, FaceTemplate
from events.choices import WatchKind
from events.models import DeviceIndex, WatchlistEntry, WatchlistFace, WatchlistState
from registry.models import Person
from tenants.models import Compound

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/faces is not beside the project")

API = "/api/device/v1/"
FACE_URL = f"{API}decisions/face/"
CARD_URL = f"{API}decisions/card/"
PLATE_URL = f"{API}decisions/plate/"
IDENTITY_URL = f"{API}verify/identity/"
READINGS_URL = f"{API}readings/"
HEARTBEAT_URL = f"{API}heartbeat/"
SYSTEM = AnonymousUser()


@functools.cache
def photo(name: str) -> bytes:
    return (FACES / name).read_bytes()


@functools.cache
def faces_of(name: str) -> tuple[FoundFace, ...]:
    """The faces of a shared photo, left to right, found once per session."""
    return tuple(find_faces(decode(photo(name))))


def encoding_of(name: str) -> np.ndarray:
    [face] = faces_of(name)
    return face.encoding


def image_bytes(size: tuple[int, int], *, fmt: str = "PNG", mode: str = "RGB", colour: Any = (200, 200, 200)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, format=fmt)
    return out.getvalue()


class GateDevice:
    """A device of a compound: its compound row, its index row and the token it presents."""

    def __init__(self, compound: Compound, kind: str, direction: str = "in") -> None:
        with tenant_context(compound):
            self.local, secret = do_create_device(
                compound, name=f"测试{kind}", kind=kind, direction=direction, acting_user=SYSTEM
            )
        self.compound = compound
        self.index = DeviceIndex.objects.select_related("compound__street__parent").get(uid=self.local.uid)
        self.token = f"{self.local.uid}.{secret}"

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Device {self.token}")
        return client

    def delivery(self, **fields: Any) -> Delivery:
        """What the view would hand the actions (the caller runs them in the compound's schema)."""
        local = fields.pop("local", None) or Device.objects.get(pk=self.local.pk)
        return Delivery(
            compound=self.index.compound,
            device=self.index,
            local=local,
            received_at=fields.pop("received_at", timezone.now()),
            **fields,
        )


def make_device(compound: Compound, kind: str = DeviceKind.FACE_GATE, direction: str = "in") -> GateDevice:
    return GateDevice(compound, kind, direction)


def bump_face_version() -> None:
    AccessSettings.objects.get_or_create(pk=1)
    AccessSettings.objects.filter(pk=1).update(face_version=F("face_version") + 1)


def enrol(person: Person, encoding: np.ndarray) -> FaceTemplate:
    """A face template from an encoding (in the person's compound schema), consent recorded first."""
    staff, _created = get_user_model().objects.get_or_create(username="gate-enroller")
    consent = active_consent(person) or do_record_consent(
        person, method=ConsentMethod.WRITTEN, given_at=timezone.now(), acting_user=staff
    )
    template = FaceTemplate.objects.create(
        person=person, consent=consent, encoding=np.asarray(encoding, dtype=np.float32).tobytes()
    )
    bump_face_version()
    return template


def bump_watchlist(city_id: int) -> None:
    state, _created = WatchlistState.objects.get_or_create(city_id=city_id)
    WatchlistState.objects.filter(pk=state.pk).update(version=F("version") + 1)


def watch(
    city_id: int,
    *,
    kind: str = WatchKind.WANTED,
    encodings: tuple[np.ndarray, ...] = (),
    id_number: str = "",
    plate: str = "",
    name: str = "布控对象",
    expires_at: datetime | None = None,
) -> WatchlistEntry:
    """A watch-list entry of the city with its faces, and the city's version bumped (as its actions do)."""
    entry = WatchlistEntry.objects.create(
        city_id=city_id, kind=kind, name=name, id_number=id_number, plate=plate, expires_at=expires_at
    )
    for encoding in encodings:
        WatchlistFace.objects.create(entry=entry, encoding=np.asarray(encoding, dtype=np.float32).tobytes())
    bump_watchlist(city_id)
    return entry


def city_of(compound: Compound) -> int:
    return int(compound.street.parent.parent_id)
