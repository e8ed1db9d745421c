"""The alert lifecycle and joint-defence broadcasts: every step is an action (STYLE.md §2).

new → acknowledged → dispatched → resolved | false alarm; a step may be skipped (an officer
who resolves at once has acknowledged too) and a dispatched alert may be dispatched again to
someone else. Each step writes an ``AlertStep`` (who, when, note), updates the alert's row,
writes an audit row and announces the alert on commit to every group that may see it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.catalogue import MODELS, PARAM_BOUNDS
from alerts.models import AlertRule, AlertStep, Broadcast
from district.audit import do_record_change
from district.models import Area, AuditAction
from district.permissions import HANDLE_ALERTS, VIEW_WATCHLIST, has_capability
from district.realtime import send_event_on_commit
from district.typing import AnyUser
from events.actions import announce_alert
from events.choices import AlertStatus, Severity
from events.models import Alert
from tenants.models import Compound

__all__ = [
    "ALLOWED_STEPS",
    "do_acknowledge_alert",
    "do_dispatch_alert",
    "do_mark_false_alarm",
    "do_resolve_alert",
    "do_save_alert_rule",
    "do_send_broadcast",
]

NOTE_MAX = 500
# From each status, the statuses an alert may move to.
ALLOWED_STEPS: dict[str, frozenset[str]] = {
    AlertStatus.NEW: frozenset(
        {AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED, AlertStatus.RESOLVED, AlertStatus.FALSE_ALARM}
    ),
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.DISPATCHED, AlertStatus.RESOLVED, AlertStatus.FALSE_ALARM}),
    AlertStatus.DISPATCHED: frozenset({AlertStatus.DISPATCHED, AlertStatus.RESOLVED, AlertStatus.FALSE_ALARM}),
    AlertStatus.RESOLVED: frozenset(),
    AlertStatus.FALSE_ALARM: frozenset(),
}
CLOSED = frozenset({AlertStatus.RESOLVED, AlertStatus.FALSE_ALARM})


def _step(
    alert: Alert,
    status: str,
    *,
    acting_user: AnyUser,
    note: str = "",
    assignee: User | None = None,
    now: datetime | None = None,
) -> Alert:
    now = now or timezone.now()
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError(_("A note has at most %(n)d characters.") % {"n": NOTE_MAX})
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if status not in ALLOWED_STEPS[locked.status]:
            raise ValidationError(
                _("An alert that is “%(current)s” cannot become “%(next)s”.")
                % {"current": locked.get_status_display(), "next": AlertStatus(status).label}
            )
        fields = ["status"]
        locked.status = status
        if locked.acknowledged_at is None:
            # Dispatching or closing an alert nobody acknowledged acknowledges it: the clock of
            # time-to-acknowledge stops at the first human response.
            locked.acknowledged_at = now
            fields.append("acknowledged_at")
        if status == AlertStatus.DISPATCHED:
            locked.assignee = assignee
            fields.append("assignee")
        if status in CLOSED:
            locked.closed_at = now
            fields.append("closed_at")
        locked.save(update_fields=fields)
        AlertStep.objects.create(
            alert=locked,
            status=status,
            user=acting_user if acting_user.is_authenticated else None,
            assignee=assignee if status == AlertStatus.DISPATCHED else None,
            note=note,
            at=now,
        )
        do_record_change(
            acting_user,
            AuditAction.UPDATE,
            locked,
            fields=fields,
            compound=Compound.objects.filter(pk=locked.compound_id).first(),
        )
        announce_alert(locked, "updated")
    return locked


def do_acknowledge_alert(alert: Alert, *, acting_user: AnyUser, note: str = "", now: datetime | None = None) -> Alert:
    """确认 — someone has seen the alert and takes it on."""
    return _step(alert, AlertStatus.ACKNOWLEDGED, acting_user=acting_user, note=note, now=now)


def do_dispatch_alert(
    alert: Alert, *, acting_user: AnyUser, assignee: User, note: str = "", now: datetime | None = None
) -> Alert:
    """派单 — send an officer or staff member of the alert's compound to deal with it."""
    compound = Compound.objects.select_related("street").filter(pk=alert.compound_id).first()
    if compound is None or not assignee.is_active or not has_capability(assignee, HANDLE_ALERTS, compound):
        raise ValidationError(_("The alert can only be dispatched to someone who handles alerts of its compound."))
    return _step(alert, AlertStatus.DISPATCHED, acting_user=acting_user, note=note, assignee=assignee, now=now)


def do_resolve_alert(alert: Alert, *, acting_user: AnyUser, note: str = "", now: datetime | None = None) -> Alert:
    """处置完毕 — the situation was dealt with."""
    return _step(alert, AlertStatus.RESOLVED, acting_user=acting_user, note=note, now=now)


