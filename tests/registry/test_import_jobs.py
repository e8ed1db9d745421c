"""Excel imports as background jobs: queued with the upload, run by a real worker, resumed after a kill.

These tests commit (``committed_db``): a worker's connection, in another thread or process,
must see the rows. Each works in a fresh compound that is dropped afterwards.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django_tenants.utils import tenant_context
from procrastinate.contrib.django.models import ProcrastinateJob

from registry.actions import do_create_import_job
from registry.excel.importer import BATCH_ROWS
from registry.models import ImportJob, Person
from registry.tasks import IMPORT_WORKBOOK
from tenants.models import Compound
from tests.factories import make_id_number
from tests.registry.test_excel import person_row, workbook

BASE_DIR = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


def people(count: int) -> list[dict[str, object] | None]:
    """``count`` person rows with distinct valid ID numbers (400 per birth date)."""
    rows: list[dict[str, object] | None] = []
    for n in range(count):
        birth = datetime.date(1970, 1, 1) + datetime.timedelta(days=n // 400)
        rows.append(person_row(姓名=f"居民{n}", 证件号码=make_id_number(birth=birth, seq=n % 400)))
    return rows


def queued_jobs(import_job: ImportJob) -> list[ProcrastinateJob]:
    """The queue's jobs for ``import_job`` (public schema)."""
    return list(ProcrastinateJob.objects.filter(task_name=IMPORT_WORKBOOK, args__import_job_id=import_job.pk))


def poll(read: Callable[[], T], until: Callable[[T], bool], *, timeout: float, what: str) -> T:
    """Read until ``until(value)`` holds, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {value!r} after {timeout:.0f} s")
        # Waiting on another process's progress, not on the clock: a short poll.
        time.sleep(0.02)


def reload(job: ImportJob, compound: Compound) -> ImportJob:
    with tenant_context(compound):
        return ImportJob.objects.defer("file").get(pk=job.pk)


def create_job(compound: Compound, user: Any, rows: list[dict[str, object] | None]) -> ImportJob:
    with tenant_context(compound):
        return do_create_import_job(
            kind="persons", filename="人口.xlsx", content=workbook("persons", rows), acting_user=user
        )


# --- Queued with the upload, in its transaction --------------------------------------------


def test_an_upload_is_queued_and_a_worker_imports_it(fresh_compound, committed_superuser, run_jobs):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(committed_superuser)
    rows = [*people(3), person_row(证件号码="370102198005171230")]  # the last one has a bad check digit
    upload = workbook("persons", rows)

    response = client.post(
        f"/c/{fresh_compound.code}/import/",
        {"kind": "persons", "file": SimpleUploadedFile("人口.xlsx", upload)},
    )

    with tenant_context(fresh_compound):
        job = ImportJob.objects.get()
        assert response.status_code == 302 and response["Location"].endswith(f"/import/{job.pk}/")
        assert job.status == ImportJob.Status.PENDING and not Person.objects.exists()  # nothing ran inline
    [queued] = queued_jobs(job)
    assert queued.status == "todo" and queued.args == {
        "schema_name": fresh_compound.schema_name,
        "import_job_id": job.pk,
    }

    run_jobs()

    job = reload(job, fresh_compound)
    assert (job.status, job.total_rows, job.processed_rows) == (ImportJob.Status.DONE, 4, 4)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (3, 0, 0)
    assert [(e["row"], e["column"]) for e in job.errors] == [(5, "证件号码")]
    with tenant_context(fresh_compound):
        assert Person.objects.count() == 3
    assert not queued_jobs(job)  # a job that succeeded is deleted (PROCRASTINATE_WORKER_DEFAULTS)
    status = client.get(f"/c/{fresh_compound.code}/import/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-status="done"' in status and "hx-get" not in status  # the page stops polling
    client.logout()


def test_the_job_is_queued_in_the_transaction_that_creates_the_import_job(
    fresh_compound, committed_superuser, test_database_url
):
    def seen_by_another_connection(job_id: int) -> tuple[int, int]:
        """(import jobs, queued jobs) for ``job_id`` as another connection sees them: committed only."""
        with psycopg.connect(test_database_url) as other, other.cursor() as cursor:
            schema = fresh_compound.schema_name
            cursor.execute(f'SELECT count(*) FROM "{schema}".registry_importjob WHERE id = %s', [job_id])
            import_jobs = cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s AND args->>'import_job_id' = %s",
                [IMPORT_WORKBOOK, str(job_id)],
            )
            return import_jobs, cursor.fetchone()[0]

    with transaction.atomic():
        job = create_job(fresh_compound, committed_superuser, people(1))
        assert len(queued_jobs(job)) == 1  # this connection sees its own job…
        assert seen_by_another_connection(job.pk) == (0, 0)  # …no one else does before the commit
    assert seen_by_another_connection(job.pk) == (1, 1)

    with pytest.raises(RuntimeError), transaction.atomic():
        failed = create_job(fresh_compound, committed_superuser, people(1))
        raise RuntimeError("the request fails after the job was created")
    with tenant_context(fresh_compound):
        assert list(ImportJob.objects.values_list("pk", flat=True)) == [job.pk]
    assert seen_by_another_connection(failed.pk) == (0, 0)
    assert not queued_jobs(failed)


def test_an_import_held_by_another_run_is_retried_later(
    fresh_compound, committed_superuser, run_jobs, test_database_url
):
    job = create_job(fresh_compound, committed_superuser, people(2))
    lock_key = f"registry.import:{fresh_compound.schema_name}:{job.pk}"
    with psycopg.connect(test_database_url, autocommit=True) as other:
        # Another session holds the job, as a worker presumed dead whose session is still open would.
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [lock_key])
        run_jobs()
    [queued] = queued_jobs(job)
    assert (queued.status, queued.attempts) == ("todo", 1)  # requeued (RetryStrategy), not failed
    assert reload(job, fresh_compound).status == ImportJob.Status.PENDING  # untouched

    # The retry waits 10 s: move it to now instead of waiting.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = %s", [queued.pk])
    run_jobs()
    job = reload(job, fresh_compound)
    assert (job.status, job.created_count) == (ImportJob.Status.DONE, 2)


# --- Workers stopped and killed half-way ---------------------------------------------------


class Worker:
    """``manage.py procrastinate worker`` in a process of its own, on the test database."""

    def __init__(self, name: str, database_url: str, log_dir: Path, *args: str) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "district.settings",
            # libpq tags every connection of the process, so the test can see when they are gone.
            "PGAPPNAME": name,
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "procrastinate", "worker", "--name", name, *args],
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """The workers a test starts; any still running are killed at the end."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def test_a_worker_asked_to_stop_leaves_the_import_at_a_checkpoint_and_requeues_it(
    fresh_compound, committed_superuser, test_database_url, workers, tmp_path, run_jobs
):
    total = 4 * BATCH_ROWS
    job = create_job(fresh_compound, committed_superuser, people(total))
    # No grace period: the running import is asked to stop at once (make run allows 5 s).
    worker = Worker("jobs-test-stopped", test_database_url, tmp_path, "--shutdown-graceful-timeout", "0")
    workers.append(worker)
    poll(
        lambda: reload(job, fresh_compound).processed_rows,
        lambda processed: processed > 0 or worker.process.poll() is not None,
        timeout=60,
        what="rows imported by the worker",
    )
    worker.process.send_signal(signal.SIGTERM)
    assert poll(worker.process.poll, lambda code: code is not None, timeout=30, what="the worker's exit code") == 0

    job = reload(job, fresh_compound)
    assert job.status == ImportJob.Status.RUNNING and 0 < job.processed_rows < total, worker.output()
    assert job.created_count == job.processed_rows and job.processed_rows % BATCH_ROWS == 0
    [queued] = queued_jobs(job)
    assert (queued.status, queued.attempts) == ("todo", 1)  # requeued, to resume on the next start

    with connection.cursor() as cursor:  # the retry waits 10 s: move it to now instead of waiting
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = %s", [queued.pk])
    run_jobs()
    job = reload(job, fresh_compound)
    assert (job.status, job.processed_rows, job.created_count, job.unchanged_count) == ("done", total, total, 0)


