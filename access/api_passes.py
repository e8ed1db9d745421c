"""API of the event log, pass search, visitor passes and remote opening (``/c/<compound>/api/access/``).

The same filterset as the pages (``access.passes.AccessEventFilterSet``), the same actions
(``access.visitors``). Events come a page at a time by keyset (``cursor``): no count of 90
days of rows. Names are masked for users without ``access.search``; snapshot links are
given only to them, and every snapshot fetched is audited by the page that serves it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, pagination, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from access.models import Device, VisitorPass
from access.passes import (
    CURSOR,
    MAX_ID,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    AccessEventFilterSet,
    EventPage,
    EventRow,
    describe_events,
    events_of,
    page_of,
    request_sees_passages,
)
from access.visitors import (
    MAX_USES,
    NOTE_MAX_LENGTH,
    DenyReason,
    clock,
    do_issue_pass,
    do_remote_open,
    do_revoke_pass,
    pass_status,
    qr_data_uri,
)
from district.api.base import CompoundViewSet, ProbeLimited, as_drf_error
from district.api.pagination import bounded_int
from district.audit import do_record_pii_view
from district.permissions import ISSUE_PASSES, VIEW_ACCESS, need
from district.probes import ProbeLimitError
from events.choices import Decision, Direction, EventKind
from events.models import AccessEvent
from registry.filtersets import request_shows_pii
from registry.masking import mask_phone
from registry.models import Person
from tenants.models import Compound

__all__ = ["AccessEventViewSet", "RemoteOpenViewSet", "VisitorPassViewSet"]

VIEW = need(VIEW_ACCESS)
ISSUE = need(ISSUE_PASSES)


# --- Events -------------------------------------------------------------------------------------


class EventCursorPagination(pagination.BasePagination):
    """Newest first, ``limit`` (1–200) at a time; ``cursor`` (from ``next_cursor``) continues."""

    page: EventPage
    request: Request

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        limit = bounded_int(request, "limit", 1, MAX_PAGE_SIZE) or PAGE_SIZE
        cursor = request.query_params.get("cursor")
        if cursor is not None and not CURSOR.fullmatch(cursor):
            raise exceptions.ValidationError({"cursor": [_("Not a cursor of this list: use next_cursor as given.")]})
        self.request = request
        self.page = page_of(queryset, cursor, limit)
        return self.page.events

    def get_paginated_response(self, data: Any) -> Response:
        cursor = self.page.next_cursor
        url = replace_query_param(self.request.build_absolute_uri(), "cursor", cursor) if cursor else None
        return Response({"next": url, "next_cursor": cursor, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "next_cursor", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri", "nullable": True},
                "next_cursor": {"type": "string", "nullable": True, "pattern": CURSOR.pattern},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": "Events per page.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "Continue after this position (``next_cursor`` of the previous page).",
                "schema": {"type": "string", "pattern": f"^{CURSOR.pattern}$"},
            },
        ]


class AccessEventSerializer(serializers.Serializer):
    """One access event as its compound's users see it (names masked without ``access.search``)."""

    id = serializers.IntegerField(source="event.pk")
    occurred_at = serializers.DateTimeField(source="event.occurred_at")
    kind = serializers.ChoiceField(source="event.kind", choices=EventKind.choices)
    decision = serializers.ChoiceField(source="event.decision", choices=Decision.choices)
    direction = serializers.ChoiceField(source="event.direction", choices=Direction.choices, allow_blank=True)
    reason = serializers.CharField(source="event.reason", help_text="Why it was refused (e.g. expired, used_up).")
    device = serializers.CharField(source="device_uid", help_text="The device's id (uid); empty if none.")
    device_name = serializers.CharField()
    person = serializers.IntegerField(source="event.person_id", allow_null=True, help_text="A registry person's id.")
    person_name = serializers.CharField(help_text="Masked (张*伟) unless the user may search passages.")
    visitor_pass = serializers.IntegerField(source="event.visitor_pass_id", allow_null=True)
    visitor_name = serializers.CharField(help_text="Masked unless the user may search passages.")
    plate = serializers.CharField(source="event.plate")
    card_no = serializers.CharField(source="event.card_no")
    similarity = serializers.FloatField(source="event.similarity", allow_null=True)
    liveness = serializers.CharField(source="event.liveness")
    actor = serializers.CharField(source="actor_name", help_text="Who opened remotely (username).")
    note = serializers.CharField(help_text="The note of a remote opening.")
    has_snapshot = serializers.BooleanField()
    snapshot_url = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_snapshot_url(self, row: EventRow) -> str | None:
        """The permission-checked, audited snapshot URL, only for users who may search passages."""
        compound: Compound | None = self.context.get("compound")
        if not row.has_snapshot or not self.context.get("whole_names") or compound is None:
            return None
        return reverse("access:event_snapshot", kwargs={"compound": compound.code, "pk": row.event.pk})


