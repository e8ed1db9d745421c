"""What devices send and what they are answered (``/api/device/v1/``), bounded field by field.

Requests are validated here and nothing else happens here: the views decode images and call the
actions of ``access.gate``. The answer serializers only document the answers in the OpenAPI
schema (the actions build the answers, which are also stored for retried deliveries).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from access.actions import CARD_NUMBER, CARD_NUMBER_MAX, CARD_NUMBER_MIN, normalise_card_number
from access.choices import DeviceKind
from access.gate import Liveness
from events.choices import Decision, Direction
from registry.validators import check_plate, normalise

__all__ = [
    "MAX_READINGS",
    "OLDEST_DELIVERY",
    "READINGS_BY_DEVICE",
    "READING_FLAGS",
    "CardPresentedSerializer",
    "DeviceErrorSerializer",
    "FaceAnswerSerializer",
    "FaceCaptureSerializer",
    "HeartbeatAnswerSerializer",
    "HeartbeatSerializer",
    "IdentityAnswerSerializer",
    "IdentityCheckSerializer",
    "PlateReadSerializer",
    "ReadingKind",
    "ReadingSerializer",
    "ReadingsAnswerSerializer",
    "SensorDeliverySerializer",
    "SingleAnswerSerializer",
]

# A device uploading a backlog after an outage is welcome; a year-old or older time is a broken
# clock, and each month of the past would get a partition of its own.
OLDEST_DELIVERY = timedelta(days=366)
MAX_READINGS = 100


class ReadingKind(models.TextChoices):
    """What a sensor reports (``AccessEvent.reason`` of a ``sensor`` event)."""

    MOTION = "motion", _("Motion")
    DOOR_OPEN = "door_open", _("Door opened")
    DOOR_CLOSED = "door_closed", _("Door closed")
    DOOR_HELD_OPEN = "door_held_open", _("Door held open")
    EBIKE_DETECTED = "ebike_detected", _("E-bike detected")
    FIRE_LANE_BLOCKED = "fire_lane_blocked", _("Fire lane blocked")
    FIRE_LANE_CLEAR = "fire_lane_clear", _("Fire lane clear")
    CROWD_COUNT = "crowd_count", _("Crowd count")


# What each reading says in the event's ``detail``, in the words of the alert models.
READING_FLAGS: dict[str, dict[str, Any]] = {
    ReadingKind.MOTION: {"motion": True},
    ReadingKind.DOOR_OPEN: {"door": "open"},
    ReadingKind.DOOR_CLOSED: {"door": "closed"},
    ReadingKind.DOOR_HELD_OPEN: {"door": "held_open"},
    ReadingKind.EBIKE_DETECTED: {"ebike": True},
    ReadingKind.FIRE_LANE_BLOCKED: {"occupied": True},
    ReadingKind.FIRE_LANE_CLEAR: {"occupied": False},
    ReadingKind.CROWD_COUNT: {},
}

# The readings each kind of sensor may send; a gate sends none.
READINGS_BY_DEVICE: dict[str, frozenset[str]] = {
    DeviceKind.IR_MOTION: frozenset({ReadingKind.MOTION}),
    DeviceKind.DOOR_CONTACT: frozenset({ReadingKind.DOOR_OPEN, ReadingKind.DOOR_CLOSED, ReadingKind.DOOR_HELD_OPEN}),
    DeviceKind.EBIKE_CAMERA: frozenset({ReadingKind.EBIKE_DETECTED}),
    DeviceKind.FIRE_LANE_CAMERA: frozenset({ReadingKind.FIRE_LANE_BLOCKED, ReadingKind.FIRE_LANE_CLEAR}),
    DeviceKind.CROWD_COUNTER: frozenset({ReadingKind.CROWD_COUNT}),
}


class DeviceTimeField(serializers.DateTimeField):
    """When it happened, by the device's clock: not more than :data:`OLDEST_DELIVERY` ago.

    A time ahead of ours is accepted here and filed at the time received (``events.actions.device_time``).
    """

    def to_internal_value(self, value: Any) -> datetime:
        moment: datetime = super().to_internal_value(value)
        if moment < timezone.now() - OLDEST_DELIVERY:
            raise serializers.ValidationError(_("This time is more than a year ago: check the device's clock."))
        return moment


class CaptureFields(serializers.Serializer[dict[str, Any]]):
    """What every passage may say besides its credential: when, and which way."""

    occurred_at = DeviceTimeField(
        required=False, help_text=_("When it happened, by the device's clock (ISO 8601); default: when received.")
    )
    direction = serializers.ChoiceField(
        choices=[(Direction.IN, Direction.IN.label), (Direction.OUT, Direction.OUT.label)],
        required=False,
        help_text=_("Which way the person went; default: the device's own direction, if it has one."),
    )


class FaceCaptureSerializer(CaptureFields):
    """A gate's capture: a JPEG or PNG photo, with the liveness its own check found."""

    image = serializers.FileField(help_text=_("The capture: JPEG or PNG, at most 8 MB and 12 megapixels."))
    liveness = serializers.ChoiceField(
        choices=Liveness.choices, required=False, help_text=_("What the device's own liveness check found.")
    )


