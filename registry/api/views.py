"""Registry API of one compound, under ``/c/<compound>/api/registry/``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from district.api.base import CompoundViewSet, as_drf_error
from district.audit import do_record_id_number_search, do_record_pii_view
from registry import actions, filtersets
from registry.api import serializers
from registry.filtersets import request_shows_pii, request_shows_police_tags
from registry.masking import full_id_number
from registry.models import Address, House, Lease, Organisation, Person, Vehicle
from registry.permissions import RECORD_PERMISSIONS

if TYPE_CHECKING:
    # The mixin sees the viewset it is mixed into; at run time it stays a plain class.
    _ViewSetBase = CompoundViewSet
else:
    _ViewSetBase = object

COMPOUND = OpenApiParameter("compound", str, OpenApiParameter.PATH, description="Compound code (URL segment)")


class RegistryViewSet(CompoundViewSet):
    """A registry record kind: the registry's permission declaration, its actions, its filterset."""

    permissions = RECORD_PERMISSIONS
    delete_action = actions.do_delete


class PiiMixin(_ViewSetBase):
    """Masks ID numbers and phones for users without ``pii.view`` and audits what it shows unmasked.

    Unmasked list and retrieve responses write a ``view_pii`` audit row with the ids shown;
    a list searched by a whole ID number writes ``search_id_number`` for everyone. The rows
    are inserted in the transaction that reads the records. Writes are audited by their actions.
    """

    _shown: list[models.Model] | None = None
    _found: QuerySet | None = None

    def shows_pii(self) -> bool:
        # No compound (e.g. the OpenAPI generator's request): masked, never "anywhere in scope".
        request = getattr(self, "request", None)
        return request is not None and request_shows_pii(request._request)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["mask_pii"] = not self.shows_pii()
        request = getattr(self, "request", None)
        context["police_tags"] = request is not None and request_shows_police_tags(request._request)
        return context

    def paginate_queryset(self, queryset: QuerySet | Sequence[Any]) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        # list() pages filter_queryset(get_queryset()): a queryset, which the search audit keeps.
        self._found = cast(QuerySet, queryset)
        self._shown = page if page is not None else list(queryset)
        return page

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            response = super().list(request, *args, **kwargs)
            compound = self.request_compound()
            if self.shows_pii():
                do_record_pii_view(request.user, compound, self._shown or [], request=request._request)
            number = full_id_number(request.query_params.get("q", ""))
            if number and self._found is not None:
                do_record_id_number_search(request.user, compound, number, found=self._found, request=request._request)
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            instance = self.get_object()
            if self.shows_pii():
                do_record_pii_view(request.user, self.request_compound(), [instance], request=request._request)
            return Response(self.get_serializer(instance).data)


class PersonViewSet(PiiMixin, RegistryViewSet):
    """实有人口 of the compound."""

    queryset = Person.objects.order_by("house__address__code", "name_pinyin", "id")
    serializer_class = serializers.PersonSerializer
    save_action = actions.do_save_person
    filterset_class = filtersets.PersonFilterSet


class HouseViewSet(PiiMixin, RegistryViewSet):
    """实有房屋 of the compound."""

    queryset = House.objects.order_by("address__code")
    serializer_class = serializers.HouseSerializer
    save_action = actions.do_save_house
    filterset_class = filtersets.HouseFilterSet


class LeaseViewSet(RegistryViewSet):
    """Leases of houses to tenants."""

    queryset = Lease.objects.order_by("-start_date", "id")
    serializer_class = serializers.LeaseSerializer
    save_action = actions.do_save_lease
    filterset_class = filtersets.LeaseFilterSet


class OrganisationViewSet(PiiMixin, RegistryViewSet):
    """实有单位 of the compound."""

    queryset = Organisation.objects.order_by("name", "id")
    serializer_class = serializers.OrganisationSerializer
    save_action = actions.do_save_organisation
    filterset_class = filtersets.OrganisationFilterSet


class VehicleViewSet(RegistryViewSet):
    """Vehicles of the compound."""

    queryset = Vehicle.objects.order_by("plate")
    serializer_class = serializers.VehicleSerializer
    save_action = actions.do_save_vehicle
    filterset_class = filtersets.VehicleFilterSet


class AddressViewSet(RegistryViewSet):
    """Standard addresses; POST ``{"parent": id|null, "number": "3"}`` adds a node beneath ``parent``."""

    queryset = Address.objects.order_by("code")
    serializer_class = serializers.AddressSerializer
    http_method_names = ["get", "post", "head", "options"]

    def perform_create(self, serializer: BaseSerializer[Address]) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = actions.do_create_address(
                self.request_compound(),
                parent=data.get("parent"),
                number=data["number"],
                acting_user=self.request.user,
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
