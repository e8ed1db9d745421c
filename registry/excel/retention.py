"""Deleting the uploaded files of past imports: the job, its counts and its error report stay.

An upload holds the personal data of every row (ID numbers, phones): once its import has
ended, what remains useful is the report, not the file. ``registry.tasks`` runs
:func:`do_purge_import_files` in every compound once a day.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings

from registry.models import ImportJob

__all__ = ["do_purge_import_files"]

logger = logging.getLogger(__name__)


def do_purge_import_files(*, now: datetime.datetime, retention: datetime.timedelta | None = None) -> int:
    """Empty the file of each import job of the current compound that ended ``retention`` before ``now``.

    Done and failed jobs only (a pending or running job still needs its file); the file name,
    counts, errors and message stay, and the status page says the file was deleted. The
    retention defaults to ``settings.REGISTRY_IMPORT_FILE_RETENTION``; ``now`` is the caller's
    clock (the periodic task's scheduled time). Returns how many files were deleted. A system
    job, run by no user: the log says what it did.
    """
    retention = settings.REGISTRY_IMPORT_FILE_RETENTION if retention is None else retention
    purged = (
        ImportJob.objects.filter(
            status__in=[ImportJob.Status.DONE, ImportJob.Status.FAILED], finished_at__lte=now - retention
        )
        .exclude(file=b"")
        .update(file=b"")
    )
    if purged:
        logger.info("deleted the uploaded files of %d import job(s) that ended before %s", purged, now - retention)
    return purged
