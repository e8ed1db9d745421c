"""The city's mediator roster and each compound's mediation figures (public schema)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["CaseFigures", "Mediator", "MediatorKind"]


class MediatorKind(models.TextChoices):
    POLICE = "police", _("Police officer")
    COMMUNITY_WORKER = "community_worker", _("Community worker")
    PEOPLES_MEDIATOR = "peoples_mediator", _("People's mediator")
    LAWYER = "lawyer", _("Lawyer")
    CHAMBER_OF_COMMERCE = "chamber_of_commerce", _("Chamber of commerce")
    BUSINESS_ASSOCIATION = "business_association", _("Business association")
    ENTERPRISE_MANAGER = "enterprise_manager", _("Enterprise manager")
    HOMETOWN_ASSOCIATION = "hometown_association", _("Home-town association")


class Mediator(models.Model):
    """A person or organisation who mediates disputes in the city (红枫之家: lawyers, 商会, 老乡会 …).

    ``user`` is their sign-in, when they have one: assigning them to a case grants that user
    per-object permissions on the case in the compound's schema.
    """

    city = models.ForeignKey(
        "district.Area", on_delete=models.PROTECT, related_name="+", limit_choices_to={"level": "city"}
    )
    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(_("kind"), max_length=24, choices=MediatorKind.choices)
    organisation = models.CharField(_("organisation"), max_length=128, blank=True)
    specialties = ArrayField(models.CharField(max_length=24), verbose_name=_("specialties"), default=list, blank=True)
    home_province = models.CharField(_("home province"), max_length=16, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    remote = models.BooleanField(_("mediates by remote video"), default=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="mediator_profile"
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("mediator")
        verbose_name_plural = _("mediators")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CaseFigures(models.Model):
    """One compound's mediation figures for one category and status, refreshed from its schema.

    Street, district and city statistics sum these rows; nothing above a compound reads a
    compound schema. Refreshed by a job deferred with every case change.
    """

    compound = models.ForeignKey("tenants.Compound", on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=24)
    status = models.CharField(max_length=16)
    cases = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)
    days_to_conclude = models.PositiveIntegerField(default=0)  # summed over concluded cases
    concluded = models.PositiveIntegerField(default=0)
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("case figures")
        verbose_name_plural = _("case figures")
        constraints = [models.UniqueConstraint(fields=["compound", "category", "status"], name="case_figures_unique")]

    def __str__(self) -> str:
        return f"{self.compound_id} {self.category} {self.status}: {self.cases}"
