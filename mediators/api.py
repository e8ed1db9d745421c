"""API of the city's mediator roster (``/api/mediators/``).

Reading needs ``mediation.view`` and shows the cities the user's roles lie in; writing needs
``mediators.manage`` and reaches the cities the user keeps (``mediators.actions``). A mediator
of another city answers 404, like a missing one. Phones are masked unless the user keeps the
city's roster or holds ``pii.view`` there; unmasked reads are audited. Writes go through the
actions; mediators are changed in part and deactivated, never deleted (cases name them).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from district.api.base import as_drf_error
from district.api.fields import STRICT_FIELD_MAPPING, StrictCharField
from district.models import Area
from district.permissions import MANAGE_MEDIATORS, VIEW_CASES, need
from mediators.actions import (
    category_choices,
    do_deactivate_mediator,
    do_record_mediator_pii_view,
    do_save_mediator,
    mediator_cities,
    mediators_visible_to,
    phone_cities,
    shown_phone,
)
from mediators.models import Mediator, MediatorKind
from mediators.views import filter_mediators

READ = need(VIEW_CASES)
KEEP = need(MANAGE_MEDIATORS)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false only: DRF's BooleanField also takes ``0``, ``1`` and ``"yes"``."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class QueryBooleanField(serializers.BooleanField):
    """A query-string flag: ``true`` or ``false`` only, as the schema says."""

    def to_internal_value(self, data: Any) -> bool:
        if data not in ("true", "false"):
            self.fail("invalid", input=data)
        return data == "true"


class RosterFilterSerializer(serializers.Serializer):
    """The list's query parameters (every one optional)."""

    kind = serializers.ChoiceField(choices=MediatorKind.choices, required=False)
    specialty = serializers.ChoiceField(choices=[], required=False)
    province = serializers.CharField(max_length=16, required=False, allow_blank=True)
    remote = QueryBooleanField(required=False)
    inactive = QueryBooleanField(required=False)
    q = serializers.CharField(max_length=64, required=False, allow_blank=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        specialty = self.fields["specialty"]
        assert isinstance(specialty, serializers.ChoiceField)
        specialty.choices = category_choices()


class KeptCityField(serializers.SlugRelatedField):
    """A city's division code, among the cities whose roster the requesting user keeps (else 400)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="code", **kwargs)

    def get_queryset(self) -> QuerySet[Area]:
        request = self.context.get("request")
        if request is None:
            return Area.objects.none()
        return mediator_cities(request.user, MANAGE_MEDIATORS)


class MediatorSerializer(serializers.ModelSerializer):
    """调解员 — a mediator of a city's roster. ``city`` (a city's division code) is written once.

    ``specialties`` are case categories; ``phone`` is returned masked (``138****5678``) unless
    you keep the city's roster or hold ``pii.view`` there; ``username`` links the mediator's
    sign-in (someone with a role in the city), so that assigning them to a case lets them work it.
    """

    serializer_field_mapping = STRICT_FIELD_MAPPING

    city = KeptCityField(help_text="Division code of the city (6 digits), among the cities whose roster you keep.")
    city_name = serializers.CharField(source="city.name", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    specialties = serializers.ListField(
        child=serializers.ChoiceField(choices=[]), max_length=20, required=False, help_text="Case categories."
    )
    username = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=150, help_text="The mediator's sign-in, if any."
    )
    remote = StrictBooleanField(required=False, help_text="Mediates by remote video.")

    class Meta:
        model = Mediator
        fields = [
            "id",
            "city",
            "city_name",
            "name",
            "kind",
            "kind_label",
            "organisation",
            "specialties",
            "home_province",
            "phone",
            "remote",
            "username",
            "active",
            "created_at",
        ]
        read_only_fields = ["active", "created_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        child = self.fields["specialties"].child  # type: ignore[attr-defined]
        child.choices = category_choices()

    def validate_username(self, value: str | None) -> Any:
        if not value:
            return None
        user = get_user_model()._default_manager.filter(username=value).first()
        if user is None:
            raise serializers.ValidationError("No such user.")
        return user

    def validate_city(self, value: Area) -> Area:
        if self.instance is not None and value.pk != self.instance.city_id:
            raise serializers.ValidationError("A mediator stays in the city whose roster they are on.")
        return value

    def to_representation(self, instance: Mediator) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        data["phone"] = shown_phone(instance, self.context.get("phone_cities", set()))
        data["username"] = instance.user.get_username() if instance.user_id and instance.user else None
        return data


FORBIDDEN = OpenApiResponse(description="Not signed in, or no role that reads (or keeps) the mediator roster.")
NOT_FOUND = OpenApiResponse(description="No such mediator, or one of a city outside the user's roles.")
FILTERS = [
    OpenApiParameter("kind", OpenApiTypes.STR, enum=MediatorKind.values, description="Mediators of this kind."),
    OpenApiParameter(
        "specialty", OpenApiTypes.STR, enum=[c for c, _l in category_choices()], description="A case category."
    ),
    OpenApiParameter(
        "province", {"type": "string", "maxLength": 16}, description="Part of the home province (老乡 matching)."
    ),
    OpenApiParameter("remote", OpenApiTypes.BOOL, description="Only mediators who mediate by remote video."),
    OpenApiParameter("inactive", OpenApiTypes.BOOL, description="Include deactivated mediators."),
    OpenApiParameter("q", {"type": "string", "maxLength": 64}, description="Part of the name or organisation."),
]
EXAMPLE = {
    "city": "370100",
    "name": "温州商会 陈会长",
    "kind": "chamber_of_commerce",
    "organisation": "济南市温州商会",
    "specialties": ["commercial", "labour"],
    "home_province": "浙江",
    "remote": True,
}


@extend_schema_view(
    list=extend_schema(
        description="Active mediators of the cities the user's roles lie in, by name.",
        parameters=FILTERS,
        responses={
            200: MediatorSerializer(many=True),
            400: OpenApiResponse(description="A filter is invalid."),
            403: FORBIDDEN,
        },
    ),
    retrieve=extend_schema(
        description="One mediator.", responses={200: MediatorSerializer, 403: FORBIDDEN, 404: NOT_FOUND}
    ),
    create=extend_schema(
        description="Add a mediator to a city whose roster you keep.",
        examples=[OpenApiExample("A chamber of commerce", value=EXAMPLE, request_only=True)],
        responses={201: MediatorSerializer, 400: OpenApiResponse(description="Invalid fields."), 403: FORBIDDEN},
    ),
    partial_update=extend_schema(
        description="Change a mediator (not their city).",
        responses={
            200: MediatorSerializer,
            400: OpenApiResponse(description="Invalid fields."),
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    ),
)
class MediatorViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The city's mediator roster: police, community workers, lawyers, chambers of commerce, 老乡会 …"""

    serializer_class = MediatorSerializer
    queryset = Mediator.objects.none()
    permissions = {
        "list": READ,
        "retrieve": READ,
        "metadata": READ,
        "create": KEEP,
        "partial_update": KEEP,
        "deactivate": KEEP,
    }
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = "[0-9]+"
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Mediator]:
        if self.action in ("list", "retrieve", "metadata", None):
            mediators = mediators_visible_to(self.request.user)
        else:
            mediators = Mediator.objects.filter(city__in=mediator_cities(self.request.user, MANAGE_MEDIATORS))
        return mediators.select_related("city", "user").order_by("name", "pk")

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        request = getattr(self, "request", None)
        context["phone_cities"] = phone_cities(request.user) if request is not None else set()
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        filters = RosterFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        with transaction.atomic():  # the audit rows commit with the reads they record
            found = filter_mediators(self.get_queryset(), filters.validated_data)
            page = self.paginate_queryset(found)
            shown = page if page is not None else list(found)
            context = self.get_serializer_context()
            do_record_mediator_pii_view(request.user, shown, context["phone_cities"], request=request._request)
            data = self.get_serializer(shown, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            mediator = self.get_object()
            do_record_mediator_pii_view(
                request.user, [mediator], self.get_serializer_context()["phone_cities"], request=request._request
            )
            return Response(self.get_serializer(mediator).data)

    def _save(self, serializer: serializers.BaseSerializer[Mediator]) -> None:
        mediator = serializer.instance or Mediator()
        data = dict(serializer.validated_data)
        if "username" in data:
            user = data.pop("username")
            mediator.user_id = user.pk if user is not None else None
        for name, value in data.items():
            setattr(mediator, name, value)
        try:
            serializer.instance = do_save_mediator(mediator, acting_user=self.request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        except DjangoPermissionDenied as exc:
            raise serializers.ValidationError({"city": [str(exc)]}) from None

    perform_create = _save
    perform_update = _save

    @extend_schema(
        request=None,
        responses={200: MediatorSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Take the mediator off the active roster (the record stays). Doing it again changes nothing.",
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        mediator = do_deactivate_mediator(self.get_object(), acting_user=request.user)
        return Response(self.get_serializer(mediator).data)
