"""Units (实有单位): organisations in the compound."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.choices import OrganisationKind
from registry.validators import (
    check_phone,
    check_uscc,
    normalised_or_raw,
    validate_phone,
    validate_uscc,
)

__all__ = ["Organisation"]


class Organisation(models.Model):
    """实有单位 — a shop, enterprise or small premises (九小场所) in the compound.

    Named Organisation because "unit" already means a building's 单元 in the address tree.
    """

    # Labels in the "organisation" context: their Chinese words are the Excel headers (单位名称,
    # 单位类型, registry/excel/columns.py); the plain "name" and "kind" of other models say 名称, 类型.
    name = models.CharField(pgettext_lazy("organisation", "name"), max_length=128)
    uscc = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, null=True, blank=True, validators=[validate_uscc]
    )
    kind = models.CharField(
        pgettext_lazy("organisation", "kind"),
        max_length=16,
        choices=OrganisationKind.choices,
        default=OrganisationKind.SHOP,
    )
    address = models.ForeignKey(
        "registry.Address",
        verbose_name=_("address"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="organisations",
    )
    address_detail = models.CharField(_("address detail"), max_length=128, blank=True)
    legal_representative = models.CharField(_("legal representative"), max_length=64, blank=True)
    contact_name = models.CharField(_("contact"), max_length=64, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True, validators=[validate_phone])
    staff_count = models.PositiveIntegerField(_("staff count"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Store the credit code normalised; an empty code is no code (NULL, so it is not unique)."""
        self.uscc = normalised_or_raw(check_uscc, self.uscc) if self.uscc else None
        if self.contact_phone:
            self.contact_phone = normalised_or_raw(check_phone, self.contact_phone)
