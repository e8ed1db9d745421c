"""Gate decision latency over HTTP against the bare face_recognition pipeline (issue #9).

Run from the project root::

    .venv/bin/python bench/face_gate.py                 # 5,000 residents, 100,000 watch-list faces, 50 requests
    .venv/bin/python bench/face_gate.py --requests 20 --watch 20000
    .venv/bin/python bench/face_gate.py --keep          # keep smartpolice_face_gate for inspection

It needs no preparation: it drops and creates its own database ``smartpolice_face_gate`` on
the server of ``$DATABASE_URL`` (127.0.0.1:5432 when unset; never the database named there),
migrates it, makes one compound with ``--residents`` enrolled residents (random float32
encodings, plus Obama's real one from ``../shared/faces/enroll/obama.jpg``) and a city
watch-list of ``--watch`` faces (random encodings, four per entry), adds a face gate, and
starts ``daphne`` on a free port of 127.0.0.1. The capture is ``probe/obama_480p.jpg``
centre-cropped to 640×480 (JPEG, quality 90). Then, ``--requests`` times, interleaved so that
the machine's load weighs on each alike:

* one gate decision over HTTP (``POST /api/device/v1/decisions/face/``, multipart, keep-alive):
  the gate's whole path (credential, decode, detect, encode, two matrix products, snapshot,
  events and their jobs, the answer); every answer must open the door for Obama;
* the bare ``face_recognition`` pipeline on the same bytes in this process:
  ``load_image_file`` + ``face_locations`` (HOG, upsample 1, as the gate) + ``face_encodings``;
* the same decision in this process without HTTP (decode, detect, ``do_decide_capture``), to
  tell the server's overhead from the pipeline's.

Finally the match alone: the watch-list gallery as the gate caches it, one probe, 200 times.
The last line of output is JSON starting ``{"decision_ms_p50": …, "decision_ms_p95": …,
"bare_ms_p50": …, "ratio": …, "match_100k_ms": …}``. Results are written up in
docs/benchmarks.md ("Face gate decisions").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/ is not a package: its scripts import each other from their folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import ROOT, database_urls, drop_database, recreate_database, use_bench_database
from load import Server, manage, percentile_ms

BENCH_DB = "smartpolice_face_gate"
FACES = ROOT.parent / "shared" / "faces"
FACES_PER_ENTRY = 4
# Matching alone takes milliseconds: many samples, so that the median shrugs off the machine's noise.
MATCH_REPEATS = 200
# A compound code of its own: the server files its snapshots under MEDIA_ROOT/access/<code>/,
# which the bench removes at the end.
CITY, DISTRICT, STREET, COMPOUND = "370100", "370102", "370102099", "370102099901"


def capture_640x480() -> bytes:
    """``probe/obama_480p.jpg`` (853×480) centre-cropped to 640×480, as a gate camera frames it."""
    from PIL import Image

    image = Image.open(FACES / "probe" / "obama_480p.jpg").convert("RGB")
    left = (image.width - 640) // 2
    image = image.crop((left, 0, left + 640, 480))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def random_encodings(n: int, seed: int) -> Any:
    """Encodings shaped like dlib's (128 float32, norm ≈ 1), far from any real face."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.09, size=(n, 128)).astype(np.float32)


