"""Serializer fields stricter than DRF's, so that the API refuses what its schema says it refuses."""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """Text that must arrive as a JSON string: DRF's CharField also takes ``0`` or ``1.5`` and stores "0"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# ModelSerializer.serializer_field_mapping with the text fields strict (``type: string`` in the schema).
STRICT_FIELD_MAPPING: dict[type[models.Field], type[serializers.Field]] = {
    **serializers.ModelSerializer.serializer_field_mapping,
    models.CharField: StrictCharField,
    models.TextField: StrictCharField,
}
