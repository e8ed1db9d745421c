"""Serializers of the public API (admin areas and compounds)."""

from rest_framework import serializers

from district.models import Area
from tenants.models import Compound


class AreaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["id", "level", "code", "name", "parent"]


class CompoundSerializer(serializers.ModelSerializer):
    street_name = serializers.CharField(source="street.name", read_only=True)

    class Meta:
        model = Compound
        fields = [
            "id",
            "code",
            "name",
            "street",
            "street_name",
            "address",
            "latitude",
            "longitude",
            "plan",
            "population",
        ]
