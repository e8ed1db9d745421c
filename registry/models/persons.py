"""Persons (实有人口)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from pypinyin import Style, lazy_pinyin

from registry.choices import IdType, PersonTag, RelationToHouse, ResidenceType, Sex
from registry.validators import (
    NOTES_MAX_LENGTH,
    check_id_number,
    check_phone,
    normalise,
    normalised_or_raw,
    validate_phone,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

__all__ = ["IDENTITY_CONSTRAINT", "Person", "name_search_keys"]

IDENTITY_CONSTRAINT = "person_identity_unique"


def name_search_keys(name: str) -> tuple[str, str]:
    """The pinyin of a name and its initials, lower case, letters and digits only.

    ``("zhangwei", "zw")`` for 张伟; letters of a non-Chinese name are kept as typed
    (``"johnli"``, ``"jl"`` for "John 李"). Searched by the registry's ``q`` and the persons'
    sort key after the address, so a list reads in pinyin order, not in Unicode code-point order.
    """
    syllables = [
        re.sub(r"[^a-z0-9]", "", part.lower())
        for chunk in lazy_pinyin(name or "", style=Style.NORMAL)
        for part in re.split(r"[^A-Za-z0-9]+", chunk)
    ]
    syllables = [s for s in syllables if s]
    return "".join(syllables)[:128], "".join(s[0] for s in syllables)[:64]


class Person(models.Model):
    """实有人口 — a person who lives (or lived) in the compound.

    ``(id_type, id_number)`` identifies a person; for resident ID cards the birth date and
    sex are derived from the number (GB 11643), never typed in separately.
    """

    name = models.CharField(_("full name"), max_length=64)
    id_type = models.CharField(_("ID type"), max_length=16, choices=IdType.choices, default=IdType.RESIDENT_ID)
    id_number = models.CharField(_("ID number"), max_length=32)
    nationality = models.CharField(_("nationality"), max_length=3, default="CHN", help_text=_("ISO 3166 alpha-3"))
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_phone])
    residence_type = models.CharField(
        _("residence type"), max_length=16, choices=ResidenceType.choices, default=ResidenceType.PERMANENT
    )
    house = models.ForeignKey(
        "registry.House",
        verbose_name=_("house"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="residents",
    )
    relation = models.CharField(_("relation to house"), max_length=16, choices=RelationToHouse.choices, blank=True)
    move_in_date = models.DateField(_("move-in date"), null=True, blank=True)
    move_out_date = models.DateField(_("move-out date"), null=True, blank=True)
    tags = ArrayField(
        models.CharField(max_length=32, choices=PersonTag.choices), verbose_name=_("tags"), default=list, blank=True
    )
    # max_length bounds forms and the API; the validator bounds full_clean (the Excel import).
    # Derived from ``name`` by clean() and save() (:func:`name_search_keys`), never typed in.
    name_pinyin = models.CharField(_("name in pinyin"), max_length=128, blank=True, default="", editable=False)
    name_initials = models.CharField(_("pinyin initials"), max_length=64, blank=True, default="", editable=False)
    notes = models.TextField(
        _("notes"), blank=True, max_length=NOTES_MAX_LENGTH, validators=[MaxLengthValidator(NOTES_MAX_LENGTH)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        # By address, then by name in pinyin (never by Unicode code point).
        ordering = ["house__address__code", "name_pinyin", "id"]
        constraints = [
            models.UniqueConstraint(fields=["id_type", "id_number"], name=IDENTITY_CONSTRAINT),
            models.CheckConstraint(
                condition=models.Q(move_out_date__isnull=True)
                | models.Q(move_in_date__isnull=True)
                | models.Q(move_out_date__gte=models.F("move_in_date")),
                name="person_moves_in_before_out",
            ),
        ]
        indexes = [
            models.Index(fields=["phone"], name="person_phone"),
            models.Index(fields=["name"], name="person_name"),
            # varchar_pattern_ops: the prefix searches (LIKE 'zh%') use them whatever the collation.
            models.Index(fields=["name_pinyin"], name="person_name_pinyin", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["name_initials"], name="person_name_initials", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Keep the pinyin keys in step with the name, also for writes that skip clean()."""
        self.name_pinyin, self.name_initials = name_search_keys(self.name)
        super().save(*args, **kwargs)

    def get_constraints(self) -> list[tuple[type[models.Model], Sequence[models.BaseConstraint]]]:
        """The constraints ``full_clean`` checks: all but the identity's uniqueness.

        "This ID number is already registered" is answered only by
        ``registry.actions.check_identity_free``, once everything else is valid: for a user who
        sees ID numbers masked it is a lookup that is audited and rate-limited (issue #7), and
        a form or serializer must not answer it on its own. The database still enforces it.
        """
        return [
            (model, [c for c in constraints if c.name != IDENTITY_CONSTRAINT])
            for model, constraints in super().get_constraints()
        ]

    def clean(self) -> None:
        """Normalise the identity document and derive birth date and sex from a resident ID."""
        errors: dict[str, Sequence[StrOrPromise]] = {}
        if self.id_type == IdType.RESIDENT_ID:
            try:
                facts = check_id_number(self.id_number)
            except ValidationError as exc:
                errors["id_number"] = exc.messages
            else:
                self.id_number, self.birth_date, self.sex = facts.number, facts.birth_date, facts.sex
                self.nationality = "CHN"
        else:
            self.id_number = normalise(self.id_number)
            if not re.fullmatch(r"[A-Z0-9]{5,20}", self.id_number):
                errors["id_number"] = [_("A document number has 5 to 20 letters and digits.")]
        if self.phone:
            self.phone = normalised_or_raw(check_phone, self.phone)
        self.name = (self.name or "").strip()
        self.name_pinyin, self.name_initials = name_search_keys(self.name)
        self.tags = sorted(set(self.tags or []))
        if errors:
            raise ValidationError(errors)

    @property
    def is_resident(self) -> bool:
        """Still living here (no move-out date)."""
        return self.move_out_date is None