def sessions_of(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return cursor.fetchone()[0]


def test_a_killed_worker_leaves_a_consistent_checkpoint_and_the_next_worker_finishes(
    fresh_compound, committed_superuser, test_database_url, workers, tmp_path
):
    # Enough batches that the worker is killed half-way: it is killed at its first checkpoint.
    total = 4 * BATCH_ROWS
    job = create_job(fresh_compound, committed_superuser, people(total))
    started = time.monotonic()

    first = Worker("jobs-test-first", test_database_url, tmp_path)
    workers.append(first)
    poll(
        lambda: reload(job, fresh_compound).processed_rows,
        lambda processed: processed > 0 or first.process.poll() is not None,
        timeout=60,
        what="rows imported by the first worker",
    )
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    killed_after = time.monotonic() - started

    # The checkpoint: whole batches only, the counts and the rows of exactly those batches.
    job = reload(job, fresh_compound)
    assert 0 < job.processed_rows < total, first.output()
    assert job.status == ImportJob.Status.RUNNING and job.processed_rows % BATCH_ROWS == 0
    assert (job.created_count, job.updated_count, job.unchanged_count, job.errors) == (job.processed_rows, 0, 0, [])
    with tenant_context(fresh_compound):
        assert Person.objects.count() == job.processed_rows
    [queued] = queued_jobs(job)
    assert queued.status == "doing" and queued.worker_id is not None
    checkpoint = job.processed_rows

    # PostgreSQL ends the dead worker's sessions (rolling back its open batch, releasing its
    # lock on the job) once it sees their sockets closed.
    poll(lambda: sessions_of(first.name), lambda count: count == 0, timeout=30, what="sessions of the killed worker")
    # Its heartbeat stops; it counts as dead once the heartbeat is STALLED_AFTER_SECONDS old.
    # Let that time pass by moving the heartbeat back instead of waiting for it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_workers SET last_heartbeat = last_heartbeat - interval '1 minute' WHERE id = %s",
            [queued.worker_id],
        )

    second = Worker("jobs-test-second", test_database_url, tmp_path, "--one-shot")
    workers.append(second)
    poll(second.process.poll, lambda code: code is not None, timeout=120, what="the second worker's exit code")
    finished_after = time.monotonic() - started

    job = reload(job, fresh_compound)
    assert job.status == ImportJob.Status.DONE, second.output()
    assert (job.total_rows, job.processed_rows, job.created_count, job.updated_count, job.unchanged_count) == (
        total,
        total,
        total,
        0,
        0,
    )
    assert job.errors == []
    with tenant_context(fresh_compound):
        assert Person.objects.count() == total
        assert Person.objects.values("id_number").distinct().count() == total
    assert "requeued stalled jobs" in second.output()
    assert not queued_jobs(job)
    print(
        f"\nkilled-worker import: {total} rows, killed after {killed_after:.1f} s at the checkpoint of "
        f"{checkpoint} rows, finished by the second worker {finished_after:.1f} s after the upload"
    )
