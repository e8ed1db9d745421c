"""Serializers of the mediation API: they validate and shape; the actions write (STYLE.md §4).

Parties' ID numbers and phones leave masked unless the view says the user holds ``pii.view``
at the compound (``context["mask_pii"] = False``); masked is the default. The case's create
body is the contract the offline intake shares (``POST /c/<code>/api/mediation/cases/``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from district.api.fields import STRICT_FIELD_MAPPING, StrictCharField
from mediation.actions import MAX_DEADLINE_DAYS, MAX_PARTIES, PartyData, check_party_id_number, is_overdue
from mediation.attachments import MAX_BYTES
from mediation.choices import CaseCategory, CaseSource, CaseStatus, PartyRole, ReferredTo, Risk, RiskReason
from mediation.models import TEXT_MAX, Agreement, Attachment, Case, CaseStep, MediationSession, Party
from mediators.models import Mediator
from registry.masking import mask_id_number, mask_phone

MASKED_HELP = "Masked (e.g. 3701**********123X, 138****5678) unless you hold pii.view at this compound."
MAX_ID = 2**31 - 1


def amount() -> serializers.DecimalField:
    """An amount in yuan: up to 12 digits before the point and 2 after, never negative; null if unknown."""
    return serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, allow_null=True, required=False)


def text(max_length: int, *, required: bool = False, **kwargs: Any) -> StrictCharField:
    """A JSON string of at most ``max_length`` characters (blank allowed unless required)."""
    return StrictCharField(max_length=max_length, required=required, allow_blank=not required, **kwargs)


def object_id(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def compound_code(context: Mapping[str, Any]) -> str:
    request = context.get("request")
    tenant = getattr(getattr(request, "_request", request), "tenant", None)
    return tenant.code if tenant is not None else ""


def not_in_future(value: datetime.date) -> None:
    if value is not None and value > timezone.localdate():
        raise serializers.ValidationError(_("The date cannot be in the future."))


# --- Reading ---------------------------------------------------------------------------------------


class PartySerializer(serializers.ModelSerializer):
    """A party as shown: a resident (``person``) or an outsider; identifiers masked by role."""

    serializer_field_mapping = STRICT_FIELD_MAPPING
    id_number = serializers.SerializerMethodField(help_text=MASKED_HELP)
    phone = serializers.SerializerMethodField(help_text=MASKED_HELP)

    class Meta:
        model = Party
        fields = ["id", "case", "role", "person", "name", "id_number", "phone", "home_province"]
        read_only_fields = fields

    def _masked(self) -> bool:
        return bool(self.context.get("mask_pii", True))

    def get_id_number(self, party: Party) -> str:
        value = party.id_number or (party.person.id_number if party.person_id and party.person else "")
        return mask_id_number(value) if self._masked() else value

    def get_phone(self, party: Party) -> str:
        value = party.phone or (party.person.phone if party.person_id and party.person else "")
        return mask_phone(value) if self._masked() else value


class StepSerializer(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()

    class Meta:
        model = CaseStep
        fields = ["from_status", "to_status", "user", "at", "note"]
        read_only_fields = fields

    def get_user(self, step: CaseStep) -> str:
        try:
            return step.user.get_username() if step.user_id and step.user else ""
        except ObjectDoesNotExist:  # a deleted user's id stays on the step
            return ""


class CaseSerializer(serializers.ModelSerializer):
    """A case with its parties and workflow steps."""

    serializer_field_mapping = STRICT_FIELD_MAPPING
    url = serializers.SerializerMethodField(help_text="The case's page.")
    overdue = serializers.SerializerMethodField(help_text="Still open past its deadline.")
    requested_mediator = serializers.IntegerField(source="requested_mediator_id", read_only=True, allow_null=True)
    mediators = serializers.ListField(source="mediator_ids", child=serializers.IntegerField(), read_only=True)
    parties = PartySerializer(many=True, read_only=True)
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "url",
            "source",
            "category",
            "title",
            "description",
            "address",
            "place",
            "amount",
            "risk",
            "risk_reasons",
            "status",
            "referred_to",
            "occurred_on",
            "registered_at",
            "deadline",
            "deadline_extension_reason",
            "overdue",
            "concluded_at",
            "closed_at",
            "requested_mediator",
            "mediators",
            "parties",
            "steps",
        ]
        read_only_fields = fields

    def get_url(self, case: Case) -> str:
        return reverse("mediation:case", kwargs={"compound": compound_code(self.context), "pk": case.pk})

    def get_overdue(self, case: Case) -> bool:
        return is_overdue(case, self.context.get("today"))


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = MediationSession
        fields = ["id", "case", "scheduled_at", "place", "video_link", "attendees", "minutes", "held"]
        read_only_fields = fields


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The file, for users with mediation.view.")
    thumbnail_url = serializers.SerializerMethodField(help_text="A photo's thumbnail (at most 320 px); null for a PDF.")

    class Meta:
        model = Attachment
        fields = ["id", "case", "session", "agreement", "kind", "name", "size", "uploaded_at", "url", "thumbnail_url"]
        read_only_fields = fields

    def get_url(self, attachment: Attachment) -> str:
        return reverse(
            "mediation:attachment_file", kwargs={"compound": compound_code(self.context), "pk": attachment.pk}
        )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_thumbnail_url(self, attachment: Attachment) -> str | None:
        if not attachment.thumbnail:
            return None
        return reverse(
            "mediation:attachment_thumb", kwargs={"compound": compound_code(self.context), "pk": attachment.pk}
        )


class AgreementSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Agreement
        fields = ["id", "case", "terms", "amount", "signed_on", "created_at", "attachments"]
        read_only_fields = fields


# --- Writing ---------------------------------------------------------------------------------------


class PartyInputSerializer(serializers.Serializer):
    """A party as entered: ``person_id`` (a resident of the compound) or at least a ``name``."""

    role = serializers.ChoiceField(choices=PartyRole.choices)
    name = text(64)
    person_id = object_id(required=False, allow_null=True)
    id_number = text(32)
    phone = text(20)
    home_province = text(16)

    def validate_id_number(self, value: str) -> str:
        if not value:
            return value
        try:
            return check_party_id_number(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("person_id") and not (attrs.get("name") or "").strip():
            raise serializers.ValidationError({"name": [_("Give the party's name.")]})
        return attrs

    def party_data(self, attrs: dict[str, Any]) -> PartyData:
        return PartyData(
            role=attrs["role"],
            name=attrs.get("name") or "",
            person_id=attrs.get("person_id"),
            id_number=attrs.get("id_number") or "",
            phone=attrs.get("phone") or "",
            home_province=attrs.get("home_province") or "",
        )


class CaseFieldsSerializer(serializers.Serializer):
    """The fields of a case that its creation and its changes share."""

    source = serializers.ChoiceField(choices=CaseSource.choices, default=CaseSource.WALK_IN)  # type: ignore[assignment]
    category = serializers.ChoiceField(choices=CaseCategory.choices)
    title = text(120, required=True)
    description = text(TEXT_MAX, default="")
    risk = serializers.ChoiceField(choices=Risk.choices, default=Risk.LOW)
    risk_reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=RiskReason.choices), max_length=len(RiskReason.values), default=list
    )
    place = text(128, default="")
    amount = amount()
    occurred_on = serializers.DateField(required=False, allow_null=True, validators=[not_in_future])
    address = object_id(required=False, allow_null=True, help_text="A standard address of the compound (its id).")


class CaseCreateSerializer(CaseFieldsSerializer):
    """A new case (the offline intake's body): ``client_key`` makes sending it twice harmless."""

    client_key = StrictCharField(
        required=False,
        allow_null=True,
        min_length=8,
        max_length=64,
        help_text="The draft's idempotency key (a UUID): the same key twice makes one case.",
    )
    requested_mediator = object_id(required=False, allow_null=True, help_text="A mediator of the city's roster.")
    parties = PartyInputSerializer(many=True, max_length=MAX_PARTIES, min_length=1)  # type: ignore[call-arg]

    def validate_client_key(self, value: str | None) -> str | None:
        if value is not None and not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in value):
            raise serializers.ValidationError(_("A draft key has 8 to 64 letters, digits or dashes."))
        return value

    def validate_requested_mediator(self, value: int | None) -> int | None:
        if value is not None and not Mediator.objects.filter(pk=value, active=True).exists():
            raise serializers.ValidationError(_("No such mediator."))
        return value

    def registration(self) -> dict[str, Any]:
        """Keyword arguments of ``do_register_case``."""
        data = dict(self.validated_data)
        parties = [PartyInputSerializer().party_data(p) for p in data.pop("parties")]
        return {
            "source": data["source"],
            "category": data["category"],
            "title": data["title"],
            "description": data.get("description") or "",
            "risk": data["risk"],
            "risk_reasons": data.get("risk_reasons") or [],
            "place": data.get("place") or "",
            "amount": data.get("amount"),
            "occurred_on": data.get("occurred_on"),
            "address_id": data.get("address"),
            "requested_mediator_id": data.get("requested_mediator"),
            "client_key": data.get("client_key"),
            "parties": parties,
        }


