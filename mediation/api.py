"""Mediation API of one compound, under ``/c/<compound>/api/mediation/``.

The same needs as the pages (``mediation.views``): ``mediation.view`` reads; ``mediation.record``
registers cases and assigns mediators; working a case (its fields, workflow, deadline, parties,
sessions, agreements, attachments) needs ``mediation.record`` or the ``change`` grant of a
mediator assigned to it. A record of a case (a party, a session …) is checked against its case.
Every write calls an action; parties' identifiers are masked without ``pii.view`` and an
unmasked answer is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import django_filters
import django_filters.rest_framework
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from district.api.base import CompoundViewSet, as_drf_error
from district.audit import do_record_pii_view
from district.permissions import RECORD_CASES, VIEW_CASES, need
from mediation import actions
from mediation import serializers as s
from mediation.actions import OPEN_STATUSES
from mediation.attachments import AttachmentRefusedError, check_size, do_add_attachment, do_remove_attachment
from mediation.choices import CaseCategory, CaseStatus, Risk
from mediation.models import Agreement, Attachment, Case, MediationSession, Party
from mediation.queries import open_first
from mediators.models import Mediator
from registry.filtersets import request_shows_pii

__all__ = ["AgreementViewSet", "AttachmentViewSet", "CaseViewSet", "PartyViewSet", "SessionViewSet"]

READ = need(VIEW_CASES)
RECORD = need(RECORD_CASES)
WRITE = need(RECORD_CASES, grant="change")
MAX_ID = 2**31 - 1
VALIDATION_ERRORS = {"$ref": "#/components/schemas/ValidationErrors"}
ERROR_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}
READS = {"list": READ, "retrieve": READ, "metadata": READ}


class FileTooLarge(APIException):
    """413: the upload is larger than the attachments' limit."""

    status_code = 413
    default_code = "too_large"


def drf_error(exc: DjangoValidationError) -> APIException:
    """An action's refusal as the API's error: 413 for a file too large, else DRF's 400 by field."""
    if isinstance(exc, AttachmentRefusedError) and exc.status == 413:
        return FileTooLarge(" ".join(exc.messages))
    return as_drf_error(exc)


def flat_party_errors(errors: Any) -> Any:
    """A party's errors keyed by the intake form's field name (``parties-1-id_number``).

    DRF nests them (``{"parties": {"1": {"id_number": [...]}}}``); flat, they name the very input
    of the page (and of the offline form) to show them beside, and keep the API's one error shape.
    """
    parties = errors.get("parties") if isinstance(errors, dict) else None
    if not isinstance(parties, dict):
        return errors
    flat = {key: value for key, value in errors.items() if key != "parties"}
    for index, party_errors in parties.items():
        if index == "non_field_errors":  # about the list itself (empty, too long)
            flat["parties"] = party_errors
        elif isinstance(party_errors, dict):
            for field, messages in party_errors.items():
                name = f"parties-{index}" if field == "non_field_errors" else f"parties-{index}-{field}"
                flat[name] = messages
        else:
            flat[f"parties-{index}"] = party_errors
    return flat


class StrictBooleanField(forms.Field):
    """``true`` or ``false`` (also ``1``/``0``); anything else, even empty, is refused, not read as "no filter"."""

    default_error_messages = {"invalid": _("Enter true or false.")}
    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: Any) -> bool | None:
        if value is None:  # absent: no filter (present but empty is no boolean either)
            return None
        if isinstance(value, bool):
            return value
        if str(value).lower() not in self.VALUES:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return self.VALUES[str(value).lower()]


class StrictBooleanFilter(django_filters.rest_framework.BooleanFilter):
    """A boolean query parameter that refuses what is not one (its schema says ``boolean``)."""

    field_class = StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # django-filter's BooleanWidget reads anything unknown as "no filter": the field decides here.
        kwargs["widget"] = forms.TextInput
        super().__init__(*args, **kwargs)


class IdFilter(django_filters.NumberFilter):
    """A record id: a whole number (the schema says ``integer``; ``1.5`` is refused)."""

    field_class = forms.IntegerField


