"""Incidents, the safety index's configuration and snapshots, and reports (public schema).

Dashboards read only these tables: per-compound figures are copied here by the daily job
(``safety.tasks``), so no page above a compound ever reads a compound schema.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from safety.choices import Band, IncidentSource, IncidentStatus, IncidentType, ReportStatus

__all__ = ["AreaIndexSnapshot", "CompoundIndexSnapshot", "Incident", "IndexConfig", "Report"]


class Incident(models.Model):
    """警情 — a police incident of the city, matched to the compound it happened in when possible.

    ``external_id`` is the 110 dispatch system's number: importing the same export twice
    creates nothing twice. Unmatched rows (``compound`` empty) wait for a person to assign them.
    """

    city = models.ForeignKey("district.Area", on_delete=models.PROTECT, related_name="+")
    compound = models.ForeignKey(
        "tenants.Compound",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("compound"),
    )
    street = models.ForeignKey("district.Area", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    district = models.ForeignKey("district.Area", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    external_id = models.CharField(_("dispatch number"), max_length=40, blank=True)
    type = models.CharField(_("type"), max_length=16, choices=IncidentType.choices)
    occurred_at = models.DateTimeField(_("time"))
    place = models.CharField(_("place"), max_length=200)
    summary = models.CharField(_("summary"), max_length=1000, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=IncidentStatus.choices, default=IncidentStatus.OPEN)
    source = models.CharField(max_length=8, choices=IncidentSource.choices, default=IncidentSource.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["city", "external_id"], condition=~models.Q(external_id=""), name="incident_dispatch_unique"
            )
        ]
        indexes = [
            models.Index(fields=["compound", "-occurred_at"], name="incident_compound_time"),
            models.Index(fields=["city", "compound", "-occurred_at"], name="incident_city_unmatched"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id or self.pk} {self.get_type_display()}"


class IndexConfig(models.Model):
    """A city's weights of the index components (``safety.formula.DEFAULT_WEIGHTS`` when absent)."""

    city = models.OneToOneField("district.Area", on_delete=models.CASCADE, related_name="+")
    weights = models.JSONField(_("weights"), default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("safety index settings")
        verbose_name_plural = _("safety index settings")

    def __str__(self) -> str:
        return f"{self.city_id}"


class CompoundIndexSnapshot(models.Model):
    """One compound's index on one day, with every component that produced it (explainable)."""

    compound = models.ForeignKey("tenants.Compound", on_delete=models.CASCADE, related_name="+")
    street_id = models.BigIntegerField()
    district_id = models.BigIntegerField()
    city_id = models.BigIntegerField()
    day = models.DateField()
    score = models.DecimalField(max_digits=5, decimal_places=2)
    band = models.CharField(max_length=8, choices=Band.choices)
    stars = models.PositiveSmallIntegerField()
    population = models.PositiveIntegerField()
    components = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("compound index snapshot")
        verbose_name_plural = _("compound index snapshots")
        constraints = [models.UniqueConstraint(fields=["compound", "day"], name="compound_index_day_unique")]
        indexes = [
            models.Index(fields=["city_id", "day", "score"], name="cindex_city_day_score"),
            models.Index(fields=["district_id", "day", "score"], name="cindex_district_day_score"),
            models.Index(fields=["street_id", "day", "score"], name="cindex_street_day_score"),
        ]

    def __str__(self) -> str:
        return f"{self.compound_id} {self.day} {self.score}"


class AreaIndexSnapshot(models.Model):
    """A street's, district's or city's index on one day: its compounds' weighted by population."""

    area = models.ForeignKey("district.Area", on_delete=models.CASCADE, related_name="+")
    parent_id = models.BigIntegerField(null=True, blank=True)
    day = models.DateField()
    score = models.DecimalField(max_digits=5, decimal_places=2)
    band = models.CharField(max_length=8, choices=Band.choices)
    stars = models.PositiveSmallIntegerField()
    population = models.PositiveIntegerField()
    compounds = models.PositiveIntegerField()
    components = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("area index snapshot")
        verbose_name_plural = _("area index snapshots")
        constraints = [models.UniqueConstraint(fields=["area", "day"], name="area_index_day_unique")]
        indexes = [models.Index(fields=["parent_id", "day"], name="aindex_parent_day")]

    def __str__(self) -> str:
        return f"{self.area_id} {self.day} {self.score}"


class Report(models.Model):
    """月度报告 — a monthly report of a street or district, built by a background job with progress.

    The job (``safety.reports``) stores what it computed, step by step, in ``content`` (plain
    JSON: codes, numbers and names, translated when shown), then the .xlsx in ``workbook``: the
    print view and the download show the same figures however the snapshots change later, and a
    job run again after a stop resumes at the first step not stored. One report per area and
    month may be queued or running at a time (``report_one_pending``).
    """

    area = models.ForeignKey("district.Area", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"))  # the first day of the month
    status = models.CharField(max_length=8, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    # The requester's language when asked: the workbook's headers are written in it.
    language = models.CharField(max_length=16, default="zh-hans")
    content = models.JSONField(default=dict, blank=True)
    # Tens of KB even for a district: kept in the row, like registry imports (no media files to
    # protect, back up or clean up apart from the database).
    workbook = models.BinaryField(default=b"", editable=False)
    error = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["area", "month"],
                condition=models.Q(status__in=["queued", "running"]),
                name="report_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.month:%Y-%m}"
