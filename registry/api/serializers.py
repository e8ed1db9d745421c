"""Serializers of the registry API: they validate (via the model), they never write.

Personal identifiers (``registry.masking.PII_FIELDS``) leave masked unless the view says
the user holds ``pii.view`` (``context["mask_pii"] = False``); masked is the default, so a
serializer used without that context never leaks them.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from district.api.base import ModelCleanSerializer
from district.api.fields import STRICT_FIELD_MAPPING
from registry.choices import POLICE_ONLY_TAGS
from registry.masking import is_masked_copy, mask_value, pii_fields, visible_tags
from registry.models import Address, House, Lease, Organisation, Person, Vehicle

MASKED_HELP = (
    "Masked (e.g. 3701**********123X, 138****5678) unless you hold pii.view at this compound. "
    "Sending the masked value back keeps the recorded one."
)


def masked_help(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``extra_kwargs`` that document the masking of each named field in the OpenAPI schema."""
    return {name: {"help_text": MASKED_HELP, **options} for name, options in extra.items()}


class AddressSerializer(serializers.ModelSerializer):
    serializer_field_mapping = STRICT_FIELD_MAPPING

    class Meta:
        model = Address
        fields = ["id", "level", "parent", "number", "code", "full_name"]
        read_only_fields = ["level", "code", "full_name"]


@extend_schema_field(
    {"type": "string", "pattern": r"^[0-9]{4}-([0-9]{2}-[0-9]{2}|\*\*-\*\*)$", "example": "1980-**-**"}
)
class MaskedDateField(serializers.DateField):
    """A date that leaves as ``1980-**-**`` when masked: in the schema a string, not a ``format: date``."""


class MaskedPiiSerializer(ModelCleanSerializer):
    """Masks the model's personal identifiers on the way out; a masked copy sent back keeps the real one."""

    def build_field(self, field_name: str, info: Any, model_class: Any, nested_depth: int) -> tuple[Any, Any]:
        field_class, kwargs = super().build_field(field_name, info, model_class, nested_depth)
        if pii_fields(model_class).get(field_name) == "date":
            field_class = MaskedDateField
        return field_class, kwargs

    def to_representation(self, instance: models.Model) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("mask_pii", True):
            for name, kind in pii_fields(self.Meta.model).items():
                if data.get(name):
                    data[name] = mask_value(kind, data[name])
        return data

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # A client that GETs a record and PUTs it back unchanged sends the masks: that means
        # "unchanged", never "store 3701**********123X" (which would also fail validation).
        if isinstance(self.instance, models.Model) and hasattr(data, "copy"):
            data = data.copy()
            for name, kind in pii_fields(self.Meta.model).items():
                recorded = getattr(self.instance, name)
                if name in data and isinstance(recorded, str) and is_masked_copy(kind, data[name], recorded):
                    data[name] = recorded
        return super().to_internal_value(data)


class PersonSerializer(MaskedPiiSerializer):
    class Meta:
        model = Person
        fields = [
            "id",
            "name",
            "id_type",
            "id_number",
            "nationality",
            "birth_date",
            "sex",
            "phone",
            "residence_type",
            "house",
            "relation",
            "move_in_date",
            "move_out_date",
            "tags",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["birth_date", "sex", "created_at", "updated_at"]
        extra_kwargs = masked_help(
            id_number={},
            phone={},
            birth_date={"help_text": "Only the year (1980-**-**) unless you hold pii.view at this compound."},
        )
        # Uniqueness is checked by the save action on the normalised number, once the rest is
        # valid (registry.actions.check_identity_free), not on the raw input.
        validators: list = []

    # 重点人员 is police information (issue #7): only a view that says the user holds
    # registry.key_person here (context["police_tags"]) shows it or accepts it; hidden is the
    # default. A record saved without it keeps the recorded one (registry.actions).
    def to_representation(self, instance: models.Model) -> dict[str, Any]:
        data = super().to_representation(instance)
        if "tags" in data:
            data["tags"] = visible_tags(data["tags"], police=self.context.get("police_tags", False))
        return data

    def validate_tags(self, value: list[str]) -> list[str]:
        # Refused whatever the record holds: accepted for a key person only, it would tell.
        if not self.context.get("police_tags", False) and set(value) & POLICE_ONLY_TAGS:
            raise serializers.ValidationError(_("Only police roles may set or clear the key-person tag."))
        return value


class HouseSerializer(MaskedPiiSerializer):
    address_name = serializers.CharField(source="address.full_name", read_only=True)

    class Meta:
        model = House
        fields = [
            "id",
            "address",
            "address_name",
            "use",
            "area_sqm",
            "owner_name",
            "owner_id_number",
            "owner_phone",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = masked_help(owner_id_number={}, owner_phone={})


class LeaseSerializer(ModelCleanSerializer):
    class Meta:
        model = Lease
        fields = ["id", "house", "tenant", "start_date", "end_date", "created_at"]
        read_only_fields = ["created_at"]
        validators: list = []


class OrganisationSerializer(MaskedPiiSerializer):
    class Meta:
        model = Organisation
        fields = [
            "id",
            "name",
            "uscc",
            "kind",
            "address",
            "address_detail",
            "legal_representative",
            "contact_name",
            "contact_phone",
            "staff_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = masked_help(contact_phone={})


class VehicleSerializer(ModelCleanSerializer):
    class Meta:
        model = Vehicle
        fields = ["id", "plate", "plate_kind", "vehicle_type", "brand", "colour", "owner", "created_at", "updated_at"]
        read_only_fields = ["plate_kind", "created_at", "updated_at"]