class CaseCreatedSerializer(serializers.Serializer):
    """The answer to a registration: 201 for a new case, 200 when the ``client_key`` already made one."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    url = serializers.CharField(help_text="The case's page.")
    created = serializers.BooleanField()


class CaseUpdateSerializer(CaseFieldsSerializer):
    """Changes to a case's fields (PATCH: send only what changes; not its status)."""

    def changes(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "address" in data:
            data["address_id"] = data.pop("address")
        return data


class TransitionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=CaseStatus.choices, help_text="One of the statuses the current one allows."
    )
    note = text(500, default="")
    referred_to = serializers.ChoiceField(
        choices=ReferredTo.choices, required=False, allow_blank=True, default="", help_text="Required to refer."
    )


class ExtendDeadlineSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DEADLINE_DAYS)
    reason = text(500, required=True)


class MediatorChoiceSerializer(serializers.Serializer):
    mediator = object_id(help_text="A mediator of the city's roster.")


class PartyCreateSerializer(PartyInputSerializer):
    case = object_id()


class SessionWriteSerializer(serializers.Serializer):
    """A session: when, and where or by which video link; later its attendees, minutes, held."""

    scheduled_at = serializers.DateTimeField()
    place = text(128, default="")
    video_link = serializers.URLField(max_length=300, required=False, allow_blank=True, default="")
    attendees = text(500, default="")
    minutes = text(TEXT_MAX, default="")
    held = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not self.partial and not attrs.get("place") and not attrs.get("video_link"):
            raise serializers.ValidationError({"place": [_("Give a place or a remote-video link.")]})
        return attrs


