"""Dispute-mediation cases of one compound (compound schema): parties, steps, sessions, agreements.

Writes go through ``mediation.actions``. The city-wide mediator roster lives in public
(``mediators``); a case refers to its mediators by id, and assigning one grants them
django-guardian object permissions on the case, in this compound's schema (DESIGN.md §2).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from district.models.fields import user_reference
from mediation.choices import (
    AttachmentKind,
    CaseCategory,
    CaseSource,
    CaseStatus,
    PartyRole,
    ReferredTo,
    Risk,
    RiskReason,
)

__all__ = ["Agreement", "Attachment", "Case", "CaseStep", "MediationSession", "MediationSettings", "Party"]

TEXT_MAX = 4000


class MediationSettings(models.Model):
    """The compound's mediation settings (one row, pk 1)."""

    deadline_days = models.PositiveSmallIntegerField(_("statutory deadline (days)"), default=30)

    class Meta:
        verbose_name = _("mediation settings")
        verbose_name_plural = _("mediation settings")

    def __str__(self) -> str:
        return str(_("mediation settings"))


class Case(models.Model):
    """矛盾纠纷 — one dispute, from registration to closing (or referral elsewhere).

    ``client_key`` is the idempotency key of a case drafted offline on a phone: the same draft
    sent twice creates one case.
    """

    number = models.CharField(_("case number"), max_length=24, unique=True)
    source = models.CharField(_("source"), max_length=24, choices=CaseSource.choices)
    category = models.CharField(_("category"), max_length=24, choices=CaseCategory.choices)
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True, validators=[MaxLengthValidator(TEXT_MAX)])
    address = models.ForeignKey(
        "registry.Address",
        verbose_name=_("location"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    place = models.CharField(_("place"), max_length=128, blank=True)
    amount = models.DecimalField(
        _("amount in dispute (yuan)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    risk = models.CharField(_("escalation risk"), max_length=8, choices=Risk.choices, default=Risk.LOW)
    risk_reasons = ArrayField(
        models.CharField(max_length=24, choices=RiskReason.choices),
        verbose_name=_("risk reasons"),
        default=list,
        blank=True,
    )
    status = models.CharField(_("status"), max_length=16, choices=CaseStatus.choices, default=CaseStatus.REGISTERED)
    referred_to = models.CharField(_("referred to"), max_length=24, choices=ReferredTo.choices, blank=True)
    occurred_on = models.DateField(_("dispute arose on"), null=True, blank=True)
    registered_at = models.DateTimeField(_("registered at"))
    deadline = models.DateField(_("deadline"))
    deadline_extension_reason = models.CharField(_("reason for extending the deadline"), max_length=500, blank=True)
    concluded_at = models.DateTimeField(_("concluded at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    officer = user_reference(_("officer in charge"))
    requested_mediator_id = models.IntegerField(_("mediator requested by a party"), null=True, blank=True)
    mediator_ids = ArrayField(models.IntegerField(), verbose_name=_("mediators"), default=list, blank=True)
    registered_by = user_reference()
    client_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("mediation case")
        verbose_name_plural = _("mediation cases")
        ordering = ["-registered_at", "-id"]
        indexes = [
            models.Index(fields=["status", "deadline"], name="case_status_deadline"),
            models.Index(fields=["category", "status"], name="case_category_status"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class Party(models.Model):
    """A party to a case: a registry person, or someone from outside the compound."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="parties")
    role = models.CharField(_("role"), max_length=16, choices=PartyRole.choices)
    person = models.ForeignKey(
        "registry.Person",
        verbose_name=_("resident"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    name = models.CharField(_("name"), max_length=64)
    id_number = models.CharField(_("ID number"), max_length=32, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    home_province = models.CharField(_("home province"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        ordering = ["case", "role", "id"]

    def __str__(self) -> str:
        return self.name


class CaseStep(models.Model):
    """One step of a case's workflow: who moved it from which status to which, when, with what note."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps")
    from_status = models.CharField(max_length=16, choices=CaseStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=CaseStatus.choices)
    user = user_reference()
    at = models.DateTimeField()
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("case step")
        verbose_name_plural = _("case steps")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.from_status} → {self.to_status}"


class MediationSession(models.Model):
    """A mediation meeting (in person or by remote video) and its minutes."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="sessions")
    scheduled_at = models.DateTimeField(_("date and time"))
    place = models.CharField(_("place"), max_length=128, blank=True)
    video_link = models.URLField(_("remote video link"), max_length=300, blank=True)
    attendees = models.CharField(_("attendees"), max_length=500, blank=True)
    minutes = models.TextField(_("minutes"), blank=True, validators=[MaxLengthValidator(TEXT_MAX)])
    held = models.BooleanField(_("held"), default=False)
    created_by = user_reference()

    class Meta:
        verbose_name = _("mediation session")
        verbose_name_plural = _("mediation sessions")
        ordering = ["scheduled_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.scheduled_at:%Y-%m-%d %H:%M}"


class Agreement(models.Model):
    """调解协议 — the terms the parties agreed to, with the amount and when it was signed."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="agreements")
    terms = models.TextField(_("terms"), validators=[MaxLengthValidator(TEXT_MAX)])
    amount = models.DecimalField(
        _("amount agreed (yuan)"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    signed_on = models.DateField(_("signed on"))
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        ordering = ["signed_on", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.signed_on}"


class Attachment(models.Model):
    """A photo (kept with a thumbnail) or PDF of a case, session or agreement (signatures, evidence)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    session = models.ForeignKey(
        MediationSession, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    agreement = models.ForeignKey(
        Agreement, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(_("type"), max_length=8, choices=AttachmentKind.choices)
    name = models.CharField(_("file name"), max_length=128)
    file = models.CharField(max_length=255)
    thumbnail = models.CharField(max_length=255, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = user_reference()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name
