"""Background jobs of the registry (thin: they call what ``registry.excel`` and the actions do).

Queued by ``registry.actions`` by name (``district.jobs.defer_in_compound``; the actions sit
below this module), in the same transaction as the write that needs them.
"""

from __future__ import annotations

from procrastinate import JobContext, RetryStrategy
from procrastinate.job_context import AbortReason

from district.jobs import app, in_compound
from registry.excel import ImportInterruptedError, run_import
from registry.models import ImportJob

__all__ = ["IMPORT_WORKBOOK", "import_workbook_job"]

IMPORT_WORKBOOK = "registry.import_workbook"


@app.task(
    name=IMPORT_WORKBOOK,
    pass_context=True,
    # An import interrupted at a checkpoint (worker stopping, or the job still held by a run
    # presumed dead) is queued again and resumes from its checkpoint; nothing else is retried:
    # the job records its own failures for the uploader.
    retry=RetryStrategy(wait=10, retry_exceptions=[ImportInterruptedError]),
)
def import_workbook_job(context: JobContext, schema_name: str, import_job_id: int) -> str:
    """Import the uploaded workbook of ImportJob ``import_job_id`` into its compound; its status.

    Resumes from the job's last checkpoint when run again after a killed worker.
    """

    def worker_stopping() -> bool:
        # Only a shutdown stops an import half-way; it is then requeued (see retry above).
        return context.abort_reason() == AbortReason.SHUTDOWN

    with in_compound(schema_name) as compound:
        job = ImportJob.objects.get(pk=import_job_id)
        return run_import(job, compound, should_stop=worker_stopping).status