def populate(residents: int, watched: int) -> dict[str, Any]:
    """The area tree, one compound with enrolled residents, the city watch-list and a face gate."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from access.actions import do_create_device
    from access.choices import ConsentMethod, DeviceKind
    from access.faces import encode_one
    from access.models import AccessSettings, BiometricConsent, FaceTemplate
    from district.models import Area
    from events.choices import WatchKind
    from events.models import WatchlistEntry, WatchlistFace, WatchlistState
    from registry.models import Person
    from tenants.actions import do_create_compound

    city = Area.objects.create(level="city", code=CITY, name="济南市")
    district = Area.objects.create(level="district", code=DISTRICT, name="历下区", parent=city)
    street = Area.objects.create(level="street", code=STREET, name="解放路街道", parent=district)
    compound = do_create_compound(street=street, name="基准小区", code=COMPOUND)
    staff = get_user_model().objects.create(username="bench-staff")
    obama, _image = encode_one((FACES / "enroll" / "obama.jpg").read_bytes())
    now = timezone.now()
    with tenant_context(compound):
        people = Person.objects.bulk_create(
            [Person(name=f"居民{i}", id_number=f"B{i:017d}") for i in range(residents)], batch_size=2000
        )
        consents = BiometricConsent.objects.bulk_create(
            [BiometricConsent(person=p, method=ConsentMethod.WRITTEN, given_at=now, recorded_by=staff) for p in people],
            batch_size=2000,
        )
        vectors = random_encodings(residents, seed=1)
        vectors[0] = obama.encoding
        FaceTemplate.objects.bulk_create(
            [
                FaceTemplate(person=p, consent=c, encoding=v.tobytes())
                for p, c, v in zip(people, consents, vectors, strict=True)
            ],
            batch_size=2000,
        )
        AccessSettings.objects.update_or_create(pk=1, defaults={"face_version": 1})
        device, secret = do_create_device(
            compound, name="南门人脸闸", kind=DeviceKind.FACE_GATE, direction="in", acting_user=AnonymousUser()
        )
    entries = WatchlistEntry.objects.bulk_create(
        [
            WatchlistEntry(city=city, kind=WatchKind.WANTED, name=f"布控{i}")
            for i in range(-(-watched // FACES_PER_ENTRY))
        ],
        batch_size=5000,
    )
    watch_vectors = random_encodings(watched, seed=2)
    for start in range(0, watched, 10_000):
        WatchlistFace.objects.bulk_create(
            [
                WatchlistFace(entry=entries[i // FACES_PER_ENTRY], encoding=watch_vectors[i].tobytes())
                for i in range(start, min(start + 10_000, watched))
            ]
        )
    WatchlistState.objects.create(city=city, version=1)
    return {"compound": compound, "token": f"{device.uid}.{secret}", "obama_id": people[0].pk, "city_id": city.pk}


def bare_pipeline(data: bytes) -> float:
    """face_recognition on its own: load, detect (HOG, upsample 1), encode; seconds."""
    import face_recognition

    started = time.perf_counter()
    image = face_recognition.load_image_file(io.BytesIO(data))
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    encodings = face_recognition.face_encodings(image, known_face_locations=boxes)
    elapsed = time.perf_counter() - started
    assert len(encodings) == 1, "the bare pipeline must find Obama's face"
    return elapsed


def in_process(world: dict[str, Any], data: bytes) -> float:
    """The gate's decision without HTTP: decode, detect and encode, decide and record; seconds."""
    from django.db import connection
    from django.utils import timezone

    from access import gate
    from access.faces import decode, find_faces
    from access.models import Device
    from events.models import DeviceIndex

    uid = world["token"].split(".", 1)[0]
    started = time.perf_counter()
    connection.set_tenant(world["compound"])
    try:
        index = DeviceIndex.objects.select_related("compound__street__parent").get(uid=uid)
        delivery = gate.Delivery(
            compound=index.compound,
            device=index,
            local=Device.objects.get(uid=uid),
            received_at=timezone.now(),
        )
        answer = gate.do_decide_capture(delivery, find_faces(decode(data)), data)
    finally:
        connection.set_schema_to_public()
    elapsed = time.perf_counter() - started
    assert answer["open"], answer
    return elapsed


