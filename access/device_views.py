"""The device API (``/api/device/v1/``): heartbeats, gate decisions, 实名闸, sensor readings.

Devices authenticate with their own credential (``Authorization: Device <uid>.<secret>``,
``access.device_auth``) and their requests run in their compound's schema: a URL never names a
compound, so a device can reach nothing but its own. Users, superusers included, are refused
(401): no session is read here. Each endpoint serves the kinds of device it is for; another
kind is refused (403, ``wrong_device_type``).

A delivery may carry an ``Idempotency-Key`` header (at most 96 visible ASCII characters): a
retry with the same key gets the stored answer (with ``Idempotent-Replayed: true``) and writes
nothing. Every refusal answers ``{"code": …, "detail": …}`` (``errors`` by field for a refused
field), ``detail`` in the request's language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ListSerializer

from access import gate
from access.choices import DeviceKind
from access.device_auth import DeviceAPIView
from access.device_serializers import (
    MAX_READINGS,
    READINGS_BY_DEVICE,
    CardPresentedSerializer,
    DeviceErrorSerializer,
    FaceAnswerSerializer,
    FaceCaptureSerializer,
    HeartbeatAnswerSerializer,
    HeartbeatSerializer,
    IdentityAnswerSerializer,
    IdentityCheckSerializer,
    PlateReadSerializer,
    ReadingsAnswerSerializer,
    ReadingSerializer,
    SensorDeliverySerializer,
    SingleAnswerSerializer,
)
from access.faces import FoundFace, ImageRefusedError, decode, find_faces
from district.api.parsers import BoundedJSONParser
from events.actions import previous_delivery

__all__ = [
    "CardDecisionView",
    "DeviceCredentialScheme",
    "DeviceEndpoint",
    "FaceDecisionView",
    "HeartbeatView",
    "IdentityView",
    "PlateDecisionView",
    "ReadingsView",
    "Refused",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,96}$")
# How an image refusal answers: a body we will not read is 400; one too big to read, 413; a
# photo read but showing nobody, 422.
REFUSAL_STATUS = {"too_large": 413, "too_many_pixels": 413, "no_face": 422, "no_face_on_id_photo": 422}

FACE_DEVICES = frozenset({DeviceKind.FACE_GATE, DeviceKind.UNIT_DOOR})
CARD_DEVICES = frozenset({DeviceKind.CARD_READER, DeviceKind.UNIT_DOOR, DeviceKind.FACE_GATE})
PLATE_DEVICES = frozenset({DeviceKind.PLATE_BARRIER})
IDENTITY_DEVICES = frozenset({DeviceKind.ID_GATE})
SENSOR_DEVICES = frozenset(READINGS_BY_DEVICE)


class DeviceCredentialScheme(OpenApiAuthenticationExtension):
    """The device credential in the OpenAPI schema (``deviceAuth``)."""

    target_class = "access.device_auth.DeviceAuthentication"
    name = "deviceAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device <uid>.<secret>`: the device's own credential, shown once when it was issued.",
        }


class Refused(exceptions.APIException):
    """A delivery refused with a stable code (an image we will not read, no face, a wrong device)."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(detail, code)
        self.status_code = status_code


def _first_message(errors: Any) -> str:
    """The first message of a (nested) DRF error structure."""
    if isinstance(errors, dict):
        for value in errors.values():
            return _first_message(value)
    if isinstance(errors, list):
        for value in errors:
            if value:
                return _first_message(value)
    return str(errors)


