"""Face matching: one float32 matrix product per gallery, galleries cached per process (DESIGN.md §5).

Two galleries answer a gate's capture:

- the compound's **residents**: every :class:`~access.models.FaceTemplate` of the compound's
  schema (consent not withdrawn), keyed by schema and ``AccessSettings.face_version``;
- the city's **watch-list**: every :class:`~events.models.WatchlistFace` of an active entry of
  kind wanted or key person of the compound's city, keyed by ``WatchlistState.version``.

Each process keeps the last matrix it built for every gallery and compares its version with the
version read from the database on every decision (one indexed row each). Every enrolment change
bumps ``face_version`` and every watch-list change bumps the city's version in the writing
transaction, so a template removed through one process stops opening gates in all of them at
their next decision. An entry's expiry passing bumps nothing: each watch-list row carries its
expiry, and rows past it are left out at decision time.

Distances are Euclidean, as ``face_recognition.face_distance`` computes them, through
``|a - b|² = |a|² + |b|² - 2 a·b`` with the gallery's squared norms precomputed: all faces of a
capture are matched with one ``(N × 128) @ (128 × k)`` product per gallery (100,000 encodings in
a few milliseconds, where ``face_distance`` takes ~80 ms). What we report:

- ``distance``: of the nearest encoding (0 identical; dlib's model separates people at ~0.6);
- ``similarity = 1 - distance`` (so 1 is identical and higher is better; the tolerance 0.5 is
  a similarity of 0.5);
- ``margin = second distance - best distance``, the second being the nearest encoding of a
  *different* person (or entry): how clearly the best candidate beats everyone else. ``None``
  when the gallery holds one person only.

A resident opens when ``distance <= face_tolerance`` and (with a second person in the gallery)
``margin >= face_margin``; see :func:`access.gate.decide_faces` for the rest of the decision.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import Func, IntegerField, Subquery, Value

from access.models import AccessSettings, FaceTemplate
from events.choices import WATCHED_PERSON_KINDS
from events.models import WatchlistFace, WatchlistState
from tenants.connection import tenant_connection

__all__ = [
    "DIMENSIONS",
    "FaceMatrix",
    "Match",
    "current_settings",
    "forget",
    "resident_matrix",
    "watch_matrix",
    "watch_version",
]

DIMENSIONS = 128
_ENCODING_BYTES = DIMENSIONS * 4
_NEVER = math.inf


@dataclass(frozen=True)
class Match:
    """The nearest gallery entry to one probe face, and how far the runner-up is."""

    owner: int  # a registry person id (residents) or a watch-list entry id
    distance: float
    second_distance: float | None  # nearest encoding of another owner; None if there is none

    @property
    def similarity(self) -> float:
        return 1.0 - self.distance

    @property
    def margin(self) -> float | None:
        return None if self.second_distance is None else self.second_distance - self.distance


@dataclass(frozen=True, eq=False)
class FaceMatrix:
    """A gallery as one float32 matrix: rows are encodings, ``owners[i]`` whose row ``i`` is.

    ``expires`` (watch-list only) holds each row's expiry in epoch seconds (``inf``: none).
    """

    version: tuple[int | None, ...]
    vectors: np.ndarray  # (N, 128) float32, C-contiguous
    squared_norms: np.ndarray  # (N,) float32
    owners: np.ndarray  # (N,) int64
    expires: np.ndarray | None = None  # (N,) float64
    names: dict[int, str] = field(default_factory=dict)  # owner → name (residents), for the gate's display

    @classmethod
    def build(
        cls,
        version: tuple[int | None, ...],
        rows: Iterable[tuple[int, bytes | memoryview, float]],
        *,
        with_expiry: bool = False,
    ) -> FaceMatrix:
        """From ``(owner, encoding bytes, expiry epoch)`` rows; malformed encodings are skipped."""
        owners: list[int] = []
        chunks: list[bytes] = []
        expiries: list[float] = []
        for owner, encoding, expires in rows:
            raw = bytes(encoding)
            if len(raw) != _ENCODING_BYTES:
                continue  # never written by our actions; one bad row must not stop every gate
            owners.append(owner)
            chunks.append(raw)
            expiries.append(expires)
        vectors = np.frombuffer(b"".join(chunks), dtype=np.float32).reshape(-1, DIMENSIONS).copy()
        return cls(
            version=version,
            vectors=vectors,
            squared_norms=np.einsum("ij,ij->i", vectors, vectors),
            owners=np.asarray(owners, dtype=np.int64),
            expires=np.asarray(expiries, dtype=np.float64) if with_expiry else None,
        )

    def __len__(self) -> int:
        return int(self.owners.shape[0])

    def match(self, probes: np.ndarray, *, at: datetime | None = None) -> list[Match | None]:
        """The best match of each probe (rows of ``probes``), in their order; None on an empty gallery.

        One matrix product for all probes. Rows expired at ``at`` (watch-list) take no part.
        """
        probes = np.ascontiguousarray(probes, dtype=np.float32).reshape(-1, DIMENSIONS)
        if len(self) == 0 or probes.shape[0] == 0:
            return [None] * probes.shape[0]
        # The one product, (N × 128) by (128 × k). NumPy's own single-threaded loop rather than
        # BLAS (``@``): OpenBLAS spreads a product this size over every core, which on a busy
        # server (two cores, every one already running a request) made it 3–10 times slower
        # than one thread, while alone it gains ~1 ms (docs/benchmarks.md, "Face gate").
        squared = np.einsum("ij,kj->ik", self.vectors, probes)
        squared *= -2.0
        squared += self.squared_norms[:, None]
        squared += np.einsum("ij,ij->i", probes, probes)[None, :]
        if self.expires is not None and at is not None:
            expired = self.expires <= at.timestamp()
            if expired.any():
                squared[expired, :] = np.inf
        return [self._best(squared[:, column]) for column in range(probes.shape[0])]

    def _best(self, squared: np.ndarray) -> Match | None:
        best = int(np.argmin(squared))
        if not math.isfinite(float(squared[best])):
            return None  # every row expired
        owner = int(self.owners[best])
        others = np.where(self.owners == owner, np.inf, squared)
        second = float(others.min())
        return Match(
            owner=owner,
            distance=_root(float(squared[best])),
            second_distance=_root(second) if math.isfinite(second) else None,
        )


def _root(squared: float) -> float:
    # Rounding can make |a|² + |b|² - 2ab slightly negative for identical vectors.
    return math.sqrt(max(squared, 0.0))


# --- The per-process cache ----------------------------------------------------------------------

# Residents' galleries kept per process, least recently used dropped first beyond this many
# bytes of encodings: a process serving every gate of a city would otherwise hold all of them
# (5,000 compounds × 1,000 faces × 512 B ≈ 2.5 GB). A dropped gallery is rebuilt on its next
# decision (~0.1 s for 5,000 faces).
RESIDENT_CACHE_BYTES = 256 * 1024 * 1024

_residents: OrderedDict[str, FaceMatrix] = OrderedDict()  # by schema name, most recent last
_watch: dict[int, FaceMatrix] = {}  # by city id
_guard = threading.Lock()
_loading: dict[object, threading.Lock] = {}


def _lock_for(key: object) -> threading.Lock:
    """One lock per gallery: concurrent first decisions build a gallery once, others are not held up."""
    with _guard:
        return _loading.setdefault(key, threading.Lock())


def forget() -> None:
    """Drop every cached matrix (tests; a process that must rebuild everything)."""
    with _guard:
        _residents.clear()
        _watch.clear()


def _cached_resident(schema: str, version: tuple[int | None, ...]) -> FaceMatrix | None:
    with _guard:
        cached = _residents.get(schema)
        if cached is None or cached.version != version:
            return None
        _residents.move_to_end(schema)
        return cached


def _keep_resident(schema: str, matrix: FaceMatrix) -> None:
    with _guard:
        _residents[schema] = matrix
        _residents.move_to_end(schema)
        total = sum(m.vectors.nbytes for m in _residents.values())
        while total > RESIDENT_CACHE_BYTES and len(_residents) > 1:
            _schema, dropped = _residents.popitem(last=False)
            total -= dropped.vectors.nbytes


def current_settings(city_id: int | None = None) -> AccessSettings:
    """The compound's access settings (the current schema's row pk 1, made with defaults if missing).

    One query, annotated with what names the galleries a decision needs: ``newest_template``
    (the highest face-template id, see :func:`resident_matrix`) and, given the compound's
    ``city_id``, ``watch_state`` and ``watch_version`` (the city's watch-list state, a public
    row, see :func:`watch_matrix`).
    """
    newest = FaceTemplate.objects.order_by("-pk").values("pk")[:1]
    # The count too: deleting a person in the registry cascades to their templates without the
    # enrolment actions (and their version bump) ever running.
    counted = FaceTemplate.objects.order_by().annotate(n=Func(Value(1), function="COUNT", output_field=IntegerField()))
    count = counted.values("n")[:1]
    annotations: dict[str, Any] = {"newest_template": Subquery(newest), "template_count": Subquery(count)}
    if city_id is not None:
        state = WatchlistState.objects.filter(city_id=city_id)
        annotations["watch_state"] = Subquery(state.values("pk")[:1])
        annotations["watch_version"] = Subquery(state.values("version")[:1])
    settings = AccessSettings.objects.annotate(**annotations).filter(pk=1).first()
    if settings is None:
        AccessSettings.objects.get_or_create(pk=1)
        settings = AccessSettings.objects.annotate(**annotations).get(pk=1)
    return settings


def resident_matrix(settings: AccessSettings) -> FaceMatrix:
    """The current compound's residents as of ``settings`` (from :func:`current_settings`).

    The gallery is named by ``(face_version, newest template id, number of templates)``; the count
    notices templates deleted by a cascade from the registry, which bumps no version. The version alone would do
    in a running system (it only grows); the id also tells apart two histories that reached the
    same version, one of them rolled back (ids are never reused) or a compound made again.
    The caller reads the settings first: templates loaded afterwards are at least that new, so
    a matrix is never filed under a name newer than its rows. The matrix also holds each
    person's name (``names``), for the masked name a gate displays.
    """
    version = (
        settings.face_version,
        getattr(settings, "newest_template", None),
        getattr(settings, "template_count", None),
    )
    schema = tenant_connection().schema_name
    cached = _cached_resident(schema, version)
    if cached is not None:
        return cached
    with _lock_for(("residents", schema)):
        cached = _cached_resident(schema, version)
        if cached is not None:
            return cached
        rows = list(
            FaceTemplate.objects.filter(consent__withdrawn_at__isnull=True)
            .order_by("pk")
            .values_list("person_id", "encoding", "person__name")
            .iterator(2000)
        )
        matrix = FaceMatrix.build(version, ((person, encoding, _NEVER) for person, encoding, _name in rows))
        matrix.names.update((person, name) for person, _encoding, name in rows)
        _keep_resident(schema, matrix)
        return matrix


def watch_version(city_id: int) -> tuple[int | None, ...]:
    """The name of the city's watch-list gallery: its state row and version (``(None, 0)`` before any entry).

    The row's id tells apart a state made again after a rollback, as for residents.
    """
    state = WatchlistState.objects.filter(city_id=city_id).values_list("pk", "version").first()
    return (state[0], int(state[1])) if state is not None else (None, 0)


def watch_matrix(city_id: int, settings: AccessSettings | None = None) -> FaceMatrix:
    """The faces of the city's active wanted and key persons, at the city's current version.

    The version comes from ``settings`` when they were read with this ``city_id`` (no query),
    else from the database.
    """
    if settings is not None and hasattr(settings, "watch_version"):
        state = getattr(settings, "watch_state", None)
        version: tuple[int | None, ...] = (state, int(settings.watch_version or 0)) if state else (None, 0)
    else:
        version = watch_version(city_id)
    cached = _watch.get(city_id)
    if cached is not None and cached.version == version:
        return cached
    with _lock_for(("watch", city_id)):
        cached = _watch.get(city_id)
        if cached is not None and cached.version == version:
            return cached
        rows = (
            WatchlistFace.objects.filter(
                entry__city_id=city_id, entry__active=True, entry__kind__in=sorted(WATCHED_PERSON_KINDS)
            )
            .order_by("pk")
            .values_list("entry_id", "encoding", "entry__expires_at")
        )
        matrix = FaceMatrix.build(
            version,
            (
                (entry, encoding, expires.timestamp() if expires is not None else _NEVER)
                for entry, encoding, expires in rows.iterator(2000)
            ),
            with_expiry=True,
        )
        _watch[city_id] = matrix
        return matrix
