"""Sustained concurrent load against a real ASGI server: requests/s, latency, 5xx, database connections.

Run from the project root::

    .venv/bin/python bench/load.py                    # 64 clients for 30 s, then 30 s idle
    .venv/bin/python bench/load.py --clients 16 --duration 10 --idle-wait 5
    .venv/bin/python bench/load.py --keep             # keep smartpolice_load for inspection

It needs no preparation: it drops and creates its own database ``smartpolice_load`` on the
server of ``$DATABASE_URL`` (127.0.0.1:5432 when unset; never the database named there),
migrates it (``migrate_all``), seeds a small demo city (``seed_demo --compounds 2``, which also
creates the demo logins of every role), and starts ``daphne`` on a free port of 127.0.0.1. Then,
for ``--duration`` seconds:

* ``--clients`` concurrent HTTP clients (keep-alive, one connection each): half anonymous, on
  ``/healthz`` and ``/login/``; half signed in, spread over the demo roles, on the home page, the
  compound API, and the compound pages and registry API of a compound in the role's scope
  (each path is probed once first; paths a role may not use are left out and listed);
* one prober asking ``/healthz`` every 100 ms, whose latency is reported on its own;
* a sampler counting the bench database's connections (``pg_stat_activity``) every 0.5 s,
  from the server's ``postgres`` database so that it does not count itself.

After the load it keeps sampling for ``--idle-wait`` seconds and reports the connections still
open (they should be the pool's, not one per request served). daphne's memory (RSS) is read
before and after. The server and the database are removed at the end, also on Ctrl-C.

The last line of output is JSON starting ``{"clients": 64, "requests": …, "errors_5xx": …,
"peak_connections": …, "idle_after_s30": …, "healthz_p99_ms": …}``. Results are written up in
docs/benchmarks.md ("Sustained load and database connections").
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchdb import ROOT, database_urls, drop_database, recreate_database, use_bench_database

LOAD_DB = "smartpolice_load"
VENV_BIN = Path(sys.executable).parent
SEED_ARGS = ["--compounds", "2", "--persons-per-compound", "30"]
SERVER_START_TIMEOUT = 60.0
PROBE_INTERVAL = 0.1
SAMPLE_INTERVAL = 0.5
# A request slower than this counts as a transport error: far beyond any sane page time, but
# short enough that a wedged server ends the run instead of hanging it.
REQUEST_TIMEOUT = 30.0
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> None:
    """``manage.py`` on the load database; its output is shown only if it fails."""
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


class Server:
    """A daphne subprocess in a session of its own, stopped however the bench ends.

    Its own session: a Ctrl-C in the terminal reaches only the bench, which then stops daphne
    itself (SIGTERM, SIGKILL after 10 s); ``atexit`` covers an exit that skips ``finally``.
    """

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "district.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def rss_mb(self) -> float:
        import psutil

        return float(psutil.Process(self.process.pid).memory_info().rss) / 2**20

    def wait_until_healthy(self) -> None:
        """Poll ``/healthz`` until it answers 200; give up early if daphne exits."""
        import httpx

        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"daphne exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            # Waiting for a process to start listening: a short poll.
            time.sleep(0.2)
        sys.exit(f"daphne did not answer /healthz within {SERVER_START_TIMEOUT:.0f} s:\n{self.log.read_text()}")


@dataclass
class Tally:
    """What the clients saw: one latency and one outcome (status code or error name) per request."""

    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors_by_path: Counter[str] = field(default_factory=Counter)
    # When the slowest request started (time.monotonic()), to tell a start-up burst from a stall.
    slowest_at: float = 0.0

    def record(self, path: str, outcome: str, seconds: float) -> None:
        if seconds > max(self.latencies, default=0.0):
            self.slowest_at = time.monotonic() - seconds
        self.latencies.append(seconds)
        self.outcomes[outcome] += 1
        if not outcome.isdigit() or outcome.startswith("5"):
            self.errors_by_path[f"{outcome} {path}"] += 1

    def count(self, first_digit: str) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.startswith(first_digit))

    @property
    def transport_errors(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if not outcome.isdigit())


def percentile_ms(samples: list[float], p: int) -> float:
    """The p-th percentile in milliseconds (inclusive method; the sample itself when only one)."""
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0] * 1000
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1] * 1000


async def log_in(base_url: str, username: str, password: str) -> dict[str, str]:
    """Sign in through the login form (CSRF token and all); the session's cookies."""
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
        page = await client.get("/login/")
        token = CSRF_FIELD.search(page.text)
        if token is None:
            sys.exit(f"no CSRF token on /login/ ({page.status_code})")
        answer = await client.post(
            "/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
        )
        if answer.status_code != 302 or "sessionid" not in client.cookies:
            sys.exit(f"login as {username} failed: {answer.status_code}")
        return dict(client.cookies)