class DeviceEndpoint(DeviceAPIView):
    """A device endpoint: POST only, for the device kinds in ``kinds``, with idempotent deliveries."""

    kinds: ClassVar[frozenset[str]] = frozenset()  # empty: every kind
    http_method_names = ["post", "options"]
    parser_classes = [BoundedJSONParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.received_at = timezone.now()
        super().initial(request, *args, **kwargs)
        if self.kinds and self.local_device.kind not in self.kinds:
            raise Refused(403, "wrong_device_type", _("This endpoint does not serve this kind of device."))

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        data = response.data
        if isinstance(exc, exceptions.ValidationError):
            response.data = {"code": "invalid", "detail": _first_message(data), "errors": data}
        elif isinstance(exc, exceptions.APIException) and isinstance(data, dict) and "detail" in data:
            codes = exc.get_codes()
            response.data = {"code": codes if isinstance(codes, str) else "error", "detail": str(data["detail"])}
        return response

    # --- Deliveries ---

    def delivery_key(self) -> str:
        """The delivery's ``Idempotency-Key`` ("" without one); 400 when malformed."""
        key = self.request.headers.get(IDEMPOTENCY_HEADER, "")
        if key and not IDEMPOTENCY_KEY.match(key):
            raise Refused(400, "idempotency_key", _("The Idempotency-Key header has 1 to 96 visible ASCII characters."))
        return key

    def replay(self, key: str) -> Response | None:
        """The stored answer to this delivery if the device made it before."""
        prior = previous_delivery(self.device, key) if key else None
        if prior is None:
            return None
        return Response(prior.response, status=prior.status, headers={"Idempotent-Replayed": "true"})

    def delivery(self, fields: dict[str, Any], key: str) -> gate.Delivery:
        return gate.Delivery(
            compound=self.compound,
            device=self.device,
            local=self.local_device,
            received_at=self.received_at,
            reported_at=fields.get("occurred_at"),
            direction=fields.get("direction", ""),
            liveness=fields.get("liveness", ""),
            key=key,
        )

    def decide(self, key: str, action: Callable[[], dict[str, Any]]) -> Response:
        """Run the deciding action; a concurrent retry that answered first is answered again."""
        try:
            return Response(action())
        except gate.DeliveryRaceLostError:
            replayed = self.replay(key)
            assert replayed is not None  # the winner committed before our insert failed
            return replayed

    def validated(self, serializer_class: type[Any], **context: Any) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, context={"request": self.request, **context})
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        return data


def read_image(upload: Any, *, no_face_code: str = "no_face") -> tuple[bytes, list[FoundFace]]:
    """The upload's bytes and its faces (left to right); :class:`Refused` for a photo we will not use."""
    data: bytes = upload.read(settings.ACCESS_IMAGE_MAX_BYTES + 1)
    try:
        image = decode(data)
    except ImageRefusedError as exc:
        raise Refused(REFUSAL_STATUS.get(exc.code, 400), exc.code, str(exc)) from None
    faces = find_faces(image)
    if not faces:
        message = _("No face was found in the photo.")
        if no_face_code != "no_face":
            message = _("No face was found in the ID card's photo.")
        raise Refused(422, no_face_code, message)
    return data, faces


def _largest(faces: list[FoundFace]) -> FoundFace:
    """The face nearest the camera: the largest box (an ID gate serves one person at a time)."""
    return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[1] - f.box[3]))


# --- OpenAPI --------------------------------------------------------------------------------------

TAGS = ["device"]
DELIVERY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "maxLength": 96, "pattern": r"^[!-~]{1,96}$"},
    OpenApiParameter.HEADER,
    description=str(
        gettext_lazy("The delivery's own id: a retry with the same key gets the first answer and writes nothing.")
    ),
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(DeviceErrorSerializer, description=description)


COMMON_ERRORS = {
    400: _error("A field refused (`invalid`, with `errors` by field) or a malformed Idempotency-Key."),
    401: _error("No device credential, or an unknown, revoked or disabled one (users and sessions never pass)."),
    403: _error("`wrong_device_type`: this endpoint does not serve this kind of device."),
}
IMAGE_ERRORS = {
    **COMMON_ERRORS,
    400: _error(
        "A field refused (`invalid`), or the photo is `empty`, `corrupt`, `not_image` or not JPEG/PNG (`format`)."
    ),
    413: _error("The photo is `too_large` (over 8 MB) or has `too_many_pixels` (over 12 megapixels)."),
    422: _error("`no_face`: nobody in the capture (`no_face_on_id_photo`: nobody in the ID card's photo)."),
}
REFUSED_EXAMPLE = OpenApiExample(
    "No face",
    value={"code": "no_face", "detail": "照片中未找到人脸。"},
    response_only=True,
    status_codes=["422"],
)


