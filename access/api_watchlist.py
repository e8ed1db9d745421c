"""API of the city watch-list (``/api/watchlist/entries/``), for police roles.

Reading needs ``watchlist.view`` and shows the cities the user's roles lie in; writing needs
``watchlist.manage`` and reaches the cities the user keeps (``access.watchlist``). An entry of
another city answers 404, like a missing one. ID numbers are masked unless the user holds
``pii.view`` in the entry's city; unmasked reads are audited. Writes go through the actions.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from access.faces import ImageRefusedError
from access.watchlist import (
    WatchEntryFilterSet,
    city_ids,
    do_add_watch_face,
    do_end_watch_entry,
    do_record_watch_pii_view,
    do_record_watch_search,
    do_remove_watch_face,
    do_save_watch_entry,
    entry_status,
    shown_id_number,
    watch_cities,
    watch_entries_visible_to,
)
from district.api.base import as_drf_error
from district.api.fields import STRICT_FIELD_MAPPING
from district.models import Area
from district.permissions import MANAGE_WATCHLIST, VIEW_PII, VIEW_WATCHLIST, need
from events.models import WatchlistEntry, WatchlistFace

READ = need(VIEW_WATCHLIST)
KEEP = need(MANAGE_WATCHLIST)
# A base64 photo within the API's 1 MB JSON body.
PHOTO_MAX_CHARS = 1024 * 1024
STATUS_CHOICES = [("active", "active"), ("expired", "expired"), ("ended", "ended")]


class KeptCityField(serializers.SlugRelatedField):
    """A city's division code, among the cities whose list the requesting user keeps.

    A city out of reach answers like one that does not exist (400).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="code", **kwargs)

    def get_queryset(self) -> QuerySet[Area]:
        request = self.context.get("request")
        if request is None:
            return Area.objects.none()
        return watch_cities(request.user, MANAGE_WATCHLIST)


