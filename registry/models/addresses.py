"""Standard addresses (一标): building → unit → floor → room."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.choices import AddressLevel

__all__ = ["Address"]

# Digits each level adds to the standard-address code, after the compound's code.
CODE_WIDTH: dict[str, int] = {
    AddressLevel.BUILDING: 3,
    AddressLevel.UNIT: 2,
    AddressLevel.FLOOR: 3,
    AddressLevel.ROOM: 4,
}
CHILD_LEVEL: dict[str, str | None] = {
    AddressLevel.BUILDING: AddressLevel.UNIT,
    AddressLevel.UNIT: AddressLevel.FLOOR,
    AddressLevel.FLOOR: AddressLevel.ROOM,
    AddressLevel.ROOM: None,
}
SUFFIX: dict[str, str] = {
    AddressLevel.BUILDING: "号楼",
    AddressLevel.UNIT: "单元",
    AddressLevel.FLOOR: "层",
    AddressLevel.ROOM: "室",
}


class Address(models.Model):
    """标准地址 — one node of the compound's address tree, with a stable standard-address code.

    The code is the parent's code plus this node's sequence number under its parent, fixed
    when the node is created: renaming "3号楼" never changes the code printed on its door plate.
    """

    level = models.CharField(_("level"), max_length=16, choices=AddressLevel.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    number = models.CharField(_("number"), max_length=16, help_text=_("e.g. 3, 2, 5, 502"))
    seq = models.PositiveIntegerField(editable=False)
    code = models.CharField(_("standard-address code"), max_length=32, unique=True, editable=False)
    full_name = models.CharField(_("full address"), max_length=128, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("standard address")
        verbose_name_plural = _("standard addresses")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "number"], name="address_number_unique_in_parent"),
            models.UniqueConstraint(
                fields=["number"], condition=models.Q(parent__isnull=True), name="building_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def label(self) -> str:
        """This node's own name, e.g. "502室"."""
        return f"{self.number}{SUFFIX[self.level]}"