def do_mark_false_alarm(alert: Alert, *, acting_user: AnyUser, note: str = "", now: datetime | None = None) -> Alert:
    """误报 — nothing was wrong (the note says why, to tune the model's thresholds)."""
    return _step(alert, AlertStatus.FALSE_ALARM, acting_user=acting_user, note=note, now=now)


def broadcast_group(broadcast: Broadcast) -> str:
    if broadcast.compound_id is not None:
        return f"broadcast.compound.{broadcast.compound_id}"
    return f"broadcast.street.{broadcast.area_id}"


def do_send_broadcast(
    *,
    acting_user: AnyUser,
    text: str,
    area: Area | None = None,
    compound: Compound | None = None,
    photo: str = "",
    now: datetime | None = None,
) -> Broadcast:
    """一呼百应 — send a message to everyone on patrol in a street or compound; kept as a record.

    ``photo`` is the storage name of an already validated image (the view stores it).
    """
    text = (text or "").strip()
    if not text:
        raise ValidationError(_("Write a message."))
    if len(text) > 2000:
        raise ValidationError(_("A message has at most %(n)d characters.") % {"n": 2000})
    if (area is None) == (compound is None):
        raise ValidationError(_("A broadcast goes to one street or one compound."))
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            area=area,
            compound=compound,
            sender=acting_user if acting_user.is_authenticated else None,
            text=text,
            photo=photo,
            sent_at=now or timezone.now(),
        )
        do_record_change(acting_user, AuditAction.CREATE, broadcast, fields=["text", "photo"], compound=compound)
        send_event_on_commit(
            [broadcast_group(broadcast)],
            {"type": "broadcast.sent", "id": broadcast.pk, "sent_at": broadcast.sent_at.isoformat()},
        )
    return broadcast


def check_alert_rule(model: str, severity: str, params: dict[str, Any]) -> dict[str, int]:
    """The thresholds that differ from the catalogue's defaults, or ValidationError by field.

    Every value must be a whole number within :data:`PARAM_BOUNDS`; unknown names are refused.
    """
    entry = MODELS.get(model)
    if entry is None:
        raise ValidationError({"model": _("No such alert model.")})
    errors: dict[str, list[str]] = {}
    if severity and severity not in Severity.values:
        errors["severity"] = [_("Choose a severity from the list.")]
    overrides: dict[str, int] = {}
    for name, value in params.items():
        if name not in entry.params:
            errors[name] = [_("This alert model has no threshold “%(name)s”.") % {"name": name}]
            continue
        low, high = PARAM_BOUNDS.get(name, (0, 2**31 - 1))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = [
                _("Enter a whole number from %(minimum)d to %(maximum)d.") % {"minimum": low, "maximum": high}
            ]
            continue
        if value != entry.params[name]:
            overrides[name] = value
    if errors:
        raise ValidationError(errors)
    return overrides


def do_save_alert_rule(
    compound: Compound,
    model: str,
    *,
    acting_user: AnyUser,
    enabled: bool = True,
    severity: str = "",
    params: dict[str, Any] | None = None,
) -> AlertRule:
    """Set a compound's alert model on or off, its severity and thresholds (``alerts.configure``).

    ``severity`` blank and thresholds equal to the catalogue's keep its defaults; only the
    differences are stored, so a later change of a default reaches every compound that kept it.
    Audited with the names of the fields that changed; announced to the compound's alert group.
    Models set by the police (``AlertModel.set_by_police``) are changed only by roles that see
    the watch-list at the compound (``PermissionDenied`` otherwise).
    """
    overrides = check_alert_rule(model, severity, params or {})
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(compound=compound, model=model).first()
        verb = AuditAction.UPDATE if rule is not None else AuditAction.CREATE
        if rule is None:
            # Compared with a rule that holds the defaults: a compound that keeps them needs no row.
            rule = AlertRule(compound=compound, model=model, enabled=True, severity="", params={})
        changed = [
            name
            for name, value in (("enabled", enabled), ("severity", severity), ("params", overrides))
            if getattr(rule, name) != value
        ]
        if not changed:
            return rule
        if MODELS[model].set_by_police and not has_capability(acting_user, VIEW_WATCHLIST, compound):
            raise PermissionDenied(_("Only the police may change this alert model."))
        rule.enabled, rule.severity, rule.params = enabled, severity, overrides
        rule.save()
        do_record_change(acting_user, verb, rule, fields=changed, compound=compound)
        send_event_on_commit(
            [f"alerts.compound.{compound.pk}"],
            {"type": "alert_rule.saved", "id": rule.pk, "compound_id": compound.pk, "model": model},
        )
    return rule
