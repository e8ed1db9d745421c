"""Serializers of the registry API: they validate (via the model), they never write."""

from __future__ import annotations

from rest_framework import serializers

from district.api.base import ModelCleanSerializer
from registry.models import Address, House, Lease, Organisation, Person, Vehicle


class AddressSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", "level", "parent", "number", "code", "full_name"]
        read_only_fields = ["level", "code", "full_name"]


class PersonSerializer(ModelCleanSerializer):
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
        # Uniqueness is checked by full_clean on the normalised number, not on the raw input.
        validators: list = []


class HouseSerializer(ModelCleanSerializer):
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


class LeaseSerializer(ModelCleanSerializer):
    class Meta:
        model = Lease
        fields = ["id", "house", "tenant", "start_date", "end_date", "created_at"]
        read_only_fields = ["created_at"]
        validators: list = []


class OrganisationSerializer(ModelCleanSerializer):
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


class VehicleSerializer(ModelCleanSerializer):
    class Meta:
        model = Vehicle
        fields = ["id", "plate", "plate_kind", "vehicle_type", "brand", "colour", "owner", "created_at", "updated_at"]
        read_only_fields = ["plate_kind", "created_at", "updated_at"]
