"""Vehicles registered to residents."""

from __future__ import annotations

import contextlib

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.choices import PlateKind, VehicleType
from registry.validators import check_plate, validate_plate

__all__ = ["Vehicle"]


class Vehicle(models.Model):
    """车辆 — a motor vehicle of the compound, keyed by its normalised plate number."""

    plate = models.CharField(_("plate number"), max_length=16, unique=True, validators=[validate_plate])
    plate_kind = models.CharField(_("plate kind"), max_length=16, choices=PlateKind.choices, editable=False)
    vehicle_type = models.CharField(_("vehicle type"), max_length=16, choices=VehicleType.choices, default="car")
    brand = models.CharField(_("brand"), max_length=32, blank=True)
    colour = models.CharField(_("colour"), max_length=16, blank=True)
    owner = models.ForeignKey(
        "registry.Person",
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="vehicles",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        ordering = ["plate"]

    def __str__(self) -> str:
        return self.plate

    def clean(self) -> None:
        """Store the plate normalised (half-width, upper case) with its kind."""
        # A bad plate is reported by the field's own validator; don't report it twice.
        with contextlib.suppress(ValidationError):
            self.plate, self.plate_kind = check_plate(self.plate)
