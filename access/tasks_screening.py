"""The screening job (imported by access/tasks.py, which procrastinate loads): thin, it calls the action.

Queued by ``access.screening.do_create_screening_batch`` by name, in the transaction that
stores the batch (``district.jobs.defer_in_compound``).
"""

from __future__ import annotations

from procrastinate import JobContext, RetryStrategy
from procrastinate.job_context import AbortReason

from access.screening import SCREEN_IDS_TASK, ScreeningInterruptedError, run_screening
from district.jobs import app, in_compound

__all__ = ["screen_ids_job"]


@app.task(
    name=SCREEN_IDS_TASK,
    pass_context=True,
    # A batch interrupted between chunks (the worker stopping) is queued again and resumes from
    # its last committed chunk; a run left by a killed worker is requeued by
    # district.jobs.retry_stalled_jobs and resumes the same way.
    retry=RetryStrategy(wait=5, retry_exceptions=[ScreeningInterruptedError]),
)
def screen_ids_job(context: JobContext, schema_name: str, batch_id: int) -> int:
    """Screen ScreeningBatch ``batch_id`` of the compound ``schema_name``; the number of hits."""

    def worker_stopping() -> bool:
        return context.abort_reason() == AbortReason.SHUTDOWN

    with in_compound(schema_name) as compound:
        return len(run_screening(batch_id, compound, should_stop=worker_stopping).hits)
