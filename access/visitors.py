"""访客 — visitor passes (a QR token and a PIN), remote opening, and the gate's side of both.

A pass is issued by a holder of ``access.passes`` (property staff, the beat officer), on a host
resident's behalf when a resident asks: residents have no login here. The QR token (128 random
bits) and the 6-digit PIN are shown once, at issue; only keyed hashes (HMAC-SHA256 with
``SECRET_KEY``) are stored, so neither a database dump nor the staff who read it can open a gate.

At the gate a device posts the PIN or the token (``access.device_passes``): :func:`do_decide_pass`
finds the pass under a row lock, opens when it is valid (``uses`` counted by a conditional
UPDATE, so two devices cannot both spend its last use) and records the decision as an access
event in the same transaction. A PIN is only one of 10⁶, so a device's wrong PINs are
limited: :data:`PIN_MISS_LIMIT` misses within :data:`PIN_MISS_WINDOW` refuse its PIN attempts
(429) until the oldest leaves the window. The count is read from the event table itself (the
misses are events), not from process memory, so every server process sees the same count.

Remote opening (:func:`do_remote_open`) is an access event of kind ``remote`` whose ``detail``
carries the command; the device fetches it by polling (:func:`do_take_commands`), which hands
each command out exactly once, within :data:`COMMAND_TTL` of its issue.

Time comes from :func:`clock`, which tests replace: nothing here or in its tests sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.choices import GATE_KINDS, DeviceStatus
from access.models import AccessSettings, Device, VisitorPass
from district.audit import changed_fields, do_record_change
from district.models import AuditAction
from district.realtime import send_event_on_commit
from district.typing import AnyUser
from events.actions import access_group, do_record_access_event
from events.choices import Decision, Direction, EventKind
from events.models import AccessEvent, DeviceIndex
from registry.models import Person
from registry.validators import check_phone
from tenants.models import Compound

__all__ = [
    "COMMAND_TTL",
    "MAX_USES",
    "PIN_MISS_LIMIT",
    "PIN_MISS_WINDOW",
    "DenyReason",
    "IssuedPass",
    "PassDecision",
    "clock",
    "do_decide_pass",
    "do_issue_pass",
    "do_remote_open",
    "do_revoke_pass",
    "do_take_commands",
    "pass_is_live",
    "pass_status",
    "pin_hash",
    "qr_data_uri",
    "token_hash",
]

PIN_DIGITS = 6
TOKEN_BYTES = 16  # 128 bits: a token is never guessed, so token attempts are not limited
MAX_USES = 20
# Tries to draw a PIN that no live pass of the compound holds. With 10⁶ PINs and a few hundred
# live passes a clash is rare; twenty clashes in a row mean something else is wrong.
PIN_DRAWS = 20
# A device's wrong PINs: this many within the window refuse its PIN attempts (settings override).
PIN_MISS_LIMIT: int = getattr(settings, "ACCESS_PIN_MISS_LIMIT", 10)
PIN_MISS_WINDOW: timedelta = getattr(settings, "ACCESS_PIN_MISS_WINDOW", timedelta(minutes=10))
# A decision is taken now: a device time further than this from ours is kept in ``detail``
# and the event is filed at our time (the window of the PIN limit counts on our time too).
DECISION_SKEW = timedelta(minutes=5)
# An open command not fetched within this time is dropped: the caller has long gone.
COMMAND_TTL = timedelta(seconds=60)
COMMANDS_PER_POLL = 10
NOTE_MAX_LENGTH = 200


def clock() -> datetime:
    """The current time; tests replace this function instead of waiting."""
    return timezone.now()


class DenyReason(models.TextChoices):
    """Why a pass did not open (the ``reason`` of its access event, and the device's answer)."""

    UNKNOWN = "unknown", gettext_lazy("No such pass")
    REVOKED = "revoked", gettext_lazy("Pass revoked")
    NOT_YET_VALID = "not_yet_valid", gettext_lazy("Pass not valid yet")
    EXPIRED = "expired", gettext_lazy("Pass expired")
    USED_UP = "used_up", gettext_lazy("Pass used up")
    RATE_LIMITED = "rate_limited", gettext_lazy("Too many wrong PINs at this device")


# --- Hashes, codes ----------------------------------------------------------------------------


def _keyed_hash(kind: str, value: str) -> str:
    # Keyed: a 6-digit PIN hashed without a secret is found again by trying all 10⁶ of them.
    message = f"visitor-pass:{kind}:{value}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """The stored form of a pass's QR token."""
    return _keyed_hash("token", token)


def pin_hash(pin: str) -> str:
    """The stored form of a pass's PIN."""
    return _keyed_hash("pin", pin)


def new_pin() -> str:
    """A random 6-digit PIN (``secrets``, not ``random``); tests replace it to force clashes."""
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def qr_data_uri(token: str) -> str:
    """The token as a QR code, an SVG ``data:`` URI for an ``<img>`` (never stored, never a URL)."""
    return str(segno.make_qr(token, error="m").svg_data_uri(scale=6, border=2))


def pass_is_live(visitor_pass: VisitorPass, now: datetime) -> bool:
    """Would the pass open a gate at ``now``?"""
    return pass_status(visitor_pass, now) == ""


def pass_status(visitor_pass: VisitorPass, now: datetime) -> str:
    """``""`` for a pass that opens at ``now``, else the :class:`DenyReason` it is refused with."""
    if visitor_pass.revoked_at is not None:
        return DenyReason.REVOKED
    if now < visitor_pass.valid_from:
        return DenyReason.NOT_YET_VALID
    if now >= visitor_pass.valid_until:
        return DenyReason.EXPIRED
    if visitor_pass.uses >= visitor_pass.max_uses:
        return DenyReason.USED_UP
    return ""


def _live_passes(now: datetime) -> models.QuerySet[VisitorPass]:
    """Passes that may still open a gate (now or later): their PINs are taken."""
    return VisitorPass.objects.filter(revoked_at__isnull=True, valid_until__gt=now, uses__lt=F("max_uses"))


# --- Issuing and revoking ---------------------------------------------------------------------


class IssuedPass(NamedTuple):
    """A new pass with its token and PIN, which exist only here: show them once, then drop them."""

    visitor_pass: VisitorPass
    token: str
    pin: str


def check_pass_terms(
    *, valid_from: datetime, valid_until: datetime, max_uses: int, now: datetime, max_hours: int
) -> None:
    """Refuse a validity window or use count the compound does not allow (errors by field)."""
    errors: dict[str, str] = {}
    if valid_until <= valid_from:
        errors["valid_until"] = _("The pass must end after it starts.")
    elif valid_until <= now:
        errors["valid_until"] = _("The pass would already have ended.")
    elif valid_until - valid_from > timedelta(hours=max_hours):
        errors["valid_until"] = _("A visitor pass may last at most %(hours)d hours.") % {"hours": max_hours}
    if valid_from > now + timedelta(days=30):
        errors["valid_from"] = _("A pass may start at most 30 days ahead.")
    if not 1 <= max_uses <= MAX_USES:
        errors["max_uses"] = _("Between 1 and %(n)d uses.") % {"n": MAX_USES}
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def do_issue_pass(
    compound: Compound,
    *,
    visitor_name: str,
    valid_until: datetime,
    acting_user: AnyUser,
    valid_from: datetime | None = None,
    host: Person | None = None,
    visitor_phone: str = "",
    purpose: str = "",
    max_uses: int = 2,
) -> IssuedPass:
    """Issue a visitor pass of ``compound`` (run in its schema); return it with its token and PIN.

    For holders of ``access.passes``, on a host resident's behalf (``host``) or the
    compound's own. The validity may not exceed ``AccessSettings.pass_max_hours``. The PIN is
    drawn until no live pass of the compound holds it (one compound's issues take turns, so
    two concurrent issues cannot draw the same PIN). Writes the audit row (field names only)
    and announces ``access.pass.issued`` on the compound's event group on commit.
    """
    now = clock()
    valid_from = valid_from or now
    name = (visitor_name or "").strip()
    if not name:
        raise ValidationError({"visitor_name": _("Enter the visitor's name.")})
    try:
        phone = check_phone(visitor_phone) if visitor_phone and visitor_phone.strip() else ""
    except ValidationError as exc:
        raise ValidationError({"visitor_phone": exc.messages}) from None
    access_settings, _created = AccessSettings.objects.get_or_create(pk=1)
    check_pass_terms(
        valid_from=valid_from,
        valid_until=valid_until,
        max_uses=max_uses,
        now=now,
        max_hours=access_settings.pass_max_hours,
    )
    with connection.cursor() as cursor:
        # One issue at a time per compound: the PIN drawn below stays free until this commits.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('access.visitors.pin'), %s)", [compound.pk])
    live = _live_passes(now)
    for _attempt in range(PIN_DRAWS):
        pin = new_pin()
        if not live.filter(pin_hash=pin_hash(pin)).exists():
            break
    else:
        raise ValidationError(_("No free PIN was found; please try again."))
    token = new_token()
    visitor_pass = VisitorPass(
        host=host,
        visitor_name=name[:64],
        visitor_phone=phone,
        purpose=(purpose or "").strip()[:128],
        token_hash=token_hash(token),
        pin_hash=pin_hash(pin),
        valid_from=valid_from,
        valid_until=valid_until,
        max_uses=max_uses,
        issued_by=acting_user if acting_user.is_authenticated else None,
    )
    visitor_pass.save()
    fields = [f for f in changed_fields(None, visitor_pass) if f not in {"token_hash", "pin_hash"}]
    do_record_change(acting_user, AuditAction.CREATE, visitor_pass, fields=fields, compound=compound)
    send_event_on_commit([access_group(compound.pk)], {"type": "access.pass.issued", "id": visitor_pass.pk})
    return IssuedPass(visitor_pass, token, pin)


@transaction.atomic
def do_revoke_pass(compound: Compound, visitor_pass: VisitorPass, *, acting_user: AnyUser) -> VisitorPass:
    """Revoke a pass of ``compound`` at once (holders of ``access.passes``); audited, announced on commit."""
    locked = VisitorPass.objects.select_for_update().get(pk=visitor_pass.pk)
    if locked.revoked_at is not None:
        raise ValidationError(_("This pass is already revoked."))
    locked.revoked_at = clock()
    locked.save(update_fields=["revoked_at"])
    do_record_change(acting_user, AuditAction.UPDATE, locked, fields=["revoked_at"], compound=compound)
    send_event_on_commit([access_group(compound.pk)], {"type": "access.pass.revoked", "id": locked.pk})
    return locked


# --- The gate's decision ----------------------------------------------------------------------


@dataclass(frozen=True)
class PassDecision:
    """What the device is told, and the event that records it."""

    event: AccessEvent
    reason: str  # "" when it opens, else a DenyReason
    visitor_pass: VisitorPass | None = None
    retry_at: datetime | None = None  # set when the device's PIN attempts are refused for now

    @property
    def opened(self) -> bool:
        return self.event.decision == Decision.OPEN

    def payload(self) -> dict[str, Any]:
        """The device's answer: ids and codes, never the visitor's name."""
        answer: dict[str, Any] = {
            "decision": self.event.decision,
            "reason": self.reason,
            "event_id": self.event.pk,
            "uses_left": None,
            "valid_until": None,
        }
        if self.opened and self.visitor_pass is not None:
            answer["uses_left"] = max(0, self.visitor_pass.max_uses - self.visitor_pass.uses)
            answer["valid_until"] = self.visitor_pass.valid_until.isoformat()
        return answer


def decision_time(reported: datetime | None, now: datetime) -> tuple[datetime, dict[str, Any]]:
    """When to file a live decision: the device's time if within :data:`DECISION_SKEW` of ours."""
    if reported is None or abs(reported - now) <= DECISION_SKEW:
        return (reported or now), {}
    return now, {"device_time": reported.isoformat()}


def pin_misses(device: DeviceIndex, now: datetime) -> list[datetime]:
    """When the device's wrong PINs within the window were received, oldest first.

    Bounded by ``occurred_at`` as well (decisions are filed within DECISION_SKEW of receipt),
    so the search stays on the ``(compound, device, occurred_at)`` index.
    """
    since = now - PIN_MISS_WINDOW
    return list(
        AccessEvent.objects.filter(
            compound_id=device.compound_id,
            device_id=device.pk,
            occurred_at__gt=since - DECISION_SKEW,
            occurred_at__lte=now + DECISION_SKEW,
            received_at__gt=since,
            kind=EventKind.PIN,
            reason=DenyReason.UNKNOWN,
        )
        .order_by("received_at")
        .values_list("received_at", flat=True)
    )


def _find_pass(*, pin: str | None, token: str | None, now: datetime) -> VisitorPass | None:
    """The pass a PIN or token names, locked; for a PIN the live one among passes sharing it."""
    if token is not None:
        return VisitorPass.objects.select_for_update().filter(token_hash=token_hash(token)).first()
    assert pin is not None
    # Only live passes hold a PIN uniquely; expired ones may share it. The live one wins, then
    # the latest, so that the visitor is told why their own recent pass no longer works.
    candidates = list(
        VisitorPass.objects.select_for_update().filter(pin_hash=pin_hash(pin)).order_by("-valid_until")[:20]
    )
    for candidate in candidates:
        if pass_is_live(candidate, now):
            return candidate
    return candidates[0] if candidates else None


def _direction(device: Device, asked: str) -> str:
    if asked in (Direction.IN, Direction.OUT):
        return asked
    return device.direction if device.direction != Direction.BOTH else ""


def do_decide_pass(
    device: DeviceIndex,
    local_device: Device,
    *,
    pin: str | None = None,
    token: str | None = None,
    direction: str = "",
    occurred_at: datetime | None = None,
) -> PassDecision:
    """Open or refuse a gate for a visitor's PIN or QR token, and record the decision as an access event.

    Called for an authenticated device in its compound's schema. One transaction: the pass row
    is locked and its use counted only if it is still below ``max_uses`` (a conditional UPDATE),
    so concurrent presentations of a one-use pass open once. The device's decisions take turns
    (an advisory lock per device) so that its miss count is exact; PIN attempts are refused
    while the device has :data:`PIN_MISS_LIMIT` misses in the window (``retry_at`` set).
    """
    if (pin is None) == (token is None):
        raise ValueError("exactly one of pin and token")
    compound = device.compound
    now = clock()
    at, detail = decision_time(occurred_at, now)
    kind = EventKind.PIN if pin is not None else EventKind.QR
    fields: dict[str, Any] = {
        "occurred_at": at,
        "received_at": now,
        "device": device,
        "kind": kind,
        "direction": _direction(local_device, direction),
        "detail": detail,
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('access.visitors.device'), %s)", [device.pk])
        if pin is not None:
            misses = pin_misses(device, now)
            if len(misses) >= PIN_MISS_LIMIT:
                # Refused without looking the PIN up: a guess made now must answer nothing.
                retry_at = misses[len(misses) - PIN_MISS_LIMIT] + PIN_MISS_WINDOW
                event = do_record_access_event(
                    compound, decision=Decision.DENY, reason=DenyReason.RATE_LIMITED, **fields
                )
                return PassDecision(event, DenyReason.RATE_LIMITED, retry_at=retry_at)
        visitor_pass = _find_pass(pin=pin, token=token, now=now)
        reason = DenyReason.UNKNOWN if visitor_pass is None else pass_status(visitor_pass, now)
        if visitor_pass is not None and not reason:
            counted = VisitorPass.objects.filter(
                Q(pk=visitor_pass.pk), Q(uses__lt=F("max_uses")), revoked_at__isnull=True
            ).update(uses=F("uses") + 1)
            if counted:
                visitor_pass.uses += 1
            else:
                reason = DenyReason.USED_UP
        event = do_record_access_event(
            compound,
            decision=Decision.DENY if reason else Decision.OPEN,
            reason=reason,
            visitor_pass_id=visitor_pass.pk if visitor_pass is not None else None,
            **fields,
        )
    return PassDecision(event, reason, visitor_pass)


# --- Remote opening -----------------------------------------------------------------------------


def remote_devices() -> models.QuerySet[Device]:
    """The compound's devices that open something (gates, doors, barriers) and are in service."""
    return Device.objects.filter(kind__in=list(GATE_KINDS), status=DeviceStatus.ACTIVE).order_by("name")


@transaction.atomic
def do_remote_open(compound: Compound, device: Device, *, acting_user: AnyUser, note: str = "") -> AccessEvent:
    """Open a gate or unit door of ``compound`` remotely for a caller (holders of ``access.passes``).

    Records an access event of kind ``remote``, decision ``open``, ``actor_id`` the user and
    ``detail`` ``{"command": "open", "delivered": false}``; the device fetches the command by
    polling (:func:`do_take_commands`) within :data:`COMMAND_TTL`. Audited; announced on the
    compound's event group on commit (``access.remote_open.requested``).
    """
    index = DeviceIndex.objects.filter(uid=device.uid, compound_id=compound.pk, revoked_at__isnull=True).first()
    if index is None or device.status != DeviceStatus.ACTIVE or device.kind not in GATE_KINDS:
        raise ValidationError({"device": _("This device cannot be opened remotely.")})
    now = clock()
    event = do_record_access_event(
        compound,
        occurred_at=now,
        received_at=now,
        device=index,
        kind=EventKind.REMOTE,
        decision=Decision.OPEN,
        direction=_direction(device, ""),
        actor_id=acting_user.pk,
        detail={"command": "open", "delivered": False, "note": (note or "").strip()[:NOTE_MAX_LENGTH]},
    )
    do_record_change(acting_user, AuditAction.CREATE, event, fields=["kind", "decision", "device"], compound=compound)
    send_event_on_commit(
        [access_group(compound.pk)], {"type": "access.remote_open.requested", "id": event.pk, "device_id": index.pk}
    )
    return event


def do_take_commands(device: DeviceIndex, *, limit: int = COMMANDS_PER_POLL) -> list[dict[str, Any]]:
    """The device's open commands of the last :data:`COMMAND_TTL`, each handed out exactly once.

    The undelivered commands are locked with ``SKIP LOCKED``: a concurrent poll of the same
    device skips them (and a command delivered meanwhile no longer matches), so no command
    is returned twice. Each is marked delivered by its full key ``(id, occurred_at)``: the
    event table is partitioned on ``occurred_at``, and the key names the one partition.
    """
    now = clock()
    commands: list[dict[str, Any]] = []
    with transaction.atomic():
        pending = list(
            AccessEvent.objects.select_for_update(skip_locked=True)
            .filter(
                compound_id=device.compound_id,
                device_id=device.pk,
                occurred_at__gte=now - COMMAND_TTL,
                occurred_at__lte=now + DECISION_SKEW,
                kind=EventKind.REMOTE,
                decision=Decision.OPEN,
                detail__delivered=False,
            )
            .order_by("occurred_at", "id")[:limit]
        )
        for event in pending:
            detail = {**event.detail, "delivered": True, "delivered_at": now.isoformat()}
            AccessEvent.objects.filter(id=event.pk, occurred_at=event.occurred_at).update(detail=detail)
            commands.append(
                {
                    "id": event.pk,
                    "command": event.detail.get("command", "open"),
                    "issued_at": event.occurred_at.isoformat(),
                }
            )
            send_event_on_commit(
                [access_group(device.compound_id)],
                {"type": "access.remote_open.delivered", "id": event.pk, "device_id": device.pk},
            )
    return commands
