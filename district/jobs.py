"""Background jobs: procrastinate on our own PostgreSQL (DESIGN.md §1, §7; issue #6).

What every app needs to know:

- **Tasks** live in ``<app>/tasks.py`` (procrastinate's Django app imports every such module)
  and stay thin: they call actions. Register them on :data:`app` with an explicit, stable
  ``name`` (jobs in the queue refer to tasks by name).
- **Compounds.** The queue's tables live in the public schema. A job that works in a compound
  carries the compound's ``schema_name`` as an argument and runs inside :func:`in_compound`,
  which switches to the compound and back to public afterwards: a worker thread serves the
  next job, of any compound, on the same database connection.
- **Deferring in the writer's transaction.** :func:`defer_in_compound` enqueues through Django's
  own connection, so the job row is part of the caller's transaction: a rolled-back write
  enqueues nothing, and no worker sees the job before the data it needs is committed. This
  holds in the worker process too, where procrastinate swaps the app's connector for its own
  pool (which would enqueue outside the task's transaction).
- **Periodic tasks.** Put ``@app.periodic(cron="…")`` above ``@app.task(…)``; the function
  receives ``timestamp`` (the scheduled time). Nothing else to start: every worker runs a
  periodic deferrer beside its job loop, and the database makes sure one tick is deferred
  once however many workers run. The module must be imported by the worker: ``tasks.py``
  modules are; any other goes in ``PROCRASTINATE_IMPORT_PATHS`` (as this one does).
- **Workers.** ``python manage.py procrastinate worker`` (``make run`` starts one beside
  daphne). On SIGINT/SIGTERM a worker stops taking jobs, gives running ones
  ``shutdown_graceful_timeout`` seconds, then asks them to stop: a long task checks
  ``context.abort_reason()`` at its checkpoints and raises an error its retry strategy
  requeues (``registry.tasks``). A second signal ends the worker at once.
- **Killed workers.** A worker killed outright (``kill -9``, OOM, power loss) leaves its jobs
  in ``doing``. Workers write a heartbeat every 10 s; once a worker's heartbeat is older than
  :data:`STALLED_AFTER_SECONDS`, its ``doing`` jobs are *stalled* and :func:`retry_stalled_jobs`
  puts them back to ``todo``. That runs every minute as a periodic task, and once when a worker
  starts (our ``procrastinate`` management command), so restarting a worker after an outage
  resumes what the dead one was doing. A job may therefore run again after a partial run:
  tasks must be idempotent or resume from a checkpoint of their own (``registry.tasks``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django_tenants.utils import tenant_context
from procrastinate import App
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.jobs import JobDeferrer
from procrastinate.manager import JobManager

from tenants.connection import tenant_connection
from tenants.models import Compound

__all__ = [
    "STALLED_AFTER_SECONDS",
    "app",
    "defer_in_compound",
    "defer_in_transaction",
    "in_compound",
    "retry_stalled_jobs",
    "retry_stalled_jobs_now",
]

logger = logging.getLogger(__name__)

# A worker is presumed dead when its heartbeat (written every 10 s by procrastinate) is older
# than this: three missed beats. Shorter risks running a job twice beside a slow but live worker.
STALLED_AFTER_SECONDS = 30.0

# Enqueues on Django's connection of the calling thread, i.e. inside the caller's transaction.
_in_transaction = JobManager(DjangoConnector())


def defer_in_transaction(task_name: str, *, queueing_lock: str | None = None, **task_kwargs: Any) -> int:
    """Queue the task ``task_name`` in the caller's transaction; the job's id.

    A rolled-back request queues nothing, and no worker sees a job before the rows it reads are
    committed. ``task_kwargs`` are JSON values only; the task's own defaults (queue, priority,
    locks) apply unless ``queueing_lock`` is given (procrastinate's ``AlreadyEnqueued`` then
    refuses a second waiting job: defer in a savepoint if the caller's transaction must go on).
    An unknown name raises ``KeyError`` here rather than leaving a job no worker can run.
    """
    task = app.tasks[task_name]
    options: dict[str, Any] = {"task_kwargs": task_kwargs}
    if queueing_lock is not None:
        options["queueing_lock"] = queueing_lock
    return JobDeferrer(job_manager=_in_transaction, job=task.configure(**options).job).defer()


def defer_in_compound(task_name: str, compound: Compound, **task_kwargs: Any) -> int:
    """Queue the task ``task_name`` for ``compound``, in the caller's transaction; the job's id.

    The job receives ``schema_name`` besides ``task_kwargs`` (see :func:`defer_in_transaction`).
    """
    return defer_in_transaction(task_name, schema_name=compound.schema_name, **task_kwargs)


@contextmanager
def in_compound(schema_name: str) -> Iterator[Compound]:
    """Run the block in the schema of the compound ``schema_name``; public again afterwards.

    Raises ``Compound.DoesNotExist`` if the compound was deleted since the job was queued.
    """
    # The connection may still be on the schema of whatever the thread ran before.
    tenant_connection().set_schema_to_public()
    try:
        compound = Compound.objects.get(schema_name=schema_name)
        with tenant_context(compound):
            yield compound
    finally:
        tenant_connection().set_schema_to_public()


async def retry_stalled_jobs_now(
    job_app: App | None = None, *, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS
) -> list[int]:
    """Put back to ``todo`` the jobs of workers silent for ``seconds_since_heartbeat``; their ids.

    ``job_app`` defaults to the project's app (its connector at the time of the call).
    """
    manager = (job_app or app).job_manager
    retried: list[int] = []
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat):
        assert job.id is not None  # jobs read from the database have ids
        await manager.retry_job(job)
        retried.append(job.id)
    if retried:
        logger.warning("requeued %d job(s) of stopped workers: %s", len(retried), retried)
    return retried


@app.periodic(cron="* * * * *", periodic_id="retry-stalled")
# The queueing lock keeps one of these waiting at most, however long the workers are busy.
@app.task(name="district.retry_stalled_jobs", queueing_lock="district.retry_stalled_jobs")
async def retry_stalled_jobs(timestamp: int) -> list[int]:
    """Every minute: requeue the jobs left in ``doing`` by workers that died (see module docstring)."""
    return await retry_stalled_jobs_now()
