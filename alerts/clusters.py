"""Stranger faces seen before: who is "the same unregistered face", by one float32 matrix product.

**The contract with the gate.** A face event of a stranger (see :func:`stranger_q`) carries its
face's 128-d encoding in ``detail["encoding"]``: the base64 (standard alphabet, padded) of 128
little-endian float32 values, 512 bytes, as ``access.faces`` computes them. An event without it
(or with a malformed one) still raises the stranger alert; it only takes no part in the
patterns over days (night entries, group renting, frequent visitors).

**Same face.** Two encodings are the same face when their Euclidean distance is at most
:data:`TOLERANCE` (0.5, the gate's own default). A face's *cluster* is every stranger encoding
within the tolerance of it (a ball around the newest face, not a chain: a chain of look-alikes
would merge different people). For counting *distinct* faces at a door, faces are grouped by
:func:`leader_clusters` — each face joins the first earlier leader within the tolerance, or
leads a new group.

**Bounds.** The history is read newest first and cut at :data:`MAX_COMPOUND_FACES` per compound
(:data:`MAX_DOOR_FACES` per door, where an n×n product is needed), so an evaluation stays a few
milliseconds whatever the compound's traffic; older faces beyond the cut are not seen.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from django.db.models import BinaryField, F, Func, Q, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Length

from events.choices import Decision, EventKind
from events.models import AccessEvent

__all__ = [
    "ENCODING_BYTES",
    "ENCODING_PATTERN",
    "MAX_COMPOUND_FACES",
    "MAX_DOOR_FACES",
    "NOT_STRANGER_REASONS",
    "TOLERANCE",
    "Faces",
    "decode_encoding",
    "distinct_days",
    "encode_encoding",
    "is_stranger",
    "leader_clusters",
    "load_strangers",
    "stranger_q",
]

TOLERANCE = 0.5
ENCODING_BYTES = 128 * 4
MAX_COMPOUND_FACES = 5000
# 128 float32 = 512 bytes = 684 base64 characters, the last one padding (PostgreSQL's regular
# expressions repeat at most 255 times: the length is checked apart).
ENCODING_PATTERN = r"^[A-Za-z0-9+/]+=$"
ENCODING_CHARS = 684
MAX_DOOR_FACES = 1000
# Denied faces that are not strangers: a spoof (the device's liveness check failed) may show a
# resident's photo, and an ambiguous face is close to two residents — both are residents' faces.
NOT_STRANGER_REASONS = frozenset({"liveness_failed", "ambiguous"})


def is_stranger(event: AccessEvent) -> bool:
    """A face at a gate that matched nobody: denied, no resident, no watch-list entry, no visitor pass."""
    return (
        event.kind == EventKind.FACE
        and event.decision == Decision.DENY
        and event.person_id is None
        and event.watch_entry_id is None
        and event.visitor_pass_id is None
        and event.reason not in NOT_STRANGER_REASONS
    )


def stranger_q() -> Q:
    """:func:`is_stranger` as a filter on ``AccessEvent``."""
    return Q(
        kind=EventKind.FACE,
        decision=Decision.DENY,
        person_id__isnull=True,
        watch_entry__isnull=True,
        visitor_pass_id__isnull=True,
    ) & ~Q(reason__in=sorted(NOT_STRANGER_REASONS))


def decode_encoding(value: Any) -> np.ndarray | None:
    """The float32 vector of ``detail["encoding"]``, or None if it is missing or malformed."""
    if not isinstance(value, str) or len(value) > 1024:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != ENCODING_BYTES:
        return None
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return vector if bool(np.isfinite(vector).all()) else None


def encode_encoding(vector: np.ndarray) -> str:
    """``detail["encoding"]`` of a 128-d encoding (what the gate stores; tests use it too)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


