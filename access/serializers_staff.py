"""Serializers of the access staff API: they validate and shape, they never write (STYLE.md §4).

Photos and scans arrive as a multipart upload or, in JSON, as base64 text; either way they are
bounded before they are decoded. No serializer ever returns a face encoding, a device secret's
hash, or a stored file's name.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from access.actions import CONSENT_DOCUMENT_MAX_BYTES, DEVICE_ADDRESS_LEVELS, normalise_card_number
from access.choices import ConsentMethod, DeviceStatus
from access.models import BiometricConsent, Card, Device, FaceTemplate
from district.api.base import ModelCleanSerializer
from district.api.fields import STRICT_FIELD_MAPPING
from events.models import DeviceIndex
from registry.models import Address, Person

MB = 1024 * 1024


def base64_length(size: int) -> int:
    """Characters of the base64 text of ``size`` bytes."""
    return 4 * math.ceil(size / 3)


class UploadField(serializers.Field):
    """A file as a multipart upload, or as base64 text in a JSON body; the bytes once bounded."""

    default_error_messages = {
        "invalid": _("Send the file as a multipart upload or as base64 text."),
        "empty": _("The file is empty."),
        "too_large": _("The file is larger than %(mb)d MB."),
    }

    def __init__(self, *, max_bytes: int, **kwargs: Any) -> None:
        self.max_bytes = max_bytes
        kwargs.setdefault("write_only", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:
        if hasattr(data, "read") and hasattr(data, "size"):
            if (data.size or 0) > self.max_bytes:
                self.fail("too_large", mb=self.max_bytes // MB)
            raw: bytes = data.read()
        elif isinstance(data, str):
            if len(data) > base64_length(self.max_bytes):
                self.fail("too_large", mb=self.max_bytes // MB)
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                self.fail("invalid")
        else:
            self.fail("invalid")
        if not raw:
            self.fail("empty")
        return raw

    def to_representation(self, value: Any) -> Any:  # write-only
        return None


@extend_schema_field(
    {
        "type": "string",
        "format": "byte",
        "maxLength": base64_length(settings.ACCESS_IMAGE_MAX_BYTES),
        "description": "A JPEG or PNG photo, base64-encoded (or the file itself in a multipart/form-data upload).",
    }
)
class PhotoField(UploadField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_bytes=settings.ACCESS_IMAGE_MAX_BYTES, **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "format": "byte",
        "maxLength": base64_length(CONSENT_DOCUMENT_MAX_BYTES),
        "description": "The scan of the signed form (JPEG, PNG or PDF, at most 5 MB), base64-encoded "
        "(or the file itself in a multipart/form-data upload).",
    }
)
class DocumentField(UploadField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_bytes=CONSENT_DOCUMENT_MAX_BYTES, **kwargs)


# --- Devices --------------------------------------------------------------------------------------


def device_addresses() -> Any:
    return Address.objects.filter(level__in=DEVICE_ADDRESS_LEVELS)


class DeviceSerializer(serializers.ModelSerializer):
    """A device as staff see it: its place, status and online state (from the public device index)."""

    serializer_field_mapping = STRICT_FIELD_MAPPING
    online = serializers.SerializerMethodField(help_text="Seen within ACCESS_DEVICE_OFFLINE_AFTER seconds.")
    last_seen_at = serializers.SerializerMethodField()
    revoked_at = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id",
            "uid",
            "name",
            "kind",
            "direction",
            "gate",
            "address",
            "status",
            "online",
            "last_seen_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields

    def _index(self, device: Device) -> DeviceIndex | None:
        # The viewset attaches the page's index rows (one query); a lone device reads its own.
        if not hasattr(device, "index_row"):
            device.index_row = DeviceIndex.objects.filter(uid=device.uid).first()  # type: ignore[attr-defined]
        index: DeviceIndex | None = device.index_row  # type: ignore[attr-defined]
        return index

    def get_online(self, device: Device) -> bool:
        index = self._index(device)
        return index is not None and index.is_online(self.context.get("now") or timezone.now())

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_last_seen_at(self, device: Device) -> Any:
        index = self._index(device)
        return index.last_seen_at.isoformat() if index is not None and index.last_seen_at else None

    @extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
    def get_revoked_at(self, device: Device) -> Any:
        index = self._index(device)
        return index.revoked_at.isoformat() if index is not None and index.revoked_at else None


class DeviceCreateSerializer(serializers.ModelSerializer):
    """What a new device needs: name, type, direction, and its gate or building/unit."""

    serializer_field_mapping = STRICT_FIELD_MAPPING
    address = serializers.PrimaryKeyRelatedField(
        queryset=device_addresses(), allow_null=True, required=False, help_text="A building or unit address."
    )

    class Meta:
        model = Device
        fields = ["name", "kind", "direction", "gate", "address"]
        extra_kwargs = {"direction": {"required": False}, "gate": {"required": False}}


class DeviceUpdateSerializer(DeviceCreateSerializer):
    """A device's editable fields, and ``status`` to disable or enable it (revoke has its own action)."""

    status = serializers.ChoiceField(
        choices=[(s.value, s.label) for s in (DeviceStatus.ACTIVE, DeviceStatus.DISABLED)], required=False
    )

    class Meta(DeviceCreateSerializer.Meta):
        fields = [*DeviceCreateSerializer.Meta.fields, "status"]


