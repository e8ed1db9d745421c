"""The compound's access control: devices, consent, face templates, cards, visitor passes.

Everything here lives in the compound's schema (DESIGN.md §2); the device credential and the
event stream live in public (``events``). Writes go through ``access.actions``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from access.choices import ConsentMethod, DeviceKind, DeviceStatus
from district.models.fields import user_reference
from events.choices import Direction

__all__ = ["AccessSettings", "BiometricConsent", "Card", "Device", "FaceTemplate", "ScreeningBatch", "VisitorPass"]


class AccessSettings(models.Model):
    """The compound's thresholds (one row, pk 1) and the version of its face templates.

    ``face_version`` is bumped by every enrolment change; each process compares it with the
    version of its cached match matrix on every decision and reloads when they differ, so a
    photo removed in one process stops opening gates served by every other process.
    """

    face_tolerance = models.FloatField(_("face match tolerance"), default=0.5)
    face_margin = models.FloatField(_("minimum margin to the second-best match"), default=0.04)
    snapshot_retention_days = models.PositiveSmallIntegerField(_("snapshot retention (days)"), default=30)
    pass_max_hours = models.PositiveSmallIntegerField(_("longest visitor pass (hours)"), default=72)
    face_version = models.BigIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("access settings")
        verbose_name_plural = _("access settings")

    def __str__(self) -> str:
        return str(_("access settings"))


class Device(models.Model):
    """A gate, reader, door or sensor of the compound; ``uid`` is its row in ``events.DeviceIndex``."""

    uid = models.CharField(_("device id"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(_("device type"), max_length=24, choices=DeviceKind.choices)
    direction = models.CharField(_("direction"), max_length=8, choices=Direction.choices, default=Direction.BOTH)
    gate = models.CharField(_("gate"), max_length=64, blank=True, help_text=_("e.g. 南门, 地库入口"))
    address = models.ForeignKey(
        "registry.Address",
        verbose_name=_("building or unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="devices",
    )
    status = models.CharField(_("status"), max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BiometricConsent(models.Model):
    """单独同意 — a person's separate consent to face enrolment, who recorded it and how.

    Without an active (not withdrawn) consent no face template can be stored; withdrawing it
    deletes the person's templates in the same action.
    """

    person = models.ForeignKey("registry.Person", on_delete=models.CASCADE, related_name="biometric_consents")
    method = models.CharField(_("how consent was given"), max_length=16, choices=ConsentMethod.choices)
    given_at = models.DateTimeField(_("consent given at"))
    document = models.CharField(_("consent document"), max_length=255, blank=True)
    recorded_by = user_reference(_("recorded by"))
    recorded_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = user_reference()

    class Meta:
        verbose_name = _("biometric consent")
        verbose_name_plural = _("biometric consents")
        ordering = ["-given_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=Q(withdrawn_at__isnull=True), name="one_active_consent_per_person"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.given_at:%Y-%m-%d}"


class FaceTemplate(models.Model):
    """One enrolled photo of a person: its float32 encoding (512 bytes) and a small copy of the face."""

    person = models.ForeignKey("registry.Person", on_delete=models.CASCADE, related_name="face_templates")
    consent = models.ForeignKey(BiometricConsent, on_delete=models.CASCADE, related_name="templates")
    encoding = models.BinaryField()
    photo = models.CharField(max_length=255, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("face template")
        verbose_name_plural = _("face templates")
        ordering = ["person", "id"]

    def __str__(self) -> str:
        return f"{self.person_id}#{self.pk}"


class Card(models.Model):
    """An IC card that opens the compound's gates for a person."""

    number = models.CharField(_("card number"), max_length=32, unique=True)
    person = models.ForeignKey("registry.Person", on_delete=models.CASCADE, related_name="cards")
    active = models.BooleanField(_("active"), default=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["number"]

    def __str__(self) -> str:
        return self.number


class VisitorPass(models.Model):
    """访客通行证 — a time-limited pass a resident or staff member issues for a visitor.

    The QR token and the PIN are shown once, at issue; only keyed hashes are stored.
    """

    host = models.ForeignKey(
        "registry.Person", verbose_name=_("host"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    visitor_name = models.CharField(_("visitor"), max_length=64)
    visitor_phone = models.CharField(_("visitor's phone"), max_length=20, blank=True)
    purpose = models.CharField(_("purpose"), max_length=128, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    pin_hash = models.CharField(max_length=64, db_index=True)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    max_uses = models.PositiveSmallIntegerField(_("uses allowed"), default=2)
    uses = models.PositiveSmallIntegerField(_("uses"), default=0)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    issued_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("visitor pass")
        verbose_name_plural = _("visitor passes")
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return self.visitor_name


class ScreeningBatch(models.Model):
    """A list of ID numbers (an employer's new hires) screened against the watch-list by a job."""

    label = models.CharField(_("label"), max_length=128, blank=True)
    id_numbers = models.JSONField(default=list)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    hits = models.JSONField(default=list)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("screening batch")
        verbose_name_plural = _("screening batches")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.label or str(self.pk)