def match_only(world: dict[str, Any], data: bytes, repeats: int) -> tuple[float, int]:
    """Median seconds of matching one face against the cached watch-list gallery, and its size."""
    from django.utils import timezone

    from access.faces import decode, find_faces
    from access.matching import watch_matrix

    matrix = watch_matrix(world["city_id"])
    [face] = find_faces(decode(data))
    now = timezone.now()
    matrix.match(face.encoding, at=now)  # warm up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        matrix.match(face.encoding, at=now)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), len(matrix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--residents", type=int, default=5000, help="enrolled residents (default 5000)")
    parser.add_argument("--watch", type=int, default=100_000, help="watch-list encodings (default 100000)")
    parser.add_argument("--requests", type=int, default=50, help="decisions measured (default 50)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    if args.residents < 1 or args.watch < 1 or args.requests < 5:
        parser.error("--residents and --watch must be positive, --requests at least 5")
    if not FACES.is_dir():
        sys.exit(f"{FACES} is missing: the bench needs the shared photos")

    maintenance_url, bench_url = database_urls(BENCH_DB)
    env = use_bench_database(bench_url)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_start = os.getloadavg()[0]

    recreate_database(maintenance_url, BENCH_DB)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-face-gate-"))
    media = log_dir / "media"
    server: Server | None = None
    try:
        started = time.monotonic()
        manage(env, "migrate_all", "-v0")
        import django

        django.setup()
        import logging

        import httpx
        from django.conf import settings

        logging.getLogger("httpx").setLevel(logging.WARNING)
        settings.MEDIA_ROOT = media  # this process's snapshots too, out of the project
        world = populate(args.residents, args.watch)
        print(
            f"Migrated and enrolled {args.residents} residents and {args.watch} watch-list faces "
            f"in {time.monotonic() - started:.1f} s; starting daphne",
            flush=True,
        )
        server = Server(env, log_dir / "daphne.log")
        server.wait_until_healthy()
        data = capture_640x480()
        headers = {"Authorization": f"Device {world['token']}"}
        http, bare, local = [], [], []
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:

            def decide() -> float:
                began = time.perf_counter()
                answer = client.post("/api/device/v1/decisions/face/", files={"image": ("capture.jpg", data)})
                elapsed = time.perf_counter() - began
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["open"] and body["results"][0]["person_id"] == world["obama_id"], body
                return elapsed

            # Warm up: the server's first decision loads dlib's models and both galleries.
            began = time.perf_counter()
            decide()
            first_s = time.perf_counter() - began
            for _ in range(3):
                decide()
                bare_pipeline(data)
                in_process(world, data)
            print(f"First decision (models and galleries loaded): {first_s:.2f} s; measuring …", flush=True)
            for _ in range(args.requests):
                http.append(decide())
                bare.append(bare_pipeline(data))
                local.append(in_process(world, data))
        match_s, gallery = match_only(world, data, MATCH_REPEATS)
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            drop_database(maintenance_url, BENCH_DB)
        # The server's snapshots (its MEDIA_ROOT is the project's media/), and this process's.
        shutil.rmtree(ROOT / "media" / "access" / COMPOUND, ignore_errors=True)
        shutil.rmtree(media, ignore_errors=True)

    p50, p95 = percentile_ms(http, 50), percentile_ms(http, 95)
    bare_p50, local_p50 = percentile_ms(bare, 50), percentile_ms(local, 50)
    rows = [
        ("machine", f"{os.cpu_count()} CPUs, load {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end"),
        ("gallery", f"{args.residents} residents, {gallery} watch-list faces; capture 640×480 JPEG ({len(data)} B)"),
        ("first decision (cold)", f"{first_s * 1000:.0f} ms"),
        ("decision over HTTP p50 / p95", f"{p50:.1f} / {p95:.1f} ms ({args.requests} requests)"),
        ("bare face_recognition p50", f"{bare_p50:.1f} ms"),
        ("ratio (HTTP p50 / bare p50)", f"{p50 / bare_p50:.3f} (goal ≤ 1.15)"),
        ("same decision in process p50", f"{local_p50:.1f} ms (HTTP and daphne: {p50 - local_p50:+.1f} ms)"),
        ("match one face, 100k watch-list", f"{match_s * 1000:.2f} ms (goal ≤ 10 ms)"),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    figures = {
        "decision_ms_p50": round(p50, 1),
        "decision_ms_p95": round(p95, 1),
        "bare_ms_p50": round(bare_p50, 1),
        "ratio": round(p50 / bare_p50, 3),
        "match_100k_ms": round(match_s * 1000, 2),
        "bare_ms_p95": round(percentile_ms(bare, 95), 1),
        "in_process_ms_p50": round(local_p50, 1),
        "first_decision_ms": round(first_s * 1000),
        "requests": args.requests,
        "residents": args.residents,
        "watch_faces": gallery,
        "capture_bytes": len(data),
        "cpus": os.cpu_count(),
        "load_start": round(load_start, 2),
        "python": platform.python_version(),
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