class DeviceCredentialSerializer(DeviceSerializer):
    """A device with its credential: the only answer that ever carries the secret."""

    secret = serializers.CharField(read_only=True, help_text="Shown once; only its SHA-256 is stored.")
    token = serializers.CharField(read_only=True, help_text="`<uid>.<secret>`, what the device presents.")
    authorization = serializers.CharField(read_only=True, help_text="The HTTP header the device sends.")

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "secret", "token", "authorization"]
        read_only_fields = fields


def credential_data(device: Device, secret: str, context: dict[str, Any]) -> dict[str, Any]:
    token = f"{device.uid}.{secret}"
    data = dict(DeviceSerializer(device, context=context).data)
    data.update(secret=secret, token=token, authorization=f"Device {token}")
    return data


# --- Consent, faces, cards -------------------------------------------------------------------------


def persons() -> Any:
    return Person.objects.all()


class ConsentSerializer(serializers.ModelSerializer):
    """A recorded consent; ``has_document`` says whether a scan of the signed form is kept."""

    serializer_field_mapping = STRICT_FIELD_MAPPING
    has_document = serializers.SerializerMethodField()
    recorded_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    withdrawn_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = BiometricConsent
        fields = [
            "id",
            "person",
            "method",
            "given_at",
            "has_document",
            "recorded_by",
            "recorded_at",
            "withdrawn_at",
            "withdrawn_by",
        ]
        read_only_fields = fields

    def get_has_document(self, consent: BiometricConsent) -> bool:
        return bool(consent.document)


class ConsentCreateSerializer(serializers.Serializer):
    """Who consented, how and when (not in the future), with an optional scan of the signed form."""

    person = serializers.PrimaryKeyRelatedField(queryset=persons())
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    given_at = serializers.DateTimeField()
    document = DocumentField(required=False)


class FaceSerializer(serializers.ModelSerializer):
    """An enrolled photo: never its encoding; ``photo_url`` is the permission-checked thumbnail."""

    photo_url = serializers.SerializerMethodField()

    class Meta:
        model = FaceTemplate
        fields = ["id", "person", "consent", "created_at", "photo_url"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "uri-reference"})
    def get_photo_url(self, face: FaceTemplate) -> str:
        return reverse("access:face_photo", kwargs={"compound": self.context["compound_code"], "pk": face.pk})


class FaceCreateSerializer(serializers.Serializer):
    """One photo of one face of a person who has consented."""

    person = serializers.PrimaryKeyRelatedField(queryset=persons())
    image = PhotoField()


class CardSerializer(ModelCleanSerializer):
    """An IC card of a person; the number is normalised (``12 ab-34`` → ``12AB34``) and unique."""

    class Meta:
        model = Card
        fields = ["id", "number", "person", "active", "valid_until", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_number(self, value: str) -> str:
        return normalise_card_number(value)
