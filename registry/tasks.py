"""Background jobs of the registry (thin: they call what ``registry.excel`` and the actions do).

Queued by ``registry.actions`` by name (``district.jobs.defer_in_compound``; the actions sit
below this module), in the same transaction as the write that needs them.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from procrastinate import JobContext, RetryStrategy
from procrastinate.job_context import AbortReason

from district.jobs import app, in_compound
from registry.excel import ImportInterruptedError, do_purge_import_files, run_import
from registry.models import ImportJob
from tenants.models import Compound
from tenants.provisioning import template_schema

__all__ = ["IMPORT_WORKBOOK", "PURGE_IMPORT_FILES", "import_workbook_job", "purge_import_files"]

IMPORT_WORKBOOK = "registry.import_workbook"
PURGE_IMPORT_FILES = "registry.purge_import_files"


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
        # The file is read by run_import, once it knows the file's size is one an upload may have.
        job = ImportJob.objects.defer("file").get(pk=import_job_id)
        return run_import(job, compound, should_stop=worker_stopping).status


# Daily at 19:00 UTC (cron runs in UTC), 03:00 in Beijing, when no one imports.
@app.periodic(cron="0 19 * * *", periodic_id="purge-import-files")
@app.task(name=PURGE_IMPORT_FILES, queueing_lock=PURGE_IMPORT_FILES)
def purge_import_files(timestamp: int) -> int:
    """Delete, in every compound, the uploaded files of imports that ended a retention period ago.

    ``timestamp`` is the scheduled time: the clock the retention is counted from (tests pass
    their own). Returns how many files were deleted (see ``registry.excel.retention``).
    """
    now = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    schemas = (
        Compound.objects.exclude(schema_name__in=[settings.PUBLIC_SCHEMA_NAME, template_schema()])
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )
    purged = 0
    for schema_name in schemas:
        with in_compound(schema_name):
            purged += do_purge_import_files(now=now)
    return purged
