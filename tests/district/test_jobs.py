"""The job helpers of district.jobs: compound context, deferral, and requeueing the jobs of dead workers.

These tests commit (``committed_db``): procrastinate's own connections must see the jobs.
"""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from district.jobs import app, defer_in_compound, in_compound, retry_stalled_jobs_now
from tenants.models import Compound


@pytest.fixture
def db(committed_db: None) -> None:
    """In this module ``db`` (which every test gets) commits: see ``committed_db``."""


def test_the_worker_requeues_stalled_jobs_every_minute():
    [periodic] = [
        p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == "district.retry_stalled_jobs"
    ]
    assert periodic.cron == "* * * * *"
    # One waiting at most, however long the workers are busy.
    assert periodic.task.queueing_lock == "district.retry_stalled_jobs"


def test_in_compound_runs_in_the_compound_and_returns_to_public(compound_a: Compound, compound_b: Compound):
    connection.set_tenant(compound_b)  # whatever the worker thread ran before
    with pytest.raises(RuntimeError), in_compound(compound_a.schema_name) as compound:
        assert compound == compound_a and connection.schema_name == compound_a.schema_name
        raise RuntimeError("the task fails")
    assert connection.schema_name == "public"


def test_deferring_an_unknown_task_fails_at_once(compound_a: Compound):
    with pytest.raises(KeyError):
        defer_in_compound("registry.no_such_task", compound_a, import_job_id=1)
    assert not ProcrastinateJob.objects.exists()


def test_only_the_jobs_of_workers_whose_heartbeat_stopped_are_requeued(compound_a: Compound):
    first = defer_in_compound("registry.import_workbook", compound_a, import_job_id=1)
    second = defer_in_compound("registry.import_workbook", compound_a, import_job_id=2)

    async def scenario() -> list[int]:
        with app.replace_connector(app.connector.get_worker_connector()):
            async with app.open_async():
                manager = app.job_manager
                dead, live = await manager.register_worker(), await manager.register_worker()
                assert (await manager.fetch_job(queues=None, worker_id=dead)).id == first
                assert (await manager.fetch_job(queues=None, worker_id=live)).id == second
                assert await retry_stalled_jobs_now() == []  # both heartbeats are fresh
                # The first worker died a minute ago: move its last heartbeat back rather than wait.
                await app.connector.execute_query_async(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' WHERE id = %(id)s",
                    id=dead,
                )
                return await retry_stalled_jobs_now()

    assert asyncio.run(scenario()) == [first]
    jobs = {job.id: job for job in ProcrastinateJob.objects.all()}
    assert (jobs[first].status, jobs[first].attempts) == ("todo", 1)  # run again by the next free worker
    assert jobs[second].status == "doing"  # its worker is alive: never run twice
