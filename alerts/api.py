"""Alert API (``/api/alerts/``): alerts of the user's scope with their lifecycle, and broadcasts.

``GET /api/alerts/`` lists what ``alerts.audience.visible_alerts`` lets the user see (filters as
on the panel, ``after`` for what a client missed); each lifecycle step is a POST action that
calls its ``do_*`` (``/api/alerts/{id}/acknowledge/`` …) after checking ``alerts.handle`` at the
alert's compound. ``/api/alerts/broadcasts/`` lists and sends joint-defence broadcasts.
Serializers validate and shape; they never write (STYLE.md §4).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access.faces import ImageRefusedError
from alerts import actions
from alerts.audience import visible_alerts
from alerts.catalogue import MODELS, explain
from alerts.forms import BROADCAST_TEXT_MAX, AlertFilterForm, filter_alerts
from alerts.models import AlertStep, Broadcast
from alerts.photos import discard_broadcast_photo, store_broadcast_photo
from alerts.queries import (
    access_alert_by_id,
    access_broadcast_by_id,
    alert_snapshot,
    broadcast_compounds,
    broadcast_streets,
    dispatch_candidate,
    dispatch_candidates,
    time_to_acknowledge,
    visible_broadcasts,
)
from district.api.base import as_drf_error
from district.api.schema import form_parameters
from district.params import whole_number
from district.permissions import HANDLE_ALERTS, SEND_BROADCASTS, VIEW_ALERTS, need
from events.models import Alert

VIEW = need(VIEW_ALERTS)
HANDLE = need(HANDLE_ALERTS)
SEND = need(SEND_BROADCASTS)
MAX_ID = 2**63 - 1
# A JSON body is at most 1 MB (district.api.parsers): the photo's base64 text fits in that.
PHOTO_JSON_MAX_BYTES = 700 * 1024

FILTERS = form_parameters(
    AlertFilterForm,
    {
        "kind": "Alert model code, e.g. stranger, tailgating, watchlist_hit",
        "severity": "low, medium, high or critical",
        "status": "A status, or open (new, acknowledged or dispatched)",
        "compound": "Compound code, or the start of one (a street's code)",
        "assigned": "me: only alerts dispatched to the requesting user",
        "after": "Only alerts with a greater id (what a client missed)",
    },
)
for _parameter in FILTERS:
    if _parameter.name == "compound":  # digits only, as AlertFilterForm validates it
        _parameter.type = {**cast(dict[str, Any], _parameter.type), "pattern": "^[0-9]*$"}


class AlertStepSerializer(serializers.ModelSerializer[AlertStep]):
    """One lifecycle step: to which status, by whom, when, with what note."""

    status_label = serializers.CharField(source="get_status_display", read_only=True)
    username = serializers.SerializerMethodField()
    assignee_username = serializers.SerializerMethodField()

    class Meta:
        model = AlertStep
        fields = ["status", "status_label", "user", "username", "assignee", "assignee_username", "note", "at"]
        read_only_fields = fields

    def get_username(self, step: AlertStep) -> str:
        return step.user.get_username() if step.user else ""

    def get_assignee_username(self, step: AlertStep) -> str | None:
        return step.assignee.get_username() if step.assignee else None


class AlertSerializer(serializers.ModelSerializer[Alert]):
    """An alert as lists show it; ``explanation`` says why it fired, in the request's language."""

    kind_label = serializers.SerializerMethodField()
    severity_label = serializers.CharField(source="get_severity_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    compound_code = serializers.CharField(source="compound.code", read_only=True, default=None, allow_null=True)
    compound_name = serializers.CharField(source="compound.name", read_only=True, default=None, allow_null=True)
    explanation = serializers.SerializerMethodField()
    time_to_acknowledge = serializers.SerializerMethodField()
    assignee_username = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "kind_label",
            "severity",
            "severity_label",
            "status",
            "status_label",
            "occurred_at",
            "last_seen_at",
            "count",
            "compound",
            "compound_code",
            "compound_name",
            "street",
            "district",
            "city",
            "explanation",
            "acknowledged_at",
            "time_to_acknowledge",
            "assignee",
            "assignee_username",
            "closed_at",
        ]
        read_only_fields = fields

    def get_kind_label(self, alert: Alert) -> str:
        model = MODELS.get(alert.kind)
        return str(model.label) if model is not None else alert.kind

    def get_explanation(self, alert: Alert) -> str:
        return explain(alert.kind, alert.detail or {})

    @extend_schema_field(
        {"type": "number", "nullable": True, "description": "Seconds from occurrence to the first response."}
    )
    def get_time_to_acknowledge(self, alert: Alert) -> float | None:
        delta = time_to_acknowledge(alert)
        return delta.total_seconds() if delta is not None else None

    def get_assignee_username(self, alert: Alert) -> str | None:
        return alert.assignee.get_username() if alert.assignee else None


