"""Face matching: one matrix product per gallery, best and runner-up, and the per-process cache.

The matrix arithmetic is checked against plain NumPy distances on random encodings; the
decision table of ``access.gate.decide_faces`` on constructed matches. The cache is proven
across two processes: a second Python process matches against the compound while this one
removes and re-enrols a face. That needs committed data, so ``db`` commits in this module
(``committed_db``); the compound is made and dropped by ``fresh_compound``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import tenant_context

from access.actions import do_remove_face
from access.faces import FoundFace
from access.gate import Liveness, decide_faces
from access.matching import FaceMatrix, Match
from access.models import AccessSettings
from district.models import AuditEntry
from tests.access.gate_support import SYSTEM, encoding_of, enrol, needs_faces
from tests.factories import PersonFactory

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(20261201)


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


def gallery(owners: list[int], *, expires: list[float] | None = None) -> tuple[FaceMatrix, np.ndarray]:
    vectors = RNG.normal(0, 0.1, size=(len(owners), 128)).astype(np.float32)
    times = expires or [float("inf")] * len(owners)
    rows = [(o, v.tobytes(), t) for o, v, t in zip(owners, vectors, times, strict=True)]
    return FaceMatrix.build((1,), rows, with_expiry=expires is not None), vectors


def reference(vectors: np.ndarray, owners: list[int], probe: np.ndarray) -> tuple[int, float, float | None]:
    """The best owner, its distance and the nearest other owner's distance, the slow way."""
    distances = np.linalg.norm(vectors.astype(np.float64) - probe, axis=1)
    best = int(np.argmin(distances))
    others = [d for d, o in zip(distances, owners, strict=True) if o != owners[best]]
    return owners[best], float(distances[best]), (float(min(others)) if others else None)


def test_distances_best_and_runner_up_of_another_person_match_the_slow_way():
    owners = [1, 1, 2, 2, 3, 4, 5, 5, 5]
    matrix, vectors = gallery(owners)
    # Probes near row 0 (person 1, whose second row must not count as runner-up) and elsewhere.
    probes = np.stack([vectors[0] + 0.01, vectors[4], RNG.normal(0, 0.1, 128)]).astype(np.float32)

    matches = matrix.match(probes)

    for probe, found in zip(probes, matches, strict=True):
        owner, distance, second = reference(vectors, owners, probe)
        assert found is not None and found.owner == owner
        assert found.distance == pytest.approx(distance, abs=1e-4)
        assert found.second_distance == pytest.approx(second, abs=1e-4)
        assert found.similarity == pytest.approx(1 - distance, abs=1e-4)
        assert found.margin == pytest.approx(second - distance, abs=1e-4)


def test_a_gallery_of_one_person_has_no_margin_and_an_empty_one_no_match():
    matrix, vectors = gallery([7, 7])
    [found] = matrix.match(vectors[1])
    assert (found.owner, found.second_distance, found.margin) == (7, None, None)
    assert found.distance == pytest.approx(0.0, abs=1e-3)  # rounding never makes it NaN
    empty = FaceMatrix.build((0,), [])
    assert empty.match(np.zeros((2, 128), np.float32)) == [None, None]


def test_expired_rows_take_no_part_and_malformed_rows_are_skipped():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    matrix, vectors = gallery([1, 2], expires=[now.timestamp() - 1, float("inf")])
    [found] = matrix.match(vectors[0], at=now)
    assert found is not None and found.owner == 2  # row 0 is nearer, but expired
    [before] = matrix.match(vectors[0], at=now - timedelta(seconds=5))
    assert before is not None and before.owner == 1

    only_expired, only = gallery([3], expires=[now.timestamp() - 1])
    assert only_expired.match(only[0], at=now) == [None]

    broken = FaceMatrix.build((1,), [(1, b"\x00" * 100, float("inf")), (2, vectors[1].tobytes(), float("inf"))])
    assert len(broken) == 1 and broken.owners.tolist() == [2]


def test_a_hundred_thousand_encodings_are_matched_in_one_product_quickly():
    owners = np.arange(100_000) // 2
    vectors = RNG.normal(0, 0.1, size=(100_000, 128)).astype(np.float32)
    matrix = FaceMatrix(
        version=(1,),
        vectors=vectors,
        squared_norms=np.einsum("ij,ij->i", vectors, vectors),
        owners=owners.astype(np.int64),
    )
    probe = vectors[12_345] + 0.001
    matrix.match(probe)  # warm up BLAS
    started = time.perf_counter()
    [found] = matrix.match(probe)
    elapsed = time.perf_counter() - started
    assert found is not None and found.owner == 12_345 // 2
    assert elapsed < 0.1  # ~3–8 ms here; generous for a loaded machine (bench/face_gate.py measures)


