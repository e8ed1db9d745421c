"""Device endpoints of visitors: a PIN or QR decision, and polling for remote-open commands.

Both are ``access.device_views.DeviceEndpoint`` s, like every device endpoint: the device's own
credential (no user passes), its compound's schema, the gate kinds only (403
``wrong_device_type``), refusals as ``{"code", "detail"}``. A delivery may carry an
``Idempotency-Key``: a retry with the same key gets the first answer again (``Idempotent-Replayed:
true``) and decides nothing twice (``events.DeliveryKey``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from access.choices import GATE_KINDS
from access.device_views import COMMON_ERRORS, DELIVERY_KEY, TAGS, DeviceEndpoint
from access.visitors import DenyReason, do_decide_pass, do_take_commands
from events.actions import do_remember_delivery
from events.choices import Decision

__all__ = ["CommandsView", "PassDecisionView"]


class SupersededError(Exception):
    """Another request with the same Idempotency-Key answered first: roll this one back."""


class OnceEndpoint(DeviceEndpoint):
    """A device endpoint for the gate kinds whose deliveries are answered once per Idempotency-Key."""

    kinds = GATE_KINDS

    def answer_once(self, decide: Callable[[], tuple[int, dict[str, Any]]]) -> Response:
        """Run ``decide`` once per Idempotency-Key of this device; a retry gets the stored answer.

        Without a key every request decides. The answer is remembered in the transaction that
        made it, so a request that loses the race to a concurrent retry rolls its event back and
        answers what the winner answered.
        """
        key = self.delivery_key()
        replayed = self.replay(key)
        if replayed is not None:
            return replayed
        try:
            with transaction.atomic():
                status, body = decide()
                if key and not do_remember_delivery(self.device, key, status=status, response=body):
                    raise SupersededError
        except SupersededError:
            replayed = self.replay(key)
            assert replayed is not None  # the winner committed before our insert failed
            return replayed
        return with_retry_after(Response(body, status=status))

    def replay(self, key: str) -> Response | None:
        response = super().replay(key)
        return with_retry_after(response) if response is not None else None


def with_retry_after(response: Response) -> Response:
    """A 429 tells the device when to try again (``retry_after`` of its body, as the header)."""
    if response.status_code == 429 and isinstance(response.data, dict):
        response["Retry-After"] = str(response.data.get("retry_after", 1))
    return response


# --- Schemas ------------------------------------------------------------------------------------


class PassDecisionRequestSerializer(serializers.Serializer):
    """What the gate read: a visitor's PIN (typed on its keypad) or QR token (scanned)."""

    pin = serializers.RegexField(r"^[0-9]{6}$", required=False, help_text="The visitor's 6-digit PIN.")
    token = serializers.RegexField(
        r"^[A-Za-z0-9_-]{16,64}$", required=False, help_text="The token read from the visitor's QR code."
    )
    direction = serializers.ChoiceField(choices=["in", "out"], required=False, help_text="Way of passage, if known.")
    occurred_at = serializers.DateTimeField(
        required=False, help_text="The device's time of the reading; ours is used when it is off by over 5 minutes."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("pin" in attrs) == ("token" in attrs):
            raise serializers.ValidationError(_("Send either a PIN or a QR token."))
        return attrs


class PassDecisionSerializer(serializers.Serializer):
    """The answer: open or deny, why, and the event that records it."""

    decision = serializers.ChoiceField(choices=[Decision.OPEN.value, Decision.DENY.value])
    reason = serializers.ChoiceField(
        choices=["", *DenyReason.values], help_text="Empty when it opens; else why it was refused."
    )
    event_id = serializers.IntegerField()
    uses_left = serializers.IntegerField(allow_null=True, help_text="Uses the pass has left after this one.")
    valid_until = serializers.DateTimeField(allow_null=True)


class PassRefusedSerializer(PassDecisionSerializer):
    """Refused for now: too many wrong PINs at this device."""

    code = serializers.ChoiceField(choices=[DenyReason.RATE_LIMITED.value])
    detail = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds until PINs are taken again.")


class CommandSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The access event of the remote opening.")
    command = serializers.ChoiceField(choices=["open"])
    issued_at = serializers.DateTimeField()


class CommandsSerializer(serializers.Serializer):
    commands = CommandSerializer(many=True)


# --- Views --------------------------------------------------------------------------------------


class PassDecisionView(OnceEndpoint):
    """POST ``decisions/pass/``: open for a visitor's PIN or QR token, or refuse and say why."""

    @extend_schema(
        operation_id="device_pass_decision",
        tags=TAGS,
        request=PassDecisionRequestSerializer,
        parameters=[DELIVERY_KEY],
        responses={
            200: PassDecisionSerializer,
            **COMMON_ERRORS,
            429: OpenApiResponse(
                PassRefusedSerializer, description="`rate_limited`: too many wrong PINs at this device."
            ),
        },
        examples=[
            OpenApiExample("PIN", value={"pin": "493817", "direction": "in"}, request_only=True),
            OpenApiExample("QR code", value={"token": "Yk3v0Qm7h2T9aXc1LwP5eA"}, request_only=True),
            OpenApiExample(
                "Opened",
                value={
                    "decision": "open",
                    "reason": "",
                    "event_id": 8812,
                    "uses_left": 1,
                    "valid_until": "2026-12-01T18:00:00+08:00",
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Expired",
                value={
                    "decision": "deny",
                    "reason": "expired",
                    "event_id": 8813,
                    "uses_left": None,
                    "valid_until": None,
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = self.validated(PassDecisionRequestSerializer)

        def decide() -> tuple[int, dict[str, Any]]:
            decision = do_decide_pass(
                self.device,
                self.local_device,
                pin=data.get("pin"),
                token=data.get("token"),
                direction=data.get("direction", ""),
                occurred_at=data.get("occurred_at"),
            )
            body = decision.payload()
            if decision.retry_at is None:
                return 200, body
            wait = max(1, int((decision.retry_at - decision.event.received_at).total_seconds()) + 1)
            body["code"] = DenyReason.RATE_LIMITED.value
            body["detail"] = _("Too many wrong PINs at this device: PINs are refused for %(n)d seconds.") % {"n": wait}
            body["retry_after"] = wait
            return 429, body

        return self.answer_once(decide)


class CommandsView(OnceEndpoint):
    """POST ``commands/``: the remote-open commands waiting for this device, each given once."""

    @extend_schema(
        operation_id="device_commands",
        tags=TAGS,
        request=None,
        parameters=[DELIVERY_KEY],
        responses={200: CommandsSerializer, **COMMON_ERRORS},
        examples=[
            OpenApiExample(
                "One opening",
                value={"commands": [{"id": 9120, "command": "open", "issued_at": "2026-12-01T09:30:12+08:00"}]},
                response_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        return self.answer_once(lambda: (200, {"commands": do_take_commands(self.device)}))
