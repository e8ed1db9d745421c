"""``make run`` stops the embedded PostgreSQL it started (issue 8, part 9)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from district import embedded_db

ROOT = Path(__file__).resolve().parents[2]


def test_is_running_and_stop_follow_the_postmaster_pid_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(embedded_db, "DATA_DIR", tmp_path)
    assert embedded_db.server_pid() is None and embedded_db.stop()  # nothing runs: nothing to stop
    # A stand-in postmaster: a process that, like PostgreSQL's fast shutdown, ends on SIGINT.
    # SIGINT back to its default: a shell's background jobs (and their children) start with it ignored.
    fake = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); time.sleep(60)"]
    )
    try:
        (tmp_path / "postmaster.pid").write_text(f"{fake.pid}\n{tmp_path}\n")
        assert embedded_db.server_pid() == fake.pid
        assert embedded_db.stop(timeout=10)
        fake.wait(timeout=10)
        assert embedded_db.server_pid() is None
    finally:
        fake.kill()


def test_make_run_stops_only_a_server_it_started_and_documents_port() -> None:
    makefile = (ROOT / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:") : makefile.index("\ntest:")]
    assert "--is-running" in run and "--stop" in run and '-z "$$DATABASE_URL"' in run
    readme = (ROOT / "README.md").read_text()
    assert "make run PORT=8001" in readme and "Ctrl-C" in readme


def test_the_readme_table_of_unmasked_roles_matches_the_capabilities() -> None:
    from district.choices import Role
    from district.permissions import ROLE_CAPABILITIES, VIEW_PII

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Who sees unmasked identifiers") :].split("\n## ", 1)[0]
    for role in Role:
        (line,) = [row for row in table.splitlines() if f"(`{role.value}`)" in row]
        assert line.rstrip(" |").split("|")[-1].strip().startswith("yes") == (VIEW_PII in ROLE_CAPABILITIES[role])
