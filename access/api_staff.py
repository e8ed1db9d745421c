"""Access staff API of one compound, under ``/c/<compound>/api/access/``: devices, consents, faces, cards.

Same needs as the pages (``access.views_staff``): ``access.view`` to read devices,
``access.devices`` to add, change, revoke them and issue credentials, ``access.enrol`` for
everything about a person's consent, enrolled photos and cards (reading included). Every write
calls an action of ``access.actions``; the middleware has chosen the compound's schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access import actions
from access import serializers_staff as s
from access.models import BiometricConsent, Card, Device, FaceTemplate
from district.api.base import CompoundViewSet, as_drf_error
from district.permissions import ENROL_FACES, MANAGE_DEVICES, VIEW_ACCESS, need
from events.models import DeviceIndex

__all__ = ["CardViewSet", "ConsentViewSet", "DeviceViewSet", "FaceViewSet"]

READ = need(VIEW_ACCESS)
DEVICES = need(MANAGE_DEVICES)
ENROL = need(ENROL_FACES)
VALIDATION_ERRORS = {"$ref": "#/components/schemas/ValidationErrors"}
MAX_ID = 2**31 - 1


class IdFilter(django_filters.NumberFilter):
    """A record id: a whole number (the schema says ``integer``; ``1.5`` is refused)."""

    field_class = forms.IntegerField


class PersonFilterSet(django_filters.FilterSet):
    """``?person=<id>``: the records of one person."""

    person = IdFilter(field_name="person__id", min_value=1, max_value=MAX_ID, help_text="A person's id.")


# --- Devices -----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Devices of the compound with their online state"),
    retrieve=extend_schema(summary="One device"),
)
class DeviceViewSet(CompoundViewSet):
    """Gates, readers, doors and sensors of the compound. Revoke instead of delete."""

    queryset = Device.objects.order_by("name", "id")
    serializer_class = s.DeviceSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    permissions = {
        "list": READ,
        "retrieve": READ,
        "metadata": READ,
        "create": DEVICES,
        "partial_update": DEVICES,
        "revoke": DEVICES,
        "rotate": DEVICES,
    }

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def paginate_queryset(self, queryset: QuerySet | Sequence[Any]) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        devices = page if page is not None else list(queryset)
        # One query for the page's index rows (online state, last seen), not one per device.
        rows = {row.uid: row for row in DeviceIndex.objects.filter(uid__in=[d.uid for d in devices])}
        for device in devices:
            device.index_row = rows.get(device.uid)
        return page

    @extend_schema(
        summary="Add a device and issue its credential",
        description=(
            "Answers the device with its credential: `secret`, `token` (`<uid>.<secret>`) and the "
            "`authorization` header the device sends (`Authorization: Device <uid>.<secret>`). The secret "
            "is shown in this answer only; only its SHA-256 is stored."
        ),
        request=s.DeviceCreateSerializer,
        responses={201: s.DeviceCredentialSerializer},
        examples=[
            OpenApiExample(
                "A face gate at the south gate",
                value={"name": "南门人脸闸机1", "kind": "face_gate", "direction": "in", "gate": "南门"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.DeviceCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        try:
            device, secret = actions.do_create_device(
                self.request_compound(), **serializer.validated_data, acting_user=request.user
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        response = Response(s.credential_data(device, secret, self.get_serializer_context()), status=201)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        summary="Change a device, or disable / enable it",
        request=s.DeviceUpdateSerializer,
        responses={200: s.DeviceSerializer},
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        device = self.get_object()
        serializer = s.DeviceUpdateSerializer(device, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        new_status = changes.pop("status", None)
        try:
            with transaction.atomic():
                if changes:
                    for name, value in changes.items():
                        setattr(device, name, value)
                    actions.do_update_device(device, acting_user=request.user)
                if new_status is not None:
                    actions.do_set_device_status(device, new_status, acting_user=request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(s.DeviceSerializer(device, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Revoke a device for good",
        description="Its credential is refused from now on; irreversible. Revoking a revoked device changes nothing.",
        request=None,
        responses={200: s.DeviceSerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        device = actions.do_revoke_device(self.get_object(), acting_user=request.user)
        return Response(s.DeviceSerializer(device, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Issue a new credential (the old one stops working)",
        request=None,
        responses={200: s.DeviceCredentialSerializer},
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        device = self.get_object()
        try:
            secret = actions.do_rotate_device_secret(device, acting_user=request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        response = Response(s.credential_data(device, secret, self.get_serializer_context()))
        response["Cache-Control"] = "no-store"
        return response


# --- Consent --------------------------------------------------------------------------------------------


class ConsentViewSet(CompoundViewSet):
    """Biometric consent records (单独同意); withdraw instead of delete: the record is history."""

    queryset = BiometricConsent.objects.select_related("recorded_by", "withdrawn_by").order_by("-given_at", "-id")
    serializer_class = s.ConsentSerializer
    filterset_class = PersonFilterSet
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["id", "given_at", "recorded_at"]
    permissions = {"list": ENROL, "retrieve": ENROL, "metadata": ENROL, "create": ENROL, "withdraw": ENROL}

    @extend_schema(
        summary="Record a person's consent to face enrolment",
        description=(
            "One consent in force per person. `document` (optional): the scan of the signed form, JPEG, PNG "
            "or PDF of at most 5 MB, base64 in JSON (JSON bodies are at most 1 MB) or as a file in a "
            "multipart/form-data upload."
        ),
        request=s.ConsentCreateSerializer,
        responses={201: s.ConsentSerializer},
        examples=[
            OpenApiExample(
                "Signed paper form",
                value={"person": 12, "method": "written", "given_at": "2026-03-02T10:00:00+08:00"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.ConsentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            consent = actions.do_record_consent(
                data["person"],
                method=data["method"],
                given_at=data["given_at"],
                document_bytes=data.get("document"),
                acting_user=request.user,
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Withdraw a consent: the person's enrolled photos are deleted",
        request=None,
        responses={200: s.ConsentSerializer},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        consent = self.get_object()
        try:
            actions.do_withdraw_consent(consent, acting_user=request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(s.ConsentSerializer(consent).data)


# --- Faces -----------------------------------------------------------------------------------------------

ENROLLED_EXAMPLE = {
    "id": 31,
    "person": 12,
    "consent": 7,
    "created_at": "2026-03-02T10:05:12.345678+08:00",
    "photo_url": "/c/370102001001/access/faces/31/photo.jpg",
}
REFUSALS = [
    OpenApiExample(
        "No consent recorded",
        value={
            "non_field_errors": [
                "No face can be enrolled without the person's recorded consent: record the signed consent first."
            ]
        },
        response_only=True,
        status_codes=["400"],
    ),
    OpenApiExample(
        "Two faces in the photo",
        value={"image": ["The photo shows 2 faces; an enrolment photo must show one."]},
        response_only=True,
        status_codes=["400"],
    ),
    OpenApiExample(
        "No face in the photo",
        value={"image": ["No face was found in the photo."]},
        response_only=True,
        status_codes=["400"],
    ),
]


class FaceViewSet(CompoundViewSet):
    """Enrolled face photos (templates) of persons who have consented."""

    queryset = FaceTemplate.objects.order_by("person_id", "id")
    serializer_class = s.FaceSerializer
    filterset_class = PersonFilterSet
    http_method_names = ["get", "post", "delete", "head", "options"]
    permissions = {"list": ENROL, "retrieve": ENROL, "metadata": ENROL, "create": ENROL, "destroy": ENROL}
    delete_action = actions.do_remove_face

    def get_serializer_context(self) -> dict[str, Any]:
        compound = getattr(self.request._request, "tenant", None) if getattr(self, "request", None) else None
        return {**super().get_serializer_context(), "compound_code": compound.code if compound else ""}

    @extend_schema(
        summary="Enrol a photo of a person's face",
        description=(
            "Refused without the person's recorded consent (record it with `POST consents/`), beyond "
            f"{actions.MAX_FACES_PER_PERSON} photos per person, and for a photo that is not exactly one "
            "readable face: not JPEG/PNG, damaged, larger than 8 MB or 12 megapixels, no face, several faces. "
            "Send `image` base64-encoded in JSON (JSON bodies are at most 1 MB), or send the file itself as "
            "`image` in a multipart/form-data upload (up to 8 MB): a phone photo is usually larger than 1 MB. "
            "The face's encoding is stored (128 float32) and never returned; `photo_url` is a thumbnail of "
            "the face for users with `access.enrol`."
        ),
        request=s.FaceCreateSerializer,
        responses={
            201: OpenApiResponse(
                s.FaceSerializer,
                description="Enrolled.",
                examples=[OpenApiExample("Enrolled", value=ENROLLED_EXAMPLE, response_only=True, status_codes=["201"])],
            ),
            400: OpenApiResponse(
                VALIDATION_ERRORS,
                description="Refused: no consent, too many photos, or not one face.",
                examples=REFUSALS,
            ),
        },
        examples=[
            OpenApiExample(
                "A JPEG photo, base64-encoded",
                value={"person": 12, "image": "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8U"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.FaceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            face = actions.do_enrol_face(data["person"], data["image"], acting_user=request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(s.FaceSerializer(face, context=self.get_serializer_context()).data, status=201)


# --- Cards -------------------------------------------------------------------------------------------------


class CardViewSet(CompoundViewSet):
    """IC cards of persons."""

    queryset = Card.objects.order_by("number")
    serializer_class = s.CardSerializer
    filterset_class = PersonFilterSet
    permissions = {
        "list": ENROL,
        "retrieve": ENROL,
        "metadata": ENROL,
        "create": ENROL,
        "update": ENROL,
        "partial_update": ENROL,
        "destroy": ENROL,
    }
    save_action = actions.do_save_card
    delete_action = actions.do_delete_card