async def role_paths(base_url: str, cookies: dict[str, str]) -> tuple[list[str], list[str]]:
    """The paths this login may use (answered 200 once), and those left out with their status."""
    import httpx

    async with httpx.AsyncClient(base_url=base_url, cookies=cookies, timeout=REQUEST_TIMEOUT) as client:
        compounds = (await client.get("/api/compounds/?limit=1")).json().get("results", [])
        candidates = ["/", "/api/compounds/", "/api/areas/"]
        if compounds:
            code = compounds[0]["code"]
            candidates += [
                f"/c/{code}/",
                f"/c/{code}/persons/",
                f"/c/{code}/houses/",
                f"/c/{code}/api/registry/persons/",
                f"/c/{code}/api/registry/houses/",
            ]
        kept, dropped = [], []
        for path in candidates:
            status = (await client.get(path)).status_code
            (kept if status == 200 else dropped).append(path if status == 200 else f"{path} ({status})")
        return kept, dropped


async def run_client(base_url: str, paths: list[str], cookies: dict[str, str], stop_at: float, tally: Tally) -> None:
    """Ask ``paths`` in turn, back to back, until ``stop_at``; one keep-alive connection."""
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, cookies=cookies, timeout=REQUEST_TIMEOUT, limits=limits, follow_redirects=False
    ) as client:
        i = 0
        while time.monotonic() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            try:
                outcome = str((await client.get(path)).status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            tally.record(path, outcome, time.perf_counter() - started)


async def probe_healthz(base_url: str, stop_at: float, tally: Tally) -> None:
    """``/healthz`` every 100 ms on a connection of its own: what a load balancer would see."""
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                outcome = str((await client.get("/healthz")).status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            elapsed = time.perf_counter() - started
            tally.record("/healthz", outcome, elapsed)
            await asyncio.sleep(max(0.0, PROBE_INTERVAL - elapsed))


@dataclass
class Sample:
    at: float
    total: int
    idle: int


async def sample_connections(maintenance_url: str, samples: list[Sample], stop: asyncio.Event) -> None:
    """Count the load database's client connections every 0.5 s until ``stop`` is set.

    Connected to the ``postgres`` database, so the sampler's own connection is never counted.
    A sample that fails (the server refusing connections is what the bench looks for) is skipped.
    """
    import psycopg

    query = (
        "SELECT count(*), count(*) FILTER (WHERE state = 'idle') FROM pg_stat_activity "
        "WHERE datname = %s AND backend_type = 'client backend'"
    )
    conn = await psycopg.AsyncConnection.connect(maintenance_url, autocommit=True)
    try:
        while not stop.is_set():
            try:
                row = await (await conn.execute(query, [LOAD_DB])).fetchone()
                assert row is not None
                samples.append(Sample(time.monotonic(), int(row[0]), int(row[1])))
            except psycopg.Error:
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_INTERVAL)
    finally:
        await conn.close()


async def measure(args: argparse.Namespace, server: Server, maintenance_url: str) -> dict[str, Any]:
    """Log in, warm up, run the load, wait idle; every figure of the report."""
    from district.demo import DEMO_LOGINS

    logins = list(DEMO_LOGINS)
    sessions = await asyncio.gather(*(log_in(server.base_url, x.username, x.password) for x in logins))
    plans = await asyncio.gather(*(role_paths(server.base_url, cookies) for cookies in sessions))
    signed_in = []
    for login, cookies, (kept, dropped) in zip(logins, sessions, plans, strict=True):
        role = login.role or "superuser"
        left_out = f"; left out: {', '.join(dropped)}" if dropped else ""
        print(f"  {login.username:<9} {role:<16} {len(kept)} paths{left_out}")
        if kept:
            signed_in.append((kept, cookies))
    anonymous = (["/healthz", "/login/"], {})

    samples: list[Sample] = []
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample_connections(maintenance_url, samples, stop_sampling))
    # Let the sampler take its first sample: the connections open before the load.
    await asyncio.sleep(SAMPLE_INTERVAL)
    rss_before = server.rss_mb()
    clients = [anonymous if i % 2 == 0 else signed_in[(i // 2) % len(signed_in)] for i in range(args.clients)]
    tally, probes = Tally(), Tally()
    started = time.monotonic()
    stop_at = started + args.duration
    print(f"Load: {args.clients} clients for {args.duration:.0f} s …", flush=True)
    await asyncio.gather(
        probe_healthz(server.base_url, stop_at, probes),
        *(run_client(server.base_url, paths, cookies, stop_at, tally) for paths, cookies in clients),
    )
    ended = time.monotonic()
    rss_after = server.rss_mb()
    at_end = samples[-1].total if samples else -1
    print(f"Idle: {args.idle_wait:.0f} s, sampling connections …", flush=True)
    await asyncio.sleep(args.idle_wait)
    stop_sampling.set()
    await sampler
    rss_idle = server.rss_mb()
    during = [s for s in samples if s.at <= ended + SAMPLE_INTERVAL]
    last = samples[-1] if samples else Sample(0, -1, -1)
    return {
        "elapsed": ended - started,
        "started": started,
        "tally": tally,
        "probes": probes,
        "baseline": samples[0].total if samples else -1,
        "peak": max((s.total for s in samples), default=-1),
        "peak_during": max((s.total for s in during), default=-1),
        "at_end": at_end,
        "after_idle": last.total,
        "after_idle_idle": last.idle,
        "samples": len(samples),
        "rss": (rss_before, rss_after, rss_idle),
    }


def server_facts(maintenance_url: str) -> tuple[str, int]:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        limit = conn.execute("SHOW max_connections").fetchone()
    assert version is not None and limit is not None
    return str(version[0]), int(limit[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--idle-wait", type=float, default=30.0, help="seconds to watch connections after (default 30)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {LOAD_DB} database afterwards")
    args = parser.parse_args()
    if args.clients < 2 or args.duration <= 0 or args.idle_wait < 0:
        parser.error("--clients must be at least 2 (anonymous and signed in), --duration positive")

    maintenance_url, load_url = database_urls(LOAD_DB)
    # This process reads the settings (the connection configuration under test) and the demo
    # logins; it never connects to the load database through Django. The server gets the same
    # environment: DEBUG off, so no query log grows under load and errors are production's.
    env = use_bench_database(load_url)
    # SIGTERM (e.g. a CI timeout) runs the same clean-up as Ctrl-C: stop daphne, drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import django

    django.setup()
    from django.conf import settings

    # The project's logging configuration (root at INFO) would print a line per request.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    database = settings.DATABASES["default"]
    pool = database.get("OPTIONS", {}).get("pool") or None
    pool_max = (pool.get("max_size") if isinstance(pool, dict) else None) if pool else None
    postgres, max_connections = server_facts(maintenance_url)
    load_start = os.getloadavg()[0]
    recreate_database(maintenance_url, LOAD_DB)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    server: Server | None = None
    try:
        started = time.monotonic()
        manage(env, "migrate_all", "-v0")
        manage(env, "seed_demo", *SEED_ARGS)
        print(f"Migrated and seeded in {time.monotonic() - started:.1f} s; starting daphne")
        server = Server(env, log_dir / "daphne.log")
        server.wait_until_healthy()
        result = asyncio.run(measure(args, server, maintenance_url))
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            drop_database(maintenance_url, LOAD_DB)

    log_text = server.log.read_text(errors="replace")
    too_many = log_text.count("too many clients")
    tally: Tally = result["tally"]
    probes: Tally = result["probes"]
    requests = len(tally.latencies)
    rss_before, rss_after, rss_idle = result["rss"]
    idle_key = f"idle_after_s{args.idle_wait:g}"
    anonymous = args.clients - args.clients // 2  # even-numbered clients
    p50, p99 = percentile_ms(tally.latencies, 50), percentile_ms(tally.latencies, 99)
    rows = [
        ("machine", f"{os.cpu_count()} CPUs, load {load_start:.2f} at start; PostgreSQL {postgres}"),
        ("connection settings", f"CONN_MAX_AGE={database.get('CONN_MAX_AGE')}, pool={pool}"),
        ("clients / duration", f"{args.clients} ({anonymous} anonymous) / {result['elapsed']:.1f} s"),
        ("requests", f"{requests} ({requests / result['elapsed']:.1f} req/s)"),
        ("latency p50 / p99", f"{p50:.0f} / {p99:.0f} ms"),
        ("answers", ", ".join(f"{k} × {v}" for k, v in sorted(tally.outcomes.items()))),
        ("5xx / transport errors", f"{tally.count('5')} / {tally.transport_errors}"),
        ("/healthz prober p50 / p99 / max", (
            f"{percentile_ms(probes.latencies, 50):.0f} / {percentile_ms(probes.latencies, 99):.0f} / "
            f"{max(probes.latencies, default=0) * 1000:.0f} ms (at +{probes.slowest_at - result['started']:.1f} s), "
            f"{len(probes.latencies)} probes, "
            f"not 200: {sum(n for k, n in probes.outcomes.items() if k != '200')}"
        )),
        ("PostgreSQL connections", (
            f"before {result['baseline']}, peak {result['peak']} (max_connections {max_connections}), "
            f"end of load {result['at_end']}, after {args.idle_wait:g} s idle {result['after_idle']} "
            f"({result['after_idle_idle']} idle)"
        )),
        ("'too many clients' in server log", str(too_many)),
        ("daphne RSS before / after / after idle", f"{rss_before:.0f} / {rss_after:.0f} / {rss_idle:.0f} MB"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    for what, n in (tally.errors_by_path + probes.errors_by_path).most_common(8):
        print(f"  {n:>6} × {what}")
    figures = {
        "clients": args.clients,
        "requests": requests,
        "errors_5xx": tally.count("5") + probes.count("5"),
        "peak_connections": result["peak"],
        idle_key: result["after_idle"],
        "healthz_p99_ms": round(percentile_ms(probes.latencies, 99), 1),
        "requests_per_s": round(requests / result["elapsed"], 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "transport_errors": tally.transport_errors + probes.transport_errors,
        "connections_at_end_of_load": result["at_end"],
        "healthz_probes": len(probes.latencies),
        "healthz_not_200": sum(n for k, n in probes.outcomes.items() if k != "200"),
        "too_many_clients_in_log": too_many,
        "rss_mb_before": round(rss_before),
        "rss_mb_after": round(rss_after),
        "duration_s": round(result["elapsed"], 1),
        "conn_max_age": database.get("CONN_MAX_AGE"),
        "pool_max_size": pool_max,
        "max_connections": max_connections,
        "cpus": os.cpu_count(),
        "load_start": round(load_start, 2),
        "postgres": postgres,
        "python": platform.python_version(),
    }
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
