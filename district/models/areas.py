"""The admin-area tree: city → district → street."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from district.choices import AreaLevel

__all__ = ["Area"]

# GB/T 2260 gives 6 digits to cities and districts; streets (乡级) extend them to 9 digits
# (the statistics bureau's 12-digit form is accepted too).
CODE_LENGTHS: dict[str, tuple[int, ...]] = {AreaLevel.CITY: (6,), AreaLevel.DISTRICT: (6,), AreaLevel.STREET: (9, 12)}
PARENT_LEVEL: dict[str, str | None] = {
    AreaLevel.CITY: None,
    AreaLevel.DISTRICT: AreaLevel.CITY,
    AreaLevel.STREET: AreaLevel.DISTRICT,
}


# Area.compounds (the reverse of Compound.street) stays unresolved: Compound's base, django-tenants'
# TenantMixin, ships no types.
class Area(models.Model):  # type: ignore[django-manager-missing]
    """行政区划 — one node of the admin-area tree (city, district or street) with its GB/T 2260 code.

    ``path`` is the slash-joined chain of codes from the city down, so "everything beneath
    this node" is one indexed prefix query.
    """

    level = models.CharField(_("level"), max_length=16, choices=AreaLevel.choices)
    code = models.CharField(
        _("division code"),
        max_length=12,
        unique=True,
        validators=[RegexValidator(r"^\d{6}(\d{3}(\d{3})?)?$", _("A division code has 6, 9 or 12 digits."))],
    )
    name = models.CharField(_("name"), max_length=64)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, editable=False, db_index=True)

    class Meta:
        verbose_name = _("admin area")
        verbose_name_plural = _("admin areas")
        ordering = ["code"]
        indexes = [models.Index(fields=["path"], name="area_path_prefix", opclasses=["varchar_pattern_ops"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        parent = self.parent if self.parent_id else None
        self.path = f"{parent.path}/{self.code}" if parent is not None else self.code
        super().save(*args, **kwargs)

    def clean(self) -> None:
        expected_parent = PARENT_LEVEL.get(self.level)
        if expected_parent is None and self.parent_id:
            raise ValidationError({"parent": _("A city has no parent area.")})
        if expected_parent is not None and (self.parent is None or self.parent.level != expected_parent):
            raise ValidationError(
                {
                    "parent": _("The parent of this area must be a %(level)s.")
                    % {"level": AreaLevel(expected_parent).label}
                }
            )
        if self.code and len(self.code) not in CODE_LENGTHS.get(self.level, ()):
            raise ValidationError({"code": _("This division code has the wrong length for its level.")})
        if self.parent is not None and self.code and not self.code.startswith(self.parent.code[:4]):
            raise ValidationError({"code": _("A division code must start with its parent's prefix.")})

    def ancestors(self) -> list[Area]:
        """From the city down to this area's parent."""
        codes = self.path.split("/")[:-1]
        by_code = {a.code: a for a in Area.objects.filter(code__in=codes)}
        return [by_code[c] for c in codes if c in by_code]