class AlertDetailSerializer(AlertSerializer):
    """An alert with its steps and, if its access event kept one, the URL of its snapshot."""

    steps = AlertStepSerializer(many=True, read_only=True)
    snapshot_url = serializers.SerializerMethodField()

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "steps", "snapshot_url"]
        read_only_fields = fields

    def get_snapshot_url(self, alert: Alert) -> str | None:
        return reverse("alerts:snapshot", args=[alert.pk]) if alert_snapshot(alert) is not None else None


class StepRequestSerializer(serializers.Serializer[Any]):
    """The body of a lifecycle step."""

    note = serializers.CharField(max_length=actions.NOTE_MAX, required=False, allow_blank=True, default="")


class DispatchRequestSerializer(StepRequestSerializer):
    """The body of a dispatch: whom (an id from ``GET /api/alerts/{id}/assignees/``) and a note."""

    assignee = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class AssigneeSerializer(serializers.Serializer[Any]):
    """Someone the alert may be dispatched to."""

    id = serializers.IntegerField(source="user.pk")
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    node = serializers.CharField()


def _alert_id(raw: Any) -> int:
    pk = whole_number(str(raw))
    if pk is None or pk > MAX_ID:
        raise Http404("No such alert")
    return pk


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class AlertViewSet(viewsets.ReadOnlyModelViewSet[Alert]):
    """Alerts the user's roles cover, newest first; lifecycle steps as actions (400 if not allowed now)."""

    serializer_class = AlertSerializer
    queryset = Alert.objects.none()
    lookup_value_regex = "[0-9]+"
    filter_backends: list[Any] = []  # the filters are AlertFilterForm's, shared with the panel
    permissions = {
        "list": VIEW,
        "retrieve": VIEW,
        "metadata": VIEW,
        "assignees": HANDLE,
        "acknowledge": HANDLE,
        "dispatch_to": HANDLE,
        "resolve": HANDLE,
        "false_alarm": HANDLE,
    }

    def get_queryset(self) -> QuerySet[Alert]:
        alerts = visible_alerts(self.request.user).select_related("compound", "assignee").order_by("-pk")
        if self.action != "list":
            return alerts
        form = AlertFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {
                    ("non_field_errors" if name == "__all__" else name): [e["message"] for e in errors]
                    for name, errors in form.errors.get_json_data().items()
                }
            )
        return filter_alerts(alerts, form.cleaned_data, self.request.user)

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return AlertSerializer if self.action == "list" else AlertDetailSerializer

    def get_object(self) -> Alert:
        capability = None if self.action in ("retrieve", "metadata") else HANDLE_ALERTS
        return access_alert_by_id(self.request.user, _alert_id(self.kwargs["pk"]), capability=capability)

    def _step(self, request: Request, do: Any) -> Response:
        alert = self.get_object()
        body = StepRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            alert = do(alert, acting_user=request.user, note=body.validated_data["note"])
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(AlertDetailSerializer(alert, context=self.get_serializer_context()).data)

    @extend_schema(request=StepRequestSerializer, responses=AlertDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        """确认: the user has seen the alert and takes it on."""
        return self._step(request, actions.do_acknowledge_alert)

    @extend_schema(request=StepRequestSerializer, responses=AlertDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        """处置完毕: the situation was dealt with."""
        return self._step(request, actions.do_resolve_alert)

    @extend_schema(request=StepRequestSerializer, responses=AlertDetailSerializer)
    @action(detail=True, methods=["post"], url_path="false-alarm", url_name="false-alarm")
    def false_alarm(self, request: Request, pk: str) -> Response:
        """误报: nothing was wrong (the note says why)."""
        return self._step(request, actions.do_mark_false_alarm)

    @extend_schema(request=DispatchRequestSerializer, responses=AlertDetailSerializer)
    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def dispatch_to(self, request: Request, pk: str) -> Response:
        """派单: send one of ``assignees`` to deal with the alert."""
        alert = self.get_object()
        body = DispatchRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignee = dispatch_candidate(alert, body.validated_data["assignee"])
        if assignee is None:
            raise ValidationError({"assignee": [_("Choose someone who handles alerts of this compound.")]})
        try:
            alert = actions.do_dispatch_alert(
                alert, acting_user=request.user, assignee=assignee, note=body.validated_data["note"]
            )
        except DjangoValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(AlertDetailSerializer(alert, context=self.get_serializer_context()).data)

    @extend_schema(responses=AssigneeSerializer(many=True))
    @action(detail=True, methods=["get"])
    def assignees(self, request: Request, pk: str) -> Response:
        """Who the alert may be dispatched to: people who handle alerts of its compound, nearest first."""
        alert = self.get_object()
        return Response(AssigneeSerializer(dispatch_candidates(alert), many=True).data)


def base64_length(size: int) -> int:
    return 4 * math.ceil(size / 3)


@extend_schema_field(
    {
        "type": "string",
        "format": "byte",
        "maxLength": base64_length(PHOTO_JSON_MAX_BYTES),
        "description": "A JPEG or PNG photo, base64-encoded (at most 700 KB).",
    }
)
class Base64PhotoField(serializers.Field):
    """A photo as base64 text in the JSON body: bounded before it is decoded."""

    default_error_messages = {
        "invalid": _("Send the photo as base64 text."),
        "too_large": _("The photo is larger than %(kb)d KB."),
    }

    def to_internal_value(self, data: Any) -> bytes:
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > base64_length(PHOTO_JSON_MAX_BYTES):
            self.fail("too_large", kb=PHOTO_JSON_MAX_BYTES // 1024)
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")

    def to_representation(self, value: Any) -> Any:  # write-only
        return None


class BroadcastSerializer(serializers.ModelSerializer[Broadcast]):
    """A broadcast as its recipients read it; ``street`` or ``compound`` says where it went."""

    street = serializers.IntegerField(source="area_id", read_only=True, allow_null=True)
    street_name = serializers.CharField(source="area.name", read_only=True, default=None, allow_null=True)
    compound_name = serializers.CharField(source="compound.name", read_only=True, default=None, allow_null=True)
    sender_username = serializers.SerializerMethodField()
    photo_url = serializers.SerializerMethodField()

    class Meta:
        model = Broadcast
        fields = [
            "id",
            "text",
            "sent_at",
            "street",
            "street_name",
            "compound",
            "compound_name",
            "sender_username",
            "photo_url",
        ]
        read_only_fields = fields

    def get_sender_username(self, broadcast: Broadcast) -> str:
        return broadcast.sender.get_username() if broadcast.sender else ""

    def get_photo_url(self, broadcast: Broadcast) -> str | None:
        return reverse("alerts:broadcast_photo", args=[broadcast.pk]) if broadcast.photo else None


class BroadcastCreateSerializer(serializers.Serializer[Any]):
    """A new broadcast: text, exactly one of ``street`` or ``compound`` (ids in the sender's part), a photo."""

    text = serializers.CharField(max_length=BROADCAST_TEXT_MAX)
    street = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    compound = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    photo = Base64PhotoField(required=False, allow_null=True, write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        user = self.context["request"].user
        street, compound = attrs.get("street"), attrs.get("compound")
        if (street is None) == (compound is None):
            raise ValidationError({"non_field_errors": [_("A broadcast goes to one street or one compound.")]})
        if street is not None:
            attrs["area"] = broadcast_streets(user).filter(pk=street).first()
            if attrs["area"] is None:
                raise ValidationError({"street": [_("No such street among those you may send to.")]})
        else:
            attrs["compound"] = broadcast_compounds(user).filter(pk=compound).first()
            if attrs["compound"] is None:
                raise ValidationError({"compound": [_("No such compound among those you may send to.")]})
        return attrs


class BroadcastViewSet(viewsets.ReadOnlyModelViewSet[Broadcast]):
    """Broadcasts to the user's compounds and streets (and those they sent); POST sends one."""

    serializer_class = BroadcastSerializer
    queryset = Broadcast.objects.none()
    lookup_value_regex = "[0-9]+"
    filter_backends: list[Any] = []
    http_method_names = ["get", "post", "head", "options"]
    permissions = {"list": VIEW, "retrieve": VIEW, "metadata": VIEW, "create": SEND}

    def get_queryset(self) -> QuerySet[Broadcast]:
        return visible_broadcasts(self.request.user).order_by("-sent_at", "-pk")

    def get_object(self) -> Broadcast:
        return access_broadcast_by_id(self.request.user, _alert_id(self.kwargs["pk"]))

    @extend_schema(request=BroadcastCreateSerializer, responses={201: BroadcastSerializer})
    def create(self, request: Request) -> Response:
        """一呼百应: send a message (and a photo) to a street or compound; delivered live to those on patrol there."""
        body = BroadcastCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        photo = ""
        if data.get("photo"):
            try:
                photo = store_broadcast_photo(data["photo"])
            except ImageRefusedError as refused:
                raise ValidationError({"photo": [str(refused)]}) from None
        destination = {"area": data["area"]} if data.get("area") is not None else {"compound": data["compound"]}
        try:
            broadcast = actions.do_send_broadcast(
                acting_user=request.user, text=data["text"], photo=photo, **destination
            )
        except DjangoValidationError as exc:
            discard_broadcast_photo(photo)
            raise as_drf_error(exc) from None
        return Response(BroadcastSerializer(broadcast).data, status=status.HTTP_201_CREATED)