class CaseFilterSet(django_filters.FilterSet):
    """``?status=``, ``?category=``, ``?risk=``, ``?overdue=true`` and ``?q=`` (number, title, party name)."""

    status = django_filters.ChoiceFilter(choices=CaseStatus.choices)
    category = django_filters.ChoiceFilter(choices=CaseCategory.choices)
    risk = django_filters.ChoiceFilter(choices=Risk.choices)
    overdue = StrictBooleanFilter(method="filter_overdue", help_text="Open and past the deadline.")
    q = django_filters.CharFilter(method="filter_q", max_length=100, help_text="Number, title or a party's name.")

    class Meta:
        model = Case
        fields = ["status", "category", "risk"]

    def filter_overdue(self, queryset: QuerySet[Case], name: str, value: bool) -> QuerySet[Case]:
        late = models.Q(status__in=OPEN_STATUSES, deadline__lt=timezone.localdate())
        return queryset.filter(late) if value else queryset.exclude(late)

    def filter_q(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        value = value.strip()
        if not value:
            return queryset
        match = models.Q(number__icontains=value) | models.Q(title__icontains=value)
        return queryset.filter(match | models.Q(parties__name__icontains=value)).distinct()


class CaseRecordFilterSet(django_filters.FilterSet):
    """``?case=<id>``: the records of one case."""

    case = IdFilter(field_name="case__id", min_value=1, max_value=MAX_ID, help_text="A case's id.")


class MediationViewSet(CompoundViewSet):
    """Base: the serializer context (masking, today) and object checks made on a record's case."""

    ordering_fields = ["id"]

    def shows_pii(self) -> bool:
        request = getattr(self, "request", None)
        return request is not None and request_shows_pii(request._request)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "mask_pii": not self.shows_pii(), "today": timezone.localdate()}

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        # An assigned mediator's grant is on the case: a party, session, agreement or attachment
        # is checked as its case.
        super().check_object_permissions(request, getattr(obj, "case", obj))

    def case_for_write(self, case_id: int) -> Case:
        """The case a new record is for, with the write permission checked on it (404 if missing)."""
        case = Case.objects.filter(pk=case_id).first()
        if case is None:
            raise Http404
        self.check_object_permissions(self.request, case)
        return case

    def case_id_from_body(self) -> int:
        """The ``case`` of a new record's body, validated alone first: permission before content."""
        field = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        data = self.request.data if hasattr(self.request.data, "get") else {}
        try:
            return int(field.run_validation(data.get("case", serializers.empty)))
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"case": exc.detail}) from None


# --- Cases ---------------------------------------------------------------------------------------------

CREATE_EXAMPLE = {
    "client_key": "3f0c8f6e-2a51-4b8e-9d0e-6c1f3f0e9a11",
    "source": "walk_in",
    "category": "neighbour",
    "title": "楼上漏水",
    "description": "502 室漏水至 402 室，双方协商未果。",
    "risk": "low",
    "risk_reasons": [],
    "place": "3号楼2单元",
    "amount": "1200.00",
    "occurred_on": "2026-03-01",
    "parties": [
        {"role": "applicant", "name": "王芳", "person_id": None, "id_number": "", "phone": "", "home_province": ""},
        {"role": "respondent", "name": "李强", "person_id": None, "id_number": "", "phone": "", "home_province": ""},
    ],
}


