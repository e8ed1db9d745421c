"""Registry API of one compound, under ``/c/<compound>/api/registry/``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from district.api.base import CompoundViewSet, as_drf_error
from district.audit import do_record_id_number_search, do_record_pii_view
from district.permissions import VIEW_PII, has_capability
from registry import actions, queries
from registry.api import serializers
from registry.masking import full_id_number
from registry.models import Address, House, Lease, Organisation, Person, Vehicle
from tenants.models import Compound

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
        compound = getattr(self.request._request, "tenant", None)
        pii = compound is not None and has_capability(self.request.user, VIEW_PII, compound)
        return type(self).search_function(qs, params.get("q", ""), params.get("tag", ""), pii=pii)


class PiiMixin:
    """Masks ID numbers and phones for users without ``pii.view`` and audits what it shows unmasked.

    Unmasked list and retrieve responses write a ``view_pii`` audit row with the ids shown;
    a list searched by a whole ID number writes ``search_id_number`` for everyone. The rows
    are inserted in the transaction that reads the records.
    """

    request: Request
    _shown: list[models.Model] | None = None
    _found: QuerySet | None = None

    def _compound(self) -> Compound | None:
        request = getattr(self, "request", None)
        return getattr(request._request, "tenant", None) if request is not None else None

    def shows_pii(self) -> bool:
        compound = self._compound()
        # No compound (e.g. the OpenAPI generator's request): masked, never "anywhere in scope".
        return compound is not None and has_capability(self.request.user, VIEW_PII, compound)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()  # type: ignore[misc]
        context["mask_pii"] = not self.shows_pii()
        return context

    def paginate_queryset(self, queryset: QuerySet) -> list[models.Model] | None:
        page = super().paginate_queryset(queryset)  # type: ignore[misc]
        self._found = queryset
        self._shown = page if page is not None else list(queryset)
        return page

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            response = super().list(request, *args, **kwargs)  # type: ignore[misc]
            compound = self._compound()
            if self.shows_pii():
                do_record_pii_view(request.user, compound, self._shown or [], request=request._request)
            number = full_id_number(request.query_params.get("q", ""))
            if number and self._found is not None:
                do_record_id_number_search(request.user, compound, number, found=self._found, request=request._request)
        return response

    def _audited_write(self, write: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A write answers with the whole record: unmasked for pii.view users, so audited too.
        with transaction.atomic():
            response = write(request, *args, **kwargs)
            if self.shows_pii() and response.status_code < 300 and getattr(response, "data", None):
                model = self.get_queryset().model  # type: ignore[attr-defined]
                record = model.objects.filter(pk=response.data.get("id")).first()
                if record is not None:
                    do_record_pii_view(request.user, self._compound(), [record], request=request._request)
            return response

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._audited_write(super().create, request, *args, **kwargs)  # type: ignore[misc]

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._audited_write(super().update, request, *args, **kwargs)  # type: ignore[misc]

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            instance = self.get_object()  # type: ignore[attr-defined]
            if self.shows_pii():
                do_record_pii_view(request.user, self._compound(), [instance], request=request._request)
            return Response(self.get_serializer(instance).data)  # type: ignore[attr-defined]


@extend_schema_view(list=extend_schema(parameters=SEARCH))
class PersonViewSet(PiiMixin, SearchMixin, CompoundViewSet):
    """实有人口 of the compound."""

    queryset = Person.objects.order_by("name", "id")
    serializer_class = serializers.PersonSerializer
    save_action = actions.do_save_person
    search_function = queries.search_persons


@extend_schema_view(list=extend_schema(parameters=SEARCH))
class HouseViewSet(PiiMixin, SearchMixin, CompoundViewSet):
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
class OrganisationViewSet(PiiMixin, SearchMixin, CompoundViewSet):
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
