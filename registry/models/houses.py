"""Houses (实有房屋) and their leases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.choices import HouseUse
from registry.validators import (
    NOTES_MAX_LENGTH,
    check_id_number,
    check_phone,
    normalised_or_raw,
    validate_phone,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = ["House", "Lease"]


class House(models.Model):
    """实有房屋 — a dwelling or room at a standard address (a room node of the address tree)."""

    address = models.OneToOneField(
        "registry.Address",
        verbose_name=_("address"),
        on_delete=models.PROTECT,
        related_name="house",
        limit_choices_to={"level": "room"},
    )
    # Labels in the "house" context, so that their Chinese words can be the Excel headers (房屋用途,
    # 面积; registry/excel/columns.py): the plain "use" is shared with other models and says 用途.
    use = models.CharField(
        pgettext_lazy("house", "use"), max_length=16, choices=HouseUse.choices, default=HouseUse.OWNER_OCCUPIED
    )
    area_sqm = models.DecimalField(
        pgettext_lazy("house", "floor area (m²)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    owner_name = models.CharField(_("owner name"), max_length=64, blank=True)
    owner_id_number = models.CharField(_("owner ID number"), max_length=32, blank=True)
    owner_phone = models.CharField(_("owner phone"), max_length=20, blank=True, validators=[validate_phone])
    # max_length bounds forms and the API; the validator bounds full_clean (the Excel import).
    notes = models.TextField(
        _("notes"), blank=True, max_length=NOTES_MAX_LENGTH, validators=[MaxLengthValidator(NOTES_MAX_LENGTH)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("house")
        verbose_name_plural = _("houses")
        ordering = ["address__code"]

    def __str__(self) -> str:
        return self.address.full_name

    def clean(self) -> None:
        """A house sits at a room address; the owner's ID number and phone are checked."""
        errors: dict[str, Sequence[StrOrPromise]] = {}
        if self.address_id and self.address.level != "room":
            errors["address"] = [_("A house must be at a room address.")]
        if self.owner_id_number:
            try:
                self.owner_id_number = check_id_number(self.owner_id_number).number
            except ValidationError as exc:
                errors["owner_id_number"] = exc.messages
        if self.owner_phone:
            self.owner_phone = normalised_or_raw(check_phone, self.owner_phone)
        if errors:
            raise ValidationError(errors)


class Lease(models.Model):
    """租赁 — a tenant's lease of a house, with its dates."""

    house = models.ForeignKey(
        "registry.House", verbose_name=_("house"), on_delete=models.CASCADE, related_name="leases"
    )
    tenant = models.ForeignKey(
        "registry.Person", verbose_name=_("tenant"), on_delete=models.CASCADE, related_name="leases"
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("lease")
        verbose_name_plural = _("leases")
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True) | models.Q(end_date__gte=models.F("start_date")),
                name="lease_ends_after_start",
            ),
            models.UniqueConstraint(fields=["house", "tenant", "start_date"], name="lease_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} @ {self.house}"