class _InCompound:
    """``initial``'s guard of every compound endpoint (as ``CompoundViewSet``), for non-model viewsets."""

    request: Any

    def request_compound(self) -> Compound:
        compound: Compound | None = getattr(self.request._request, "tenant", None)
        if compound is None:
            raise Http404
        return compound


@extend_schema_view(
    list=extend_schema(
        description=(
            "Access events of the compound, newest first, within ``from``–``to`` (at most 92 days; "
            "the last 7 days by default). 案件研判: by resident (``q`` or ``person``), plate, device, "
            "kind, decision, direction or visitor pass."
        )
    )
)
class AccessEventViewSet(CompoundViewSet):
    """The compound's event log and pass search (read only)."""

    permissions = {"list": VIEW, "retrieve": VIEW, "metadata": VIEW}
    queryset = AccessEvent.objects.none()
    serializer_class = AccessEventSerializer
    filterset_class = AccessEventFilterSet
    filter_backends = [DjangoFilterBackend]
    pagination_class = EventCursorPagination
    http_method_names = ["get", "head", "options"]
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self) -> QuerySet[AccessEvent]:
        return events_of(self.request_compound())

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["compound"] = getattr(self.request._request, "tenant", None)
        context["whole_names"] = request_sees_passages(self.request._request)
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A search by a whole ID number writes its audit row: it commits with the read, or neither.
        with transaction.atomic():
            events = self.paginate_queryset(self.filter_queryset(self.get_queryset())) or []
            rows = describe_events(events, whole_names=request_sees_passages(request._request))
            return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        event = self.get_queryset().filter(pk=int(kwargs["pk"])).first()
        if event is None:
            raise exceptions.NotFound
        rows = describe_events([event], whole_names=request_sees_passages(request._request))
        return Response(self.get_serializer(rows[0]).data)


# --- Visitor passes -----------------------------------------------------------------------------


class VisitorPassSerializer(serializers.ModelSerializer):
    """A pass as listed: never its token or PIN (they exist only in the answer to its issue)."""

    visitor_phone = serializers.CharField(read_only=True, help_text="Masked unless the user sees personal data.")
    host_name = serializers.SerializerMethodField()
    issued_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    status = serializers.SerializerMethodField()

    class Meta:
        model = VisitorPass
        fields = [
            "id",
            "visitor_name",
            "visitor_phone",
            "purpose",
            "host",
            "host_name",
            "valid_from",
            "valid_until",
            "max_uses",
            "uses",
            "revoked_at",
            "issued_by",
            "created_at",
            "status",
        ]
        read_only_fields = fields

    def get_host_name(self, visitor_pass: VisitorPass) -> str:
        return visitor_pass.host.name if visitor_pass.host is not None else ""

    @extend_schema_field(
        {
            "type": "string",
            "enum": ["valid", *DenyReason.values],
            "description": "valid, or why it would be refused now",
        }
    )
    def get_status(self, visitor_pass: VisitorPass) -> str:
        return pass_status(visitor_pass, clock()) or "valid"

    def to_representation(self, instance: VisitorPass) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("mask_pii", True) and data.get("visitor_phone"):
            data["visitor_phone"] = mask_phone(data["visitor_phone"])
        return data


class IssuePassSerializer(serializers.Serializer):
    """A new pass: who visits, whom, for how long, how many passages."""

    visitor_name = serializers.CharField(max_length=64)
    visitor_phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    purpose = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    host = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, help_text="The host resident's registry id."
    )
    valid_from = serializers.DateTimeField(required=False, allow_null=True, help_text="Now if left out.")
    valid_until = serializers.DateTimeField(help_text="At most the compound's longest pass (72 hours by default).")
    max_uses = serializers.IntegerField(min_value=1, max_value=MAX_USES, default=2)


