"""The compound tenant and its routing domain (public schema)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin

from tenants.choices import PlanTier

__all__ = ["Compound", "Domain", "schema_name_for"]


def schema_name_for(code: str) -> str:
    """The PostgreSQL schema of the compound with this code (schema names may not start with a digit)."""
    return f"c{code}"


class Compound(TenantMixin):
    """小区 — a residential compound under a street; its registry lives in its own schema.

    ``code`` is the street's division code plus a 3-digit sequence; it is the compound's
    standard-address prefix and its URL segment (``/c/<code>/``).
    """

    street = models.ForeignKey(
        "district.Area",
        verbose_name=_("street"),
        on_delete=models.PROTECT,
        related_name="compounds",
        limit_choices_to={"level": "street"},
    )
    code = models.CharField(
        _("compound code"),
        max_length=15,
        unique=True,
        validators=[RegexValidator(r"^\d{12,15}$", _("A compound code has 12 to 15 digits."))],
    )
    name = models.CharField(_("name"), max_length=64)
    address = models.CharField(_("address"), max_length=255, blank=True)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    plan = models.CharField(_("plan tier"), max_length=16, choices=PlanTier.choices, default=PlanTier.BASIC)
    population = models.PositiveIntegerField(_("population"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    # Schemas are provisioned by tenants.actions.do_create_compound (tenants.provisioning),
    # never as a side effect of a bare save().
    auto_create_schema = False
    auto_drop_schema = True

    class Meta:
        verbose_name = _("compound")
        verbose_name_plural = _("compounds")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Domain(DomainMixin):
    """The routing key of a compound: its URL segment under ``/c/`` (django-tenants' domain row)."""

    class Meta:
        verbose_name = _("compound route")
        verbose_name_plural = _("compound routes")