@extend_schema_view(
    list=extend_schema(summary="Cases of the compound (open ones first, by deadline)"),
    retrieve=extend_schema(summary="One case with its parties and steps"),
)
class CaseViewSet(MediationViewSet):
    """矛盾纠纷 of the compound: register, change, move along the workflow, extend, assign mediators."""

    queryset = Case.objects.prefetch_related("parties__person", "steps__user")
    serializer_class = s.CaseSerializer
    filterset_class = CaseFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = ["id", "deadline", "registered_at"]
    permissions = {
        **READS,
        "create": RECORD,
        "partial_update": WRITE,
        "transition": WRITE,
        "extend_deadline": WRITE,
        "assign_mediator": RECORD,
        "unassign_mediator": RECORD,
    }

    def get_queryset(self) -> QuerySet[Case]:
        return open_first(super().get_queryset())

    def paginate_queryset(self, queryset: QuerySet | Sequence[Any]) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        self._shown = page if page is not None else list(queryset)
        return page

    def _audit_shown(self, cases: list[Case]) -> None:
        if self.shows_pii():
            parties = [p for case in cases for p in case.parties.all() if p.id_number or p.phone or p.person_id]
            do_record_pii_view(self.request.user, self.request_compound(), parties, request=self.request._request)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            response = super().list(request, *args, **kwargs)
            self._audit_shown(list(getattr(self, "_shown", [])))
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            case = self.get_object()
            self._audit_shown([case])
            return Response(self.get_serializer(case).data)

    def _case_answer(self, case: Case, code: int = status.HTTP_200_OK) -> Response:
        case = self.get_queryset().get(pk=case.pk)
        with transaction.atomic():
            self._audit_shown([case])
            return Response(self.get_serializer(case).data, status=code)

    @extend_schema(
        summary="Register a case with its parties (idempotent on client_key)",
        description=(
            "The offline intake's call. `client_key` (a UUID made when the draft was written) makes the "
            "registration idempotent: the same key again answers 200 with the case it made "
            "(`created: false`), also when two sends race. A party is a resident (`person_id`) or an "
            "outsider (`name`, optionally `id_number`, `phone`, `home_province`). A high `risk` raises an alert. "
            "A party's errors are keyed by the intake form's field name, e.g. `parties-1-id_number`."
        ),
        request=s.CaseCreateSerializer,
        responses={
            201: OpenApiResponse(s.CaseCreatedSerializer, description="Registered."),
            200: OpenApiResponse(s.CaseCreatedSerializer, description="This client_key already made this case."),
        },
        examples=[OpenApiExample("A neighbours' dispute", value=CREATE_EXAMPLE, request_only=True)],
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.CaseCreateSerializer(data=request.data, context=self.get_serializer_context())
        if not serializer.is_valid():
            raise serializers.ValidationError(flat_party_errors(serializer.errors))
        try:
            case, created = actions.do_register_case(acting_user=request.user, **serializer.registration())
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        body = {
            "id": case.pk,
            "number": case.number,
            "url": s.CaseSerializer(case, context=self.get_serializer_context()).data["url"],
            "created": created,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="Change a case's fields (not its status)",
        request=s.CaseUpdateSerializer,
        responses={200: s.CaseSerializer},
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.get_object()
        serializer = s.CaseUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            case = actions.do_update_case(case, acting_user=request.user, changes=serializer.changes())
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return self._case_answer(case)

    @extend_schema(
        summary="Move the case along the workflow",
        description=(
            "registered → accepted → mediating → agreement | failed → follow_up → closed; referred "
            "(with `referred_to`) from any open status. A status the current one does not allow is refused (400)."
        ),
        request=s.TransitionSerializer,
        responses={200: s.CaseSerializer},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        case = self.get_object()
        serializer = s.TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            case = actions.do_transition_case(
                case, data["status"], acting_user=request.user, note=data["note"], referred_to=data["referred_to"]
            )
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return self._case_answer(case)

    @extend_schema(
        summary="Extend an open case's deadline, with the reason",
        request=s.ExtendDeadlineSerializer,
        responses={200: s.CaseSerializer},
    )
    @action(detail=True, methods=["post"])
    def extend_deadline(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        case = self.get_object()
        serializer = s.ExtendDeadlineSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            case = actions.do_extend_deadline(case, acting_user=request.user, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return self._case_answer(case)

    def _mediator(self, *, roster_only: bool) -> Mediator:
        serializer = s.MediatorChoiceSerializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        qs = Mediator.objects.all()
        if roster_only:
            city = self.request_compound().street.path.split("/")[0]
            qs = qs.filter(city__code=city)
        mediator = qs.filter(pk=serializer.validated_data["mediator"]).first()
        if mediator is None:
            raise serializers.ValidationError({"mediator": [_("No such mediator.")]})
        return mediator

    @extend_schema(
        summary="Assign a mediator of the city's roster (grants them this case)",
        request=s.MediatorChoiceSerializer,
        responses={200: s.CaseSerializer},
    )
    @action(detail=True, methods=["post"])
    def assign_mediator(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        case = self.get_object()
        try:
            case = actions.do_assign_mediator(case, self._mediator(roster_only=True), acting_user=request.user)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return self._case_answer(case)

    @extend_schema(
        summary="Take a mediator off the case (and their grant)",
        request=s.MediatorChoiceSerializer,
        responses={200: s.CaseSerializer},
    )
    @action(detail=True, methods=["post"])
    def unassign_mediator(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        case = self.get_object()
        try:
            case = actions.do_unassign_mediator(case, self._mediator(roster_only=False), acting_user=request.user)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return self._case_answer(case)


# --- Parties -------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Parties (of one case with ?case=)"),
    retrieve=extend_schema(summary="One party"),
    destroy=extend_schema(summary="Remove a party (a case keeps at least one)"),
)
class PartyViewSet(MediationViewSet):
    """Parties of the compound's cases; identifiers masked without pii.view."""

    queryset = Party.objects.select_related("person").order_by("case_id", "role", "id")
    serializer_class = s.PartySerializer
    filterset_class = CaseRecordFilterSet
    http_method_names = ["get", "post", "delete", "head", "options"]
    permissions = {**READS, "create": WRITE, "destroy": WRITE}

    def paginate_queryset(self, queryset: QuerySet | Sequence[Any]) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        self._shown = page if page is not None else list(queryset)
        return page

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            response = super().list(request, *args, **kwargs)
            if self.shows_pii():
                do_record_pii_view(request.user, self.request_compound(), getattr(self, "_shown", []))
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            party = self.get_object()
            if self.shows_pii():
                do_record_pii_view(request.user, self.request_compound(), [party], request=request._request)
            return Response(self.get_serializer(party).data)

    @extend_schema(summary="Add a party to a case", request=s.PartyCreateSerializer, responses={201: s.PartySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.case_for_write(self.case_id_from_body())
        serializer = s.PartyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            party = actions.do_add_party(
                case, serializer.party_data(serializer.validated_data), acting_user=request.user
            )
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(self.get_serializer(party).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: models.Model) -> None:
        assert isinstance(instance, Party)
        try:
            actions.do_remove_party(instance, acting_user=self.request.user)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None


# --- Sessions ------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Mediation sessions (of one case with ?case=)"),
    retrieve=extend_schema(summary="One session"),
)
class SessionViewSet(MediationViewSet):
    """Sessions: scheduled (date, place or remote-video link), then recorded (attendees, minutes, held)."""

    queryset = MediationSession.objects.order_by("scheduled_at", "id")
    serializer_class = s.SessionSerializer
    filterset_class = CaseRecordFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = ["id", "scheduled_at"]
    permissions = {**READS, "create": WRITE, "partial_update": WRITE}

    def _save_session(self, session: MediationSession, data: dict[str, Any]) -> MediationSession:
        for name, value in data.items():
            if name != "case":
                setattr(session, name, value)
        try:
            return actions.do_save_session(session, acting_user=self.request.user)
        except DjangoValidationError as exc:
            raise drf_error(exc) from None

    @extend_schema(
        summary="Schedule a session", request=s.SessionCreateSerializer, responses={201: s.SessionSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.case_for_write(self.case_id_from_body())
        serializer = s.SessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = self._save_session(MediationSession(case=case), dict(serializer.validated_data))
        return Response(self.get_serializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a session, or record its attendees, minutes and whether it was held",
        request=s.SessionWriteSerializer,
        responses={200: s.SessionSerializer},
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        session = self.get_object()
        serializer = s.SessionWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not (data.get("place", session.place) or data.get("video_link", session.video_link)):
            raise serializers.ValidationError({"place": [_("Give a place or a remote-video link.")]})
        session = self._save_session(session, data)
        return Response(self.get_serializer(session).data)


# --- Agreements ----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Agreements (of one case with ?case=)"),
    retrieve=extend_schema(summary="One agreement with its attachments"),
)
class AgreementViewSet(MediationViewSet):
    """调解协议: the terms signed, the amount, the date; signature scans are its attachments."""

    queryset = Agreement.objects.prefetch_related("attachments").order_by("signed_on", "id")
    serializer_class = s.AgreementSerializer
    filterset_class = CaseRecordFilterSet
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["id", "signed_on"]
    permissions = {**READS, "create": WRITE}

    @extend_schema(
        summary="Record the signed agreement (a case being mediated moves to agreement reached)",
        request=s.AgreementCreateSerializer,
        responses={201: s.AgreementSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.case_for_write(self.case_id_from_body())
        serializer = s.AgreementCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            agreement = actions.do_record_agreement(
                case,
                terms=data["terms"],
                signed_on=data["signed_on"],
                amount=data.get("amount"),
                acting_user=request.user,
            )
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(self.get_serializer(agreement).data, status=status.HTTP_201_CREATED)


# --- Attachments ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Attachments (of one case with ?case=)"),
    retrieve=extend_schema(summary="One attachment"),
    destroy=extend_schema(summary="Delete an attachment"),
)
class AttachmentViewSet(MediationViewSet):
    """Photos (thumbnailed) and PDFs of a case, its sessions and agreements."""

    queryset = Attachment.objects.order_by("uploaded_at", "id")
    serializer_class = s.AttachmentSerializer
    filterset_class = CaseRecordFilterSet
    http_method_names = ["get", "post", "delete", "head", "options"]
    permissions = {**READS, "create": WRITE, "destroy": WRITE}

    @extend_schema(
        summary="Upload a photo or PDF",
        description=(
            "`file`: a JPEG or PNG photo (at most 24 megapixels; a thumbnail of at most 320 px is made) or a "
            "PDF, at most 10 MB, as a multipart/form-data upload; or, in JSON, base64-encoded with its `name` "
            "(JSON bodies are at most 1 MB). The type is decided from the bytes: anything else, a damaged "
            "photo or an empty file is refused (400); a larger file answers 413. Optionally for one "
            "`session` or `agreement` of the case."
        ),
        request={
            "multipart/form-data": s.AttachmentCreateSerializer,
            "application/json": s.AttachmentJSONSerializer,
        },
        responses={
            201: s.AttachmentSerializer,
            413: OpenApiResponse(ERROR_DETAIL, description="The file is larger than 10 MB."),
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.case_for_write(self.case_id_from_body())
        multipart = (request.content_type or "").startswith("multipart/")
        serializer: serializers.Serializer = (
            s.AttachmentCreateSerializer(data=request.data)
            if multipart
            else s.AttachmentJSONSerializer(data=request.data)
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session = agreement = None
        if data.get("session"):
            session = MediationSession.objects.filter(pk=data["session"], case=case).first()
            if session is None:
                raise serializers.ValidationError({"session": [_("This session belongs to another case.")]})
        if data.get("agreement"):
            agreement = Agreement.objects.filter(pk=data["agreement"], case=case).first()
            if agreement is None:
                raise serializers.ValidationError({"agreement": [_("This agreement belongs to another case.")]})
        try:
            if multipart:
                upload = data["file"]
                check_size(upload.size)
                upload.seek(0)
                name, content = upload.name or "", upload.read()
            else:
                name, content = data.get("name") or "", data["file"]
            attachment = do_add_attachment(
                case, name=name, data=content, session=session, agreement=agreement, acting_user=request.user
            )
        except DjangoValidationError as exc:
            raise drf_error(exc) from None
        return Response(self.get_serializer(attachment).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: models.Model) -> None:
        assert isinstance(instance, Attachment)
        do_remove_attachment(instance, acting_user=self.request.user)