class CardPresentedSerializer(CaptureFields):
    """A card presented at a reader."""

    card_no = serializers.CharField(
        max_length=64, help_text=_("The card's number as the reader reads it: 4 to 32 letters and digits.")
    )

    def validate_card_no(self, value: str) -> str:
        number = normalise_card_number(value)
        if not CARD_NUMBER.fullmatch(number):
            raise serializers.ValidationError(
                _("A card number has %(min)d to %(max)d letters and digits.")
                % {"min": CARD_NUMBER_MIN, "max": CARD_NUMBER_MAX}
            )
        return number


class PlateReadSerializer(CaptureFields):
    """A plate read by a barrier's camera (full-width characters and lower case are accepted)."""

    plate = serializers.CharField(max_length=16, help_text=_("Plate number, e.g. 鲁A12345."))

    def validate_plate(self, value: str) -> str:
        try:
            plate, _kind = check_plate(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return plate


class IdentityCheckSerializer(FaceCaptureSerializer):
    """实名闸: an ID card's number, the live capture, and the card's photo when the reader has it."""

    id_number = serializers.CharField(
        max_length=32, help_text=_("The ID card's number (18 characters), or another document's number.")
    )
    id_photo = serializers.FileField(
        required=False, help_text=_("The photo read from the ID card's chip: JPEG or PNG, if the reader provides it.")
    )

    def validate_id_number(self, value: str) -> str:
        number = normalise(value)
        if not number.isascii() or not number.isalnum() or not 5 <= len(number) <= 32:
            raise serializers.ValidationError(_("Not a document number: letters and digits only, 5 to 32 of them."))
        return number


class FiniteFloatField(serializers.FloatField):
    """A float that is a number (a form field would take ``nan``, which JSON cannot store)."""

    def to_internal_value(self, data: Any) -> float:
        value = float(super().to_internal_value(data))
        if not math.isfinite(value):
            raise serializers.ValidationError(_("A valid number is required."))
        return value


class ReadingSerializer(serializers.Serializer[dict[str, Any]]):
    """One sensor reading; which kinds a sensor may send depends on what it is."""

    kind = serializers.ChoiceField(choices=ReadingKind.choices)
    occurred_at = DeviceTimeField(required=False, help_text=_("When, by the device's clock; default: when received."))
    direction = serializers.ChoiceField(
        choices=[(Direction.IN, Direction.IN.label), (Direction.OUT, Direction.OUT.label)],
        required=False,
        help_text=_("Which way, if the sensor tells (an e-bike going in or out)."),
    )
    value = FiniteFloatField(required=False, min_value=-1e9, max_value=1e9, help_text=_("A measured value."))
    count = serializers.IntegerField(
        required=False, min_value=0, max_value=1_000_000, help_text=_("People or objects counted.")
    )
    duration_s = serializers.IntegerField(
        required=False, min_value=0, max_value=7 * 24 * 3600, help_text=_("How long it lasted, in seconds.")
    )
    confidence = FiniteFloatField(
        required=False, min_value=0.0, max_value=1.0, help_text=_("The camera's confidence in a detection.")
    )

    def validate_kind(self, value: str) -> str:
        allowed = self.context.get("allowed_readings")
        if allowed is not None and value not in allowed:
            raise serializers.ValidationError(_("This kind of device does not send this reading."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == ReadingKind.CROWD_COUNT and "count" not in attrs:
            raise serializers.ValidationError({"count": [_("A crowd count needs its count.")]})
        return attrs

    @staticmethod
    def detail_of(attrs: dict[str, Any]) -> dict[str, Any]:
        """The event's ``detail``: the reading's flags, then its figures."""
        figures = {k: v for k, v in attrs.items() if k not in ("kind", "occurred_at", "direction")}
        return {**READING_FLAGS[attrs["kind"]], **figures}


class SensorDeliverySerializer(serializers.Serializer[Any]):
    """Documentation only: the readings endpoint takes one reading or a list of 1 to 100 (see its view)."""


class HeartbeatSerializer(serializers.Serializer[dict[str, Any]]):
    """Proof of life; what the device says of itself is optional."""

    firmware = serializers.CharField(required=False, allow_blank=True, max_length=64)
    uptime_s = serializers.IntegerField(required=False, min_value=0, max_value=10**9)


# --- Answers (documentation) --------------------------------------------------------------------


class DeviceErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """Every refusal: a stable code for the device, a message in the request's language."""

    code = serializers.CharField(help_text=_("Stable error code, e.g. no_face, corrupt, too_many_pixels."))
    detail = serializers.CharField(help_text=_("What went wrong, in the request's language."))
    errors = serializers.JSONField(required=False, help_text=_("Per field, when fields were refused."))  # type: ignore[assignment]  # a field named like the serializer's property


DECISIONS = [
    (Decision.OPEN, Decision.OPEN.label),
    (Decision.DENY, Decision.DENY.label),
    (Decision.HIT, Decision.HIT.label),
]


class FaceResultSerializer(serializers.Serializer[dict[str, Any]]):
    face_index = serializers.IntegerField(help_text=_("Position of the face, left to right, from 0."))
    decision = serializers.ChoiceField(choices=DECISIONS)
    reason = serializers.CharField()
    person_id = serializers.IntegerField(allow_null=True, help_text=_("The resident recognised, when the door opens."))
    display_name = serializers.CharField(allow_blank=True, help_text=_("The resident's name masked for the display."))
    similarity = serializers.FloatField(allow_null=True, help_text=_("1 - distance to the nearest face."))
    margin = serializers.FloatField(
        allow_null=True, help_text=_("Distance to the nearest other person minus distance to the nearest.")
    )
    watch_hit = serializers.BooleanField()
    event_id = serializers.IntegerField()
    box = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("The face's box: top, right, bottom, left, in pixels.")
    )


class FaceAnswerSerializer(serializers.Serializer[dict[str, Any]]):
    open = serializers.BooleanField(help_text=_("Open the door: some face opens and none is a watch-list hit."))
    faces_in_capture = serializers.IntegerField()
    results = FaceResultSerializer(many=True)


class SingleAnswerSerializer(serializers.Serializer[dict[str, Any]]):
    open = serializers.BooleanField()
    decision = serializers.ChoiceField(choices=DECISIONS)
    reason = serializers.CharField()
    person_id = serializers.IntegerField(allow_null=True)
    display_name = serializers.CharField(allow_blank=True)
    watch_hit = serializers.BooleanField()
    event_id = serializers.IntegerField()


class IdentityAnswerSerializer(SingleAnswerSerializer):
    verified = serializers.BooleanField(help_text=_("The live face matches the ID photo or the enrolled faces."))
    similarity = serializers.FloatField(allow_null=True)
    compared_with = serializers.ChoiceField(
        choices=[("id_photo", "id_photo"), ("enrolled", "enrolled"), ("", "")],
        allow_blank=True,
        help_text=_("What the live face was compared with; blank when there was nothing to compare."),
    )
    registered = serializers.BooleanField(help_text=_("The ID number belongs to a person of the compound's registry."))
    id_number = serializers.CharField(help_text=_("The ID number, masked."))


class ReadingsAnswerSerializer(serializers.Serializer[dict[str, Any]]):
    recorded = serializers.IntegerField()
    event_ids = serializers.ListField(child=serializers.IntegerField())


class HeartbeatAnswerSerializer(serializers.Serializer[dict[str, Any]]):
    server_time = serializers.DateTimeField()
    device = serializers.CharField(help_text=_("The device id the credential belongs to."))
    offline_after_s = serializers.IntegerField(help_text=_("Silent this long, the device shows as offline."))