class IssuedPassSerializer(VisitorPassSerializer):
    """The answer to an issue: the pass, its token, PIN and QR code — shown this once, stored nowhere."""

    token = serializers.CharField(read_only=True)
    pin = serializers.CharField(read_only=True)
    qr = serializers.CharField(read_only=True, help_text="The token as an SVG QR code (a data: URI).")

    class Meta(VisitorPassSerializer.Meta):
        fields = [*VisitorPassSerializer.Meta.fields, "token", "pin", "qr"]
        read_only_fields = fields


@extend_schema_view(
    create=extend_schema(
        request=IssuePassSerializer,
        responses={201: IssuedPassSerializer},
        examples=[
            OpenApiExample(
                "A visitor for two hours",
                value={"visitor_name": "王芳", "host": 12, "valid_until": "2026-12-01T18:00:00+08:00", "max_uses": 2},
                request_only=True,
            )
        ],
    ),
    revoke=extend_schema(request=None, responses={200: VisitorPassSerializer}),
)
class VisitorPassViewSet(CompoundViewSet):
    """访客通行证 of the compound: list, issue (token and PIN shown once), revoke."""

    permissions = {"list": ISSUE, "retrieve": ISSUE, "create": ISSUE, "revoke": ISSUE, "metadata": ISSUE}
    queryset = VisitorPass.objects.select_related("host", "issued_by").order_by("-created_at", "-id")
    serializer_class = VisitorPassSerializer
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        request = getattr(self, "request", None)
        context["mask_pii"] = not (request is not None and request_shows_pii(request._request))
        return context

    def _audit_shown(self, passes: list[VisitorPass]) -> None:
        if request_shows_pii(self.request._request):
            do_record_pii_view(
                self.request.user,
                self.request_compound(),
                [p for p in passes if p.visitor_phone],
                request=self.request._request,
            )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            page = self.paginate_queryset(self.get_queryset()) or []
            self._audit_shown(list(page))
            return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            visitor_pass = self.get_object()
            self._audit_shown([visitor_pass])
            return Response(self.get_serializer(visitor_pass).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = IssuePassSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        host = None
        if data.get("host") is not None:
            host = Person.objects.filter(pk=data["host"]).first()
            if host is None:
                raise exceptions.ValidationError({"host": [_("No such resident in this compound.")]})
        try:
            issued = do_issue_pass(
                self.request_compound(),
                visitor_name=data["visitor_name"],
                visitor_phone=data["visitor_phone"],
                purpose=data["purpose"],
                host=host,
                valid_from=data.get("valid_from"),
                valid_until=data["valid_until"],
                max_uses=data["max_uses"],
                acting_user=request.user,
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        body = dict(IssuedPassSerializer(issued.visitor_pass, context={"mask_pii": False}).data)
        body.update(token=issued.token, pin=issued.pin, qr=qr_data_uri(issued.token))
        response = Response(body, status=201)
        response["Cache-Control"] = "no-store"  # the token and PIN must not stay in any cache
        return response

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Revoke the pass at once: its PIN and QR code open nothing from now on."""
        visitor_pass = self.get_object()
        try:
            visitor_pass = do_revoke_pass(self.request_compound(), visitor_pass, acting_user=request.user)
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(self.get_serializer(visitor_pass).data)


# --- Remote opening -----------------------------------------------------------------------------


class RemoteOpenSerializer(serializers.Serializer):
    device = serializers.CharField(max_length=32, help_text="The id (uid) of the gate or door to open.")
    note = serializers.CharField(max_length=NOTE_MAX_LENGTH, required=False, allow_blank=True, default="")


class RemoteOpenedSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    device = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class RemoteOpenViewSet(_InCompound, viewsets.GenericViewSet):
    """Open a gate or unit door for a caller: the device fetches the command within 60 seconds."""

    permissions = {"create": ISSUE, "metadata": ISSUE}
    serializer_class = RemoteOpenSerializer
    queryset = Device.objects.none()
    filter_backends: list[Any] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)
        if request.user.is_authenticated and getattr(request._request, "tenant", None) is None:
            raise Http404
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ProbeLimitError):
            exc = ProbeLimited(exc)
        return super().handle_exception(exc)

    @extend_schema(request=RemoteOpenSerializer, responses={201: RemoteOpenedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = RemoteOpenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = Device.objects.filter(uid=serializer.validated_data["device"].strip()).first()
        if device is None:
            raise exceptions.ValidationError({"device": [_("No such device in this compound.")]})
        try:
            event = do_remote_open(
                self.request_compound(), device, acting_user=request.user, note=serializer.validated_data["note"]
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response({"event_id": event.pk, "device": device.uid, "occurred_at": event.occurred_at}, status=201)
