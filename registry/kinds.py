"""The registry's record kinds, described once for the generic pages (list, detail, form)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry import actions, filtersets
from registry import forms as registry_forms
from registry.choices import POLICE_ONLY_TAGS, HouseUse, OrganisationKind, PersonTag, PlateKind
from registry.masking import mask_value, pii_fields, visible_tags
from registry.models import House, Lease, Organisation, Person, Vehicle


@dataclass(frozen=True)
class Kind:
    """One record kind: its model, form, save action, list columns and filterset (search and tag)."""

    slug: str
    model: type[models.Model]
    form: type[forms.ModelForm]
    save: Callable[..., models.Model]
    columns: tuple[str, ...]
    filterset: type[filtersets.RegistryFilterSet]
    filter_label: Any
    filter_choices: Any
    excel: bool = False  # has an Excel export (import and template: registry.excel.columns.SPECS)

    @property
    def title(self) -> str:
        return str(self.model._meta.verbose_name_plural)

    @property
    def singular(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def pii(self) -> dict[str, str]:
        """This kind's personal-identifier fields: ``{"id_number": "id", "phone": "phone"}``."""
        return pii_fields(self.model)

    def tag_choices(self, *, police: bool = False) -> list[tuple[str, Any]]:
        """The choices of the list's filter; the police-only tags (重点人员) only for ``police``."""
        return [(value, label) for value, label in self.filter_choices if police or value not in POLICE_ONLY_TAGS]

    def cell(self, obj: models.Model, name: str, *, masked: bool = False, police: bool = False) -> str:
        """The display text of one column of one row.

        ``masked`` hides ID numbers and phones; police-only tags (重点人员) are shown only with
        ``police`` (the user holds ``registry.key_person`` here).
        """
        if masked and name in self.pii:
            return mask_value(self.pii[name], getattr(obj, name))
        display = getattr(obj, f"get_{name}_display", None)
        if display is not None:
            return str(display())
        value: Any = obj
        for part in name.split("__"):
            value = getattr(value, part, None) if value is not None else None
        if name == "tags":
            labels = dict(PersonTag.choices)
            return "、".join(str(labels.get(t, t)) for t in visible_tags(value, police=police))
        return "" if value is None else str(value)

    def header(self, name: str) -> str:
        field_name = name.split("__")[0]
        # Columns name the model's own fields, never a reverse relation (which has no verbose_name).
        return str(cast(models.Field, self.model._meta.get_field(field_name)).verbose_name)


KINDS: dict[str, Kind] = {
    "persons": Kind(
        slug="persons",
        model=Person,
        form=registry_forms.PersonForm,
        save=actions.do_save_person,
        columns=("name", "id_number", "sex", "phone", "residence_type", "house", "tags"),
        filterset=filtersets.PersonFilterSet,
        filter_label=_("tags"),
        filter_choices=PersonTag.choices,
        excel=True,
    ),
    "houses": Kind(
        slug="houses",
        model=House,
        form=registry_forms.HouseForm,
        save=actions.do_save_house,
        columns=("address", "use", "area_sqm", "owner_name", "owner_phone"),
        filterset=filtersets.HouseFilterSet,
        filter_label=pgettext_lazy("house", "use"),  # the field's own label (models/houses.py)
        filter_choices=HouseUse.choices,
        excel=True,
    ),
    "leases": Kind(
        slug="leases",
        model=Lease,
        form=registry_forms.LeaseForm,
        save=actions.do_save_lease,
        columns=("tenant", "house", "start_date", "end_date"),
        filterset=filtersets.LeaseFilterSet,
        filter_label=_("status"),
        filter_choices=[("current", _("current"))],
        excel=True,
    ),
    "organisations": Kind(
        slug="organisations",
        model=Organisation,
        form=registry_forms.OrganisationForm,
        save=actions.do_save_organisation,
        columns=("name", "uscc", "kind", "contact_name", "contact_phone", "staff_count"),
        filterset=filtersets.OrganisationFilterSet,
        filter_label=pgettext_lazy("organisation", "kind"),  # the field's own label (models/organisations.py)
        filter_choices=OrganisationKind.choices,
        excel=True,
    ),
    "vehicles": Kind(
        slug="vehicles",
        model=Vehicle,
        form=registry_forms.VehicleForm,
        save=actions.do_save_vehicle,
        columns=("plate", "plate_kind", "vehicle_type", "brand", "colour", "owner"),
        filterset=filtersets.VehicleFilterSet,
        filter_label=_("plate kind"),
        filter_choices=PlateKind.choices,
        excel=True,
    ),
}