@dataclass
class Faces:
    """Stranger faces of a period, newest first: their events and one float32 matrix."""

    event_ids: list[int]
    times: list[datetime]
    device_ids: list[int | None]
    directions: list[str]
    matrix: np.ndarray  # (n, 128) float32
    norms: np.ndarray  # (n,) squared norms

    def __len__(self) -> int:
        return len(self.event_ids)

    def near(self, vector: np.ndarray, tolerance: float = TOLERANCE) -> list[int]:
        """Positions of the faces within ``tolerance`` of ``vector`` (one matrix-vector product)."""
        if not self.event_ids:
            return []
        squared = self.norms + float(vector @ vector) - 2.0 * (self.matrix @ vector)
        return np.flatnonzero(squared <= tolerance * tolerance).tolist()

    def subset(self, positions: list[int]) -> Faces:
        return Faces(
            [self.event_ids[i] for i in positions],
            [self.times[i] for i in positions],
            [self.device_ids[i] for i in positions],
            [self.directions[i] for i in positions],
            self.matrix[positions],
            self.norms[positions],
        )


def load_strangers(
    compound_id: int,
    *,
    since: datetime,
    until: datetime,
    device_ids: list[int] | None = None,
    limit: int = MAX_COMPOUND_FACES,
) -> Faces:
    """The compound's stranger faces with an encoding in ``[since, until]``, newest first, at most ``limit``.

    One query on ``event_person_time`` (compound, person_id IS NULL, time) — or on
    ``event_device_time`` when ``device_ids`` narrows it to some doors.
    """
    rows = AccessEvent.objects.annotate(
        encoding_text=KeyTextTransform("encoding", "detail"), encoding_length=Length("encoding_text")
    ).filter(
        stranger_q(),
        compound_id=compound_id,
        occurred_at__gte=since,
        occurred_at__lte=until,
        # Exactly 512 bytes in padded base64: PostgreSQL's decode() below cannot fail on these.
        encoding_length=ENCODING_CHARS,
        encoding_text__regex=ENCODING_PATTERN,
    )
    if device_ids is not None:
        rows = rows.filter(device_id__in=device_ids)
    # Decoded by the database (C) rather than 5,000 base64 calls here: the rows arrive as bytes.
    values = list(
        rows.annotate(raw=Func(F("encoding_text"), Value("base64"), function="decode", output_field=BinaryField()))
        .order_by("-occurred_at", "-id")
        .values_list("id", "occurred_at", "device_id", "direction", "raw")[:limit]
    )
    if not values:
        return Faces([], [], [], [], np.zeros((0, 128), dtype=np.float32), np.zeros(0, dtype=np.float32))
    matrix = np.frombuffer(b"".join(bytes(row[4]) for row in values), dtype="<f4").reshape(len(values), 128)
    finite = np.isfinite(matrix).all(axis=1)
    keep = [i for i in range(len(values)) if finite[i]]
    matrix = np.ascontiguousarray(matrix[keep], dtype=np.float32)
    return Faces(
        [values[i][0] for i in keep],
        [values[i][1] for i in keep],
        [values[i][2] for i in keep],
        [values[i][3] for i in keep],
        matrix,
        np.einsum("ij,ij->i", matrix, matrix),
    )


def leader_clusters(faces: Faces, tolerance: float = TOLERANCE) -> list[list[int]]:
    """Group the faces (positions), oldest first: each joins the first leader within ``tolerance``.

    One n×n product (n ≤ :data:`MAX_DOOR_FACES`), then a pass over the leaders.
    """
    n = len(faces)
    if n == 0:
        return []
    squared = faces.norms[:, None] + faces.norms[None, :] - 2.0 * (faces.matrix @ faces.matrix.T)
    close = squared <= tolerance * tolerance
    unassigned = np.ones(n, dtype=bool)
    groups: list[list[int]] = []
    for leader in range(n - 1, -1, -1):  # newest first in ``faces``: walk from the oldest
        if not unassigned[leader]:
            continue
        members = np.flatnonzero(close[leader] & unassigned)
        unassigned[members] = False
        groups.append(members.tolist())
    return groups


def distinct_days(times: list[datetime], day: Any) -> set[date]:
    """The distinct days (``day(t)``: local date, night…) of ``times``."""
    return {day(t) for t in times}
