"""Role assignments at nodes of the tree."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from district.choices import ROLE_LEVEL, AreaLevel, Role

__all__ = ["RoleAssignment"]


class RoleAssignment(models.Model):
    """角色授权 — a user holds a role at one node: an area (city/district/street) or a compound.

    A role at a node covers every compound beneath it. Scope questions are answered in
    ``district.scope``, never by reading these rows ad hoc.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    area = models.ForeignKey(
        "district.Area", verbose_name=_("area"), null=True, blank=True, on_delete=models.CASCADE, related_name="roles"
    )
    compound = models.ForeignKey(
        "tenants.Compound",
        verbose_name=_("compound"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="roles",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        constraints = [
            models.CheckConstraint(
                condition=(Q(area__isnull=False) & Q(compound__isnull=True))
                | (Q(area__isnull=True) & Q(compound__isnull=False)),
                name="role_at_exactly_one_node",
            ),
            models.UniqueConstraint(fields=["user", "role", "area", "compound"], name="role_once_per_node"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} @ {self.area or self.compound}"

    def clean(self) -> None:
        level = ROLE_LEVEL.get(self.role)
        if level is None:
            if self.compound_id is None or self.area_id is not None:
                raise ValidationError(_("This role is held at a compound."))
        elif self.area is None or self.area.level != level:
            raise ValidationError(
                _("This role is held at an area of level %(level)s.") % {"level": AreaLevel(level).label}
            )
