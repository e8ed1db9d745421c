"""Excel import jobs, so a long import can report progress and its per-row errors."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["ImportJob"]


class ImportJob(models.Model):
    """批量导入 — one uploaded spreadsheet: its kind, progress and per-row error report."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=16)
    filename = models.CharField(_("file name"), max_length=255)
    # Emptied (b"") REGISTRY_IMPORT_FILE_RETENTION after the import ended; the report stays
    # (registry.excel.retention). An empty file therefore means "deleted": no upload is empty.
    file = models.BinaryField(_("file"), editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    # The uploader lives in the public schema; a plain id keeps the tenant table free of a
    # cross-schema foreign key.
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.filename}"

    @property
    def failed_rows(self) -> int:
        """Rows not imported (a row may have several errors)."""
        return len({error["row"] for error in self.errors or ()})

    @property
    def percent(self) -> int:
        """Progress in percent."""
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0