class SessionCreateSerializer(SessionWriteSerializer):
    case = object_id()


class AgreementCreateSerializer(serializers.Serializer):
    case = object_id()
    terms = text(TEXT_MAX, required=True)
    amount = amount()
    signed_on = serializers.DateField(validators=[not_in_future])


MB = 1024 * 1024
# A JSON body is at most 1 MB (district.api.parsers): base64 of about 700 KB of file. Phone photos
# and scans are larger: they go as multipart uploads, up to the attachments' 10 MB.
BASE64_MAX_CHARS = 1_000_000


@extend_schema_field(
    {
        "type": "string",
        "format": "binary",
        "description": f"JPEG, PNG or PDF, at most {MAX_BYTES // MB} MB.",
    }
)
class UploadedFileField(serializers.FileField):
    """The uploaded file; its bytes are checked by ``mediation.attachments``."""


@extend_schema_field(
    {
        "type": "string",
        "format": "byte",
        "maxLength": BASE64_MAX_CHARS,
        "description": "The file (JPEG, PNG or PDF), base64-encoded.",
    }
)
class Base64FileField(serializers.Field):
    """A file as base64 text in a JSON body: its bytes (checked by ``mediation.attachments``)."""

    default_error_messages = {"invalid": _("Send the file as base64 text, or as a multipart upload.")}

    def to_internal_value(self, data: Any) -> bytes:
        if not isinstance(data, str) or len(data) > BASE64_MAX_CHARS:
            self.fail("invalid")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")

    def to_representation(self, value: Any) -> Any:  # write-only
        return None


class AttachmentCreateSerializer(serializers.Serializer):
    """A multipart upload: ``file`` and the record it is for."""

    case = object_id()
    file = UploadedFileField(allow_empty_file=True, max_length=255)
    session = object_id(required=False, allow_null=True)
    agreement = object_id(required=False, allow_null=True)


class AttachmentJSONSerializer(serializers.Serializer):
    """The same in JSON: the file base64-encoded, with the name to show for it."""

    case = object_id()
    name = text(128, default="")
    file = Base64FileField(write_only=True)
    session = object_id(required=False, allow_null=True)
    agreement = object_id(required=False, allow_null=True)
