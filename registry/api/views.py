"""Registry API of one compound, under ``/c/<compound>/api/registry/``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view

from district.api.base import CompoundViewSet, as_drf_error
from registry import actions, queries
from registry.api import serializers
from registry.models import Address, House, Lease, Organisation, Person, Vehicle

COMPOUND = OpenApiParameter("compound", str, OpenApiParameter.PATH, description="Compound code (URL segment)")
SEARCH = [
    OpenApiParameter("q", str, description="Search text (name, ID number, phone, address …)"),
    OpenApiParameter("tag", str, description="Filter: person tag, house use, organisation kind or plate kind"),
]


class SearchMixin:
    """``?q=`` and ``?tag=`` through the same search functions as the pages."""

    search_function: Any = None

    def get_queryset(self) -> QuerySet:
        qs = super().get_queryset()
        params = self.request.query_params
        return type(self).search_function(qs, params.get("q", ""), params.get("tag", ""))


@extend_schema_view(list=extend_schema(parameters=SEARCH))
class PersonViewSet(SearchMixin, CompoundViewSet):
    """实有人口 of the compound."""

    queryset = Person.objects.order_by("name", "id")
    serializer_class = serializers.PersonSerializer
    save_action = actions.do_save_person
    search_function = queries.search_persons


@extend_schema_view(list=extend_schema(parameters=SEARCH))
class HouseViewSet(SearchMixin, CompoundViewSet):
    """实有房屋 of the compound."""

    queryset = House.objects.order_by("address__code")
    serializer_class = serializers.HouseSerializer
    save_action = actions.do_save_house
    search_function = queries.search_houses


class LeaseViewSet(CompoundViewSet):
    """Leases of houses to tenants."""

    queryset = Lease.objects.order_by("-start_date", "id")
    serializer_class = serializers.LeaseSerializer
    save_action = actions.do_save_lease


@extend_schema_view(list=extend_schema(parameters=SEARCH))
class OrganisationViewSet(SearchMixin, CompoundViewSet):
    """实有单位 of the compound."""

    queryset = Organisation.objects.order_by("name", "id")
    serializer_class = serializers.OrganisationSerializer
    save_action = actions.do_save_organisation
    search_function = queries.search_organisations


@extend_schema_view(list=extend_schema(parameters=SEARCH))
class VehicleViewSet(SearchMixin, CompoundViewSet):
    """Vehicles of the compound."""

    queryset = Vehicle.objects.order_by("plate")
    serializer_class = serializers.VehicleSerializer
    save_action = actions.do_save_vehicle
    search_function = queries.search_vehicles


class AddressViewSet(CompoundViewSet):
    """Standard addresses; POST ``{"parent": id|null, "number": "3"}`` adds a node beneath ``parent``."""

    queryset = Address.objects.order_by("code")
    serializer_class = serializers.AddressSerializer
    http_method_names = ["get", "post", "head", "options"]

    def perform_create(self, serializer: serializers.AddressSerializer) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = actions.do_create_address(
                self.request._request.tenant, parent=data.get("parent"), number=data["number"]
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