# --- The decision table ------------------------------------------------------------------------------

FACE = FoundFace(box=(0, 10, 10, 0), encoding=np.zeros(128, np.float32))
SETTINGS = AccessSettings(face_tolerance=0.5, face_margin=0.04)


@pytest.mark.parametrize(
    ("resident", "watched", "liveness", "expected"),
    [
        (Match(1, 0.35, 0.80), None, "", ("open", "resident", 1)),
        (Match(1, 0.35, None), None, "", ("open", "resident", 1)),  # the only enrolled person
        (Match(1, 0.35, 0.37), None, "", ("deny", "ambiguous", None)),  # margin 0.02 < 0.04
        (Match(1, 0.55, 0.90), None, "", ("deny", "unknown_face", None)),
        (None, None, "", ("deny", "unknown_face", None)),
        (Match(1, 0.35, 0.80), None, Liveness.FAILED, ("deny", "liveness_failed", None)),
        (Match(1, 0.35, 0.80), Match(9, 0.40, None), "", ("hit", "watchlist", 1)),
        (None, Match(9, 0.40, 0.45), Liveness.FAILED, ("hit", "watchlist", None)),
        (Match(1, 0.35, 0.80), Match(9, 0.51, None), "", ("open", "resident", 1)),  # watch-list beyond tolerance
    ],
)
def test_the_decision_table(resident, watched, liveness, expected):
    [result] = decide_faces([FACE], [resident], [watched], SETTINGS, liveness)
    assert (result.decision, result.reason, result.person_id) == expected
    if expected[0] == "hit":
        assert result.watch_entry_id == 9 and result.similarity == pytest.approx(1 - watched.distance)


# --- The cache across processes ------------------------------------------------------------------------

MATCHER = """
import json, sys
import django
django.setup()
import numpy as np
from django.db import connection
from access.matching import current_settings, resident_matrix
for line in sys.stdin:
    schema, encoding = line.split()
    connection.set_schema(schema)
    matrix = resident_matrix(current_settings())
    [found] = matrix.match(np.frombuffer(bytes.fromhex(encoding), dtype=np.float32))
    connection.set_schema_to_public()
    print(json.dumps({"owner": found.owner if found else None, "matrix": id(matrix)}), flush=True)
"""


@pytest.fixture
def enroller(fresh_compound: Any) -> Any:
    """The staff account ``gate_support.enrol`` records consent as (committed; removed after)."""
    user = get_user_model().objects.create(username="gate-enroller")
    yield user
    # Its consents live in the compound's schema: delete it from there (SET_NULL reaches them).
    with tenant_context(fresh_compound):
        AuditEntry.objects.filter(user=user).delete()
        user.delete()


@needs_faces
def test_a_face_removed_in_one_process_stops_matching_in_another(fresh_compound, enroller, test_database_url):
    probe = encoding_of("probe/obama2.jpg").astype(np.float32).tobytes().hex()
    with tenant_context(fresh_compound):
        person = PersonFactory(name="两进程")
        template = enrol(person, encoding_of("enroll/obama.jpg"))
    env = {**os.environ, "DATABASE_URL": test_database_url, "DJANGO_SETTINGS_MODULE": "district.settings"}
    matcher = subprocess.Popen(
        [sys.executable, "-c", MATCHER], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def ask() -> dict[str, Any]:
        assert matcher.stdin is not None and matcher.stdout is not None
        matcher.stdin.write(f"{fresh_compound.schema_name} {probe}\n")
        matcher.stdin.flush()
        return json.loads(matcher.stdout.readline())

    try:
        first, again = ask(), ask()
        assert first["owner"] == person.pk
        assert again["matrix"] == first["matrix"]  # cached: nothing changed, nothing reloaded
        with tenant_context(fresh_compound):
            do_remove_face(template, acting_user=SYSTEM)
        assert ask()["owner"] is None  # the other process's next decision already misses it
        with tenant_context(fresh_compound):
            enrol(person, encoding_of("enroll/obama.jpg"))
        assert ask()["owner"] == person.pk
    finally:
        assert matcher.stdin is not None
        matcher.stdin.close()
        matcher.wait(timeout=30)