class WatchFaceSerializer(serializers.ModelSerializer):
    """One portrait of a watched person; ``photo_url`` serves its thumbnail to those who read the list."""

    photo_url = serializers.SerializerMethodField()

    class Meta:
        model = WatchlistFace
        fields = ["id", "created_at", "photo_url"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_photo_url(self, face: WatchlistFace) -> str:
        return reverse("watchlist:face_photo", args=[face.pk])


class WatchEntrySerializer(serializers.ModelSerializer):
    """布控 entry. Write ``city`` (a city's division code) once, at creation; it never changes.

    ``id_number`` is a resident ID number (GB 11643), returned masked (``3701**********0013``)
    unless the user holds ``pii.view`` in the entry's city; ``plate`` a plate number. Both are
    stored normalised. Person kinds (``wanted``, ``key_person``) need a name or an ID number,
    plate kinds (``key_area_plate``, ``blocked_plate``) a plate. ``status`` is ``active``
    (matching at the gates), ``expired`` or ``ended``.
    """

    serializer_field_mapping = STRICT_FIELD_MAPPING

    city = KeptCityField(help_text="Division code of the city (6 digits), among the cities whose list you keep.")
    city_name = serializers.CharField(source="city.name", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status = serializers.SerializerMethodField()
    faces = WatchFaceSerializer(many=True, read_only=True)

    class Meta:
        model = WatchlistEntry
        fields = [
            "id",
            "city",
            "city_name",
            "kind",
            "kind_label",
            "name",
            "id_number",
            "plate",
            "reason",
            "active",
            "expires_at",
            "status",
            "faces",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    @extend_schema_field(serializers.ChoiceField(choices=STATUS_CHOICES))
    def get_status(self, entry: WatchlistEntry) -> str:
        return entry_status(entry)[0]

    def to_representation(self, instance: WatchlistEntry) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        data["id_number"] = shown_id_number(instance, self.context.get("pii_cities", set()))
        return data


class FaceUploadSerializer(serializers.Serializer):
    """A portrait as base64 (a ``data:`` URL prefix is allowed): a JPEG or PNG with exactly one face."""

    photo = serializers.CharField(max_length=PHOTO_MAX_CHARS, trim_whitespace=True)

    def validate_photo(self, value: str) -> bytes:
        if value.startswith("data:") and "," in value:
            value = value.split(",", 1)[1]
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("The photo is not valid base64.") from None


FORBIDDEN = OpenApiResponse(description="Not signed in, or no police role that reads (or keeps) the watch-list.")
NOT_FOUND = OpenApiResponse(description="No such entry or photo, or one of a city outside the user's roles.")
PHOTO_REFUSED = OpenApiResponse(
    description=(
        "The photo was refused: not base64, not a readable JPEG or PNG, beyond the size or pixel limits, "
        "no face or more than one, a plate entry, or an entry that already has 10 photos."
    )
)
FACE_ID = OpenApiParameter("face_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The photo's id.")


@extend_schema_view(
    list=extend_schema(description="Entries of the cities the user's roles lie in, newest first."),
    retrieve=extend_schema(description="One entry with its photos; an unmasked ID number is audited."),
    create=extend_schema(
        description="Add an entry to a city whose list you keep; bumps the city's watch-list version.",
        examples=[
            OpenApiExample(
                "Wanted person",
                value={"city": "370100", "kind": "wanted", "name": "张某", "id_number": "370102198005170013"},
                request_only=True,
            ),
            OpenApiExample(
                "Blocked plate",
                value={"city": "370100", "kind": "blocked_plate", "plate": "鲁A12345"},
                request_only=True,
            ),
        ],
    ),
    partial_update=extend_schema(description="Change an entry (not its city); bumps the city's watch-list version."),
)
class WatchEntryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """布控 — the city watch-list: wanted and key persons with their photos, key-area and blocked plates."""

    serializer_class = WatchEntrySerializer
    queryset = WatchlistEntry.objects.none()
    permissions = {
        "list": READ,
        "retrieve": READ,
        "metadata": READ,
        "create": KEEP,
        "partial_update": KEEP,
        "faces": KEEP,
        "remove_face": KEEP,
        "end": KEEP,
    }
    # Entries are changed in part (PATCH) and ended, never replaced or deleted: the record stays.
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"
    filterset_class = WatchEntryFilterSet
    filter_backends = [DjangoFilterBackend]

    def get_queryset(self) -> QuerySet[WatchlistEntry]:
        if self.action in ("list", "retrieve", "metadata", None):
            entries = watch_entries_visible_to(self.request.user)
        else:
            entries = WatchlistEntry.objects.filter(city__in=watch_cities(self.request.user, MANAGE_WATCHLIST))
        return entries.select_related("city").prefetch_related("faces").order_by("-created_at", "-pk")

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        request = getattr(self, "request", None)
        context["pii_cities"] = city_ids(request.user, VIEW_PII) if request is not None else set()
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():  # the audit rows commit with the reads they record
            found = self.filter_queryset(self.get_queryset())
            page = self.paginate_queryset(found)
            shown = page if page is not None else list(found)
            context = self.get_serializer_context()
            do_record_watch_pii_view(request.user, shown, context["pii_cities"], request=request._request)
            do_record_watch_search(request.user, request.query_params.get("q", ""), found, request=request._request)
            data = self.get_serializer(shown, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            entry = self.get_object()
            pii = self.get_serializer_context()["pii_cities"]
            do_record_watch_pii_view(request.user, [entry], pii, request=request._request)
            return Response(self.get_serializer(entry).data)

    def _save(self, serializer: serializers.BaseSerializer[WatchlistEntry]) -> None:
        entry = serializer.instance or WatchlistEntry()
        for name, value in serializer.validated_data.items():
            setattr(entry, name, value)
        try:
            serializer.instance = do_save_watch_entry(entry, acting_user=self.request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None

    perform_create = _save
    perform_update = _save

    @extend_schema(
        request=FaceUploadSerializer,
        responses={201: WatchFaceSerializer, 400: PHOTO_REFUSED, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Add a portrait (exactly one face) to a watched person; bumps the city's watch-list version.",
        examples=[OpenApiExample("Photo", value={"photo": "/9j/4AAQSkZJRgABAQ…"}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def faces(self, request: Request, pk: str | None = None) -> Response:
        entry = self.get_object()
        upload = request.FILES.get("photo")
        if upload is not None:
            # A multipart upload (curl -F photo=@face.jpg) is read too; JSON is the documented form.
            data = upload.read(upload.size if upload.size is not None else 0)
        else:
            serializer = FaceUploadSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data["photo"]
        try:
            face = do_add_watch_face(entry, data, acting_user=request.user)
        except ImageRefusedError as refused:
            raise serializers.ValidationError({"photo": [str(refused)], "code": [refused.code]}) from None
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(WatchFaceSerializer(face, context=self.get_serializer_context()).data, status=201)

    @extend_schema(
        request=None,
        parameters=[FACE_ID],
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Remove a portrait: its encoding stops matching at once; bumps the city's watch-list version.",
    )
    @action(detail=True, methods=["delete"], url_path=r"faces/(?P<face_id>[0-9]+)", url_name="remove-face")
    def remove_face(self, request: Request, pk: str | None = None, face_id: str | None = None) -> Response:
        entry = self.get_object()
        face = entry.faces.filter(pk=face_id).first()
        if face is None:
            raise NotFound
        do_remove_watch_face(face, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={200: WatchEntrySerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description=(
            "End an entry: it stops matching at every gate (the record and photos stay). "
            "Ending it again changes nothing."
        ),
    )
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        entry = do_end_watch_entry(self.get_object(), acting_user=request.user)
        return Response(self.get_serializer(entry).data)