class HeartbeatView(DeviceEndpoint):
    """Proof of life (any authenticated delivery is one); answers the server's time for the device's clock."""

    @extend_schema(
        operation_id="device_heartbeat",
        tags=TAGS,
        summary="Heartbeat",
        request=HeartbeatSerializer,
        responses={200: HeartbeatAnswerSerializer, **COMMON_ERRORS},
        examples=[
            OpenApiExample("Heartbeat", value={"firmware": "V5.7.3", "uptime_s": 86400}, request_only=True),
            OpenApiExample(
                "Answer",
                value={
                    "server_time": "2026-12-01T09:00:00+08:00",
                    "device": "D3F2A1B4C5D6E7F80",
                    "offline_after_s": 180,
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        self.validated(HeartbeatSerializer)
        return Response(
            {
                "server_time": timezone.localtime(self.received_at).isoformat(),
                "device": self.device.uid,
                "offline_after_s": settings.ACCESS_DEVICE_OFFLINE_AFTER,
            }
        )


class FaceDecisionView(DeviceEndpoint):
    """刷脸开门: a capture in, one decision per face out (see ``access.gate``)."""

    kinds = FACE_DEVICES
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="device_decide_face",
        tags=TAGS,
        summary="Decide a face capture",
        description=(
            "Detects every face of the capture, matches each (left to right) against the compound's enrolled "
            "residents and the city's watch-list, records one access event per face and answers one result per "
            "face. `open` is true when some face is a resident's (within the compound's tolerance and clear of "
            "everyone else by its margin) and no face is on the watch-list. A watch-list face is a `hit`: the door "
            "stays shut and the compound's beat officer is alerted. Refused photos answer 4xx and record nothing."
        ),
        request={"multipart/form-data": FaceCaptureSerializer},
        parameters=[DELIVERY_KEY],
        responses={200: FaceAnswerSerializer, **IMAGE_ERRORS},
        examples=[
            OpenApiExample(
                "A resident opens",
                value={
                    "open": True,
                    "faces_in_capture": 1,
                    "results": [
                        {
                            "face_index": 0,
                            "decision": "open",
                            "reason": "resident",
                            "person_id": 17,
                            "display_name": "张*",
                            "similarity": 0.6412,
                            "margin": 0.2233,
                            "watch_hit": False,
                            "event_id": 90211,
                            "box": [98, 402, 284, 216],
                        }
                    ],
                },
                response_only=True,
                status_codes=["200"],
            ),
            REFUSED_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        key = self.delivery_key()
        if (replayed := self.replay(key)) is not None:
            return replayed
        fields = self.validated(FaceCaptureSerializer)
        image, faces = read_image(fields["image"])
        delivery = self.delivery(fields, key)
        return self.decide(key, lambda: gate.do_decide_capture(delivery, faces, image))


class CardDecisionView(DeviceEndpoint):
    """刷卡: an IC card presented at a reader."""

    kinds = CARD_DEVICES

    @extend_schema(
        operation_id="device_decide_card",
        tags=TAGS,
        summary="Decide a card",
        description=(
            "Opens for an active, unexpired card of the compound, unless its holder's ID number is on the city's "
            "watch-list (a `hit`: shut, and an alert)."
        ),
        request=CardPresentedSerializer,
        parameters=[DELIVERY_KEY],
        responses={200: SingleAnswerSerializer, **COMMON_ERRORS},
        examples=[
            OpenApiExample("Card", value={"card_no": "A1B2C3D4", "direction": "in"}, request_only=True),
            OpenApiExample(
                "Opened",
                value={
                    "open": True,
                    "decision": "open",
                    "reason": "card",
                    "person_id": 17,
                    "display_name": "张*",
                    "watch_hit": False,
                    "event_id": 90212,
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        key = self.delivery_key()
        if (replayed := self.replay(key)) is not None:
            return replayed
        fields = self.validated(CardPresentedSerializer)
        delivery = self.delivery(fields, key)
        return self.decide(key, lambda: gate.do_decide_card(delivery, fields["card_no"]))


class PlateDecisionView(DeviceEndpoint):
    """人过识脸、车过识牌: a plate read at a barrier."""

    kinds = PLATE_DEVICES

    @extend_schema(
        operation_id="device_decide_plate",
        tags=TAGS,
        summary="Decide a plate",
        description=(
            "Opens for a vehicle of the compound's registry. A blocked plate of the city's watch-list keeps the "
            "barrier down (`blocked_plate`) and raises a high-severity alert; a key-area plate is decided as usual "
            "and raises a medium-severity alert (`watch_hit` is true for both)."
        ),
        request=PlateReadSerializer,
        parameters=[DELIVERY_KEY],
        responses={200: SingleAnswerSerializer, **COMMON_ERRORS},
        examples=[
            OpenApiExample("Plate", value={"plate": "鲁A12345", "direction": "in"}, request_only=True),
            OpenApiExample(
                "Blocked",
                value={
                    "open": False,
                    "decision": "deny",
                    "reason": "blocked_plate",
                    "person_id": None,
                    "display_name": "",
                    "watch_hit": True,
                    "event_id": 90213,
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        key = self.delivery_key()
        if (replayed := self.replay(key)) is not None:
            return replayed
        fields = self.validated(PlateReadSerializer)
        delivery = self.delivery(fields, key)
        return self.decide(key, lambda: gate.do_decide_plate(delivery, fields["plate"]))


class IdentityView(DeviceEndpoint):
    """实名闸: an ID card and a live face; 1:1 comparison, then the watch-list."""

    kinds = IDENTITY_DEVICES
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="device_verify_identity",
        tags=TAGS,
        summary="Verify an ID card against a live face",
        description=(
            "Compares the live face (the largest in the capture) with the ID card's photo when sent, else with "
            "the faces enrolled for the registry person holding this ID number, then checks the ID number and the "
            "face against the city's wanted and key persons. Opens when the face matches and nothing is watched; "
            "a watch-list `hit` keeps the gate shut and alerts the beat officer. The ID number is only ever "
            "answered and recorded masked."
        ),
        request={"multipart/form-data": IdentityCheckSerializer},
        parameters=[DELIVERY_KEY],
        responses={200: IdentityAnswerSerializer, **IMAGE_ERRORS},
        examples=[
            OpenApiExample(
                "Verified",
                value={
                    "open": True,
                    "decision": "open",
                    "reason": "verified",
                    "person_id": None,
                    "display_name": "",
                    "watch_hit": False,
                    "event_id": 90214,
                    "verified": True,
                    "similarity": 0.58,
                    "compared_with": "id_photo",
                    "registered": False,
                    "id_number": "3701**********0013",
                },
                response_only=True,
                status_codes=["200"],
            ),
            REFUSED_EXAMPLE,
        ],
    )
    def post(self, request: Request) -> Response:
        key = self.delivery_key()
        if (replayed := self.replay(key)) is not None:
            return replayed
        fields = self.validated(IdentityCheckSerializer)
        image, faces = read_image(fields["image"])
        reference = None
        if fields.get("id_photo") is not None:
            _photo, id_faces = read_image(fields["id_photo"], no_face_code="no_face_on_id_photo")
            reference = _largest(id_faces)
        delivery = self.delivery(fields, key)
        live = _largest(faces)
        return self.decide(key, lambda: gate.do_verify_identity(delivery, fields["id_number"], live, reference, image))


class SensorDeliveryScheme(OpenApiSerializerExtension):
    """The readings endpoint's body in the schema: one reading, or a list of 1 to 100 of them."""

    target_class = "access.device_serializers.SensorDeliverySerializer"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        reading = auto_schema.resolve_serializer(ReadingSerializer, direction).ref
        batch = {"type": "array", "items": reading, "minItems": 1, "maxItems": MAX_READINGS}
        return {"oneOf": [reading, batch]}


class ReadingsView(DeviceEndpoint):
    """Sensor readings (IR motion, door contact, e-bike and fire-lane cameras, crowd counters)."""

    kinds = SENSOR_DEVICES

    @extend_schema(
        operation_id="device_readings",
        tags=TAGS,
        summary="Record sensor readings",
        description=(
            "One reading, or a list of 1 to 100, each recorded as a `sensor` access event (decision `reported`) "
            "for the alert rules to read. Each kind of sensor sends its own kinds of reading: motion (IR); "
            "door_open, door_closed, door_held_open (door contact); ebike_detected (e-bike camera); "
            "fire_lane_blocked, fire_lane_clear (fire-lane camera); crowd_count (crowd counter)."
        ),
        request=SensorDeliverySerializer,
        parameters=[DELIVERY_KEY],
        responses={200: ReadingsAnswerSerializer, **COMMON_ERRORS},
        examples=[
            OpenApiExample(
                "One reading", value={"kind": "crowd_count", "count": 37, "occurred_at": "2026-12-01T09:00:00+08:00"}
            ),
            OpenApiExample(
                "A batch",
                value=[{"kind": "door_open"}, {"kind": "door_held_open", "duration_s": 95}],
                request_only=True,
            ),
            OpenApiExample("Recorded", value={"recorded": 2, "event_ids": [90215, 90216]}, response_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        key = self.delivery_key()
        if (replayed := self.replay(key)) is not None:
            return replayed
        body = request.data
        many = isinstance(body, list)
        context = {"request": request, "allowed_readings": READINGS_BY_DEVICE[self.local_device.kind]}
        serializer: Any = (
            ListSerializer(child=ReadingSerializer(), data=body, min_length=1, max_length=MAX_READINGS, context=context)
            if many
            else ReadingSerializer(data=body, context=context)
        )
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data if many else [serializer.validated_data]
        readings = [
            gate.Reading(
                kind=item["kind"],
                occurred_at=item.get("occurred_at"),
                direction=item.get("direction", ""),
                figures=ReadingSerializer.detail_of(item),
            )
            for item in items
        ]
        delivery = self.delivery({}, key)
        return self.decide(key, lambda: gate.do_record_readings(delivery, readings))
