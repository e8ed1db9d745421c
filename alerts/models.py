"""Per-compound alert settings, the alert lifecycle's steps and joint-defence broadcasts (public schema)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from events.choices import AlertStatus, Severity

__all__ = ["AlertRule", "AlertStep", "Broadcast"]


class AlertRule(models.Model):
    """A compound's override of one alert model: on/off, severity, thresholds.

    No row means the catalogue's defaults (``alerts.catalogue``). Public, so the periodic
    jobs and the city's pages read every compound's rules without entering its schema.
    """

    compound = models.ForeignKey("tenants.Compound", on_delete=models.CASCADE, related_name="+")
    model = models.CharField(_("alert model"), max_length=32)
    enabled = models.BooleanField(_("enabled"), default=True)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices, blank=True)
    params = models.JSONField(_("thresholds"), default=dict, blank=True)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        constraints = [models.UniqueConstraint(fields=["compound", "model"], name="alert_rule_unique")]

    def __str__(self) -> str:
        return f"{self.compound_id}:{self.model}"


class AlertStep(models.Model):
    """One step of an alert's lifecycle: who moved it to which status, when, with what note."""

    alert = models.ForeignKey("events.Alert", on_delete=models.CASCADE, related_name="steps")
    status = models.CharField(_("status"), max_length=16, choices=AlertStatus.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("by")
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("dispatched to"),
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    at = models.DateTimeField(_("time"))

    class Meta:
        verbose_name = _("alert step")
        verbose_name_plural = _("alert steps")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.status}"


class Broadcast(models.Model):
    """群防群治 — a message (text and an optional photo) sent to the patrol members of an area.

    Sent to a street (``area``) or a compound; delivered live to the users holding roles there
    and kept as a record.
    """

    area = models.ForeignKey(
        "district.Area", null=True, blank=True, on_delete=models.CASCADE, related_name="+", verbose_name=_("area")
    )
    compound = models.ForeignKey(
        "tenants.Compound",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("compound"),
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("sender")
    )
    text = models.TextField(_("message"), max_length=2000)
    photo = models.CharField(_("photo"), max_length=255, blank=True)
    sent_at = models.DateTimeField(_("sent at"))

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(area__isnull=False) ^ models.Q(compound__isnull=False),
                name="broadcast_area_or_compound",
            )
        ]

    def __str__(self) -> str:
        return self.text[:40]
