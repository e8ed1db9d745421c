"""Every write to a mediation case goes through a ``do_*`` action here (STYLE.md §2).

Each action runs in one transaction in the compound's schema, writes its audit row (field names,
never values) and queues its realtime event ``mediation.<thing>.<verb>`` to the compound's
mediation group, sent on commit. Every change of a case also queues the refresh of the
compound's public figures (``mediation.tasks``), so street and city statistics never read a
compound schema.

Workflow (:data:`TRANSITIONS`): registered → accepted → mediating → agreement | failed →
follow-up → closed, and referred (court, labour arbitration, another department) from any
open status. Reaching agreement, failure or referral concludes the case (``concluded_at``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from guardian.shortcuts import assign_perm, remove_perm

from district.audit import changed_fields, do_record_audit, do_record_change, stored_values
from district.jobs import defer_in_compound
from district.models import AuditAction
from district.realtime import compound_group, send_event_on_commit
from district.scope import covers_compound
from district.typing import AnyUser
from events.actions import do_raise_alert
from events.choices import Severity
from mediation.choices import CaseStatus, ReferredTo, Risk, RiskReason
from mediation.models import Agreement, Case, CaseStep, MediationSession, MediationSettings, Party
from mediators.models import Mediator
from tenants.models import Compound

__all__ = [
    "CONCLUDED",
    "OPEN_STATUSES",
    "TRANSITIONS",
    "PartyData",
    "check_party_id_number",
    "current_compound",
    "deadline_for",
    "do_add_party",
    "do_assign_mediator",
    "do_extend_deadline",
    "do_record_agreement",
    "do_register_case",
    "do_remove_party",
    "do_save_session",
    "do_transition_case",
    "do_unassign_mediator",
    "do_update_case",
    "is_overdue",
    "register_risk_alert_rule",
]

TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.REGISTERED: frozenset({CaseStatus.ACCEPTED, CaseStatus.REFERRED}),
    CaseStatus.ACCEPTED: frozenset({CaseStatus.MEDIATING, CaseStatus.REFERRED}),
    CaseStatus.MEDIATING: frozenset({CaseStatus.AGREEMENT, CaseStatus.FAILED, CaseStatus.REFERRED}),
    CaseStatus.AGREEMENT: frozenset({CaseStatus.FOLLOW_UP, CaseStatus.CLOSED, CaseStatus.REFERRED}),
    CaseStatus.FAILED: frozenset({CaseStatus.FOLLOW_UP, CaseStatus.CLOSED, CaseStatus.REFERRED}),
    CaseStatus.FOLLOW_UP: frozenset({CaseStatus.CLOSED, CaseStatus.REFERRED}),
    CaseStatus.REFERRED: frozenset({CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
}
# Statuses in which the statutory deadline runs; a case past its deadline in one is overdue.
OPEN_STATUSES = frozenset({CaseStatus.REGISTERED, CaseStatus.ACCEPTED, CaseStatus.MEDIATING})
CONCLUDED = frozenset({CaseStatus.AGREEMENT, CaseStatus.FAILED, CaseStatus.REFERRED})
# A case is never given more than this many days in total (extensions included).
MAX_DEADLINE_DAYS = 180
MAX_PARTIES = 50
REFRESH_TASK = "mediation.refresh_figures"


@dataclass(frozen=True)
class PartyData:
    """A party as entered: a registry person (``person_id``) or an outsider by name."""

    role: str
    name: str = ""
    person_id: int | None = None
    id_number: str = ""
    phone: str = ""
    home_province: str = ""


def current_compound() -> Compound:
    """The compound whose schema the connection is on; a case write anywhere else is a bug."""
    tenant = getattr(connection, "tenant", None)
    if not isinstance(tenant, Compound):
        raise RuntimeError("mediation actions run inside a compound's schema (tenant_context)")
    return tenant


def settings_row() -> MediationSettings:
    return MediationSettings.objects.get_or_create(pk=1)[0]


def deadline_for(registered_at: datetime.datetime) -> datetime.date:
    """The statutory deadline of a case registered at ``registered_at`` (local date + deadline days)."""
    local = timezone.localtime(registered_at).date()
    return local + datetime.timedelta(days=settings_row().deadline_days)


def is_overdue(case: Case, today: datetime.date | None = None) -> bool:
    """Still open past its deadline."""
    today = today or timezone.localdate()
    return case.status in OPEN_STATUSES and case.deadline < today


def _announce(compound: Compound, case: Case, verb: str, **extra: Any) -> None:
    send_event_on_commit(
        [compound_group("mediation", compound.pk)],
        {"type": f"mediation.case.{verb}", "id": case.pk, "status": case.status, **extra},
    )
    defer_in_compound(REFRESH_TASK, compound)


def _check_risk(case: Case) -> None:
    """Reasons imply a risk of at least medium; unknown reasons are refused."""
    unknown = set(case.risk_reasons) - set(RiskReason.values)
    if unknown:
        raise ValidationError({"risk_reasons": _("Unknown risk reason.")})
    case.risk_reasons = sorted(set(case.risk_reasons))
    if case.risk_reasons and case.risk == Risk.LOW:
        case.risk = Risk.MEDIUM


# The alert model ``dispute_high_risk`` of the alert catalogue. Each compound may switch it off
# or change its severity (``alerts.AlertRule``), but the alerts app sits a layer above this one
# (DESIGN.md §2b): it registers how a compound's rule is read (``alerts.apps``) rather than this
# module importing it. Unregistered (the alerts app absent), the alert is raised at high severity.
RISK_ALERT = "dispute_high_risk"
RiskAlertRule = Callable[[Compound], tuple[bool, str]]
_risk_alert_rule: list[RiskAlertRule] = []


def register_risk_alert_rule(reader: RiskAlertRule) -> None:
    """Set how a compound's rule for :data:`RISK_ALERT` is read: ``(enabled, severity)``."""
    _risk_alert_rule[:] = [reader]


def _raise_risk_alert(compound: Compound, case: Case, at: datetime.datetime) -> None:
    """A high escalation risk becomes an alert for the compound and every level above (issue #10),
    unless the compound switched the alert model off."""
    enabled, severity = _risk_alert_rule[0](compound) if _risk_alert_rule else (True, Severity.HIGH)
    if not enabled:
        return
    do_raise_alert(
        compound,
        kind=RISK_ALERT,
        severity=severity,
        occurred_at=at,
        fold_key=f"case:{case.pk}",
        detail={"case": case.number, "reasons": list(case.risk_reasons)},
    )


def _next_number(compound: Compound, at: datetime.datetime) -> str:
    """``TJ<year>-<seq>``: sequential per compound and year (the compound's schema holds only its own)."""
    prefix = f"TJ{timezone.localtime(at):%Y}-"
    last = Case.objects.filter(number__startswith=prefix).aggregate(last=Max("number"))["last"]
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:05d}"


def check_party_id_number(value: str) -> str:
    """A party's identity-document number, normalised: a resident ID card (checked to its check
    digit), or another document's number (passport, HK/Macao/Taiwan permit: letters then digits);
    an outsider need not hold a mainland ID card."""
    from registry.masking import OTHER_DOCUMENT
    from registry.validators import check_id_number, normalise

    number = normalise(value)
    if OTHER_DOCUMENT.fullmatch(number):
        return number
    return check_id_number(number).number


def _party(case: Case, data: PartyData) -> Party:
    from registry.models import Person

    party = Party(case=case, role=data.role, phone=data.phone.strip(), home_province=data.home_province.strip())
    if data.person_id is not None:
        person = Person.objects.filter(pk=data.person_id).first()
        if person is None:
            raise ValidationError({"parties": _("The resident chosen as a party does not exist.")})
        party.person = person
        party.name = person.name
    else:
        party.name = data.name.strip()
        party.id_number = data.id_number.strip().upper()
    if party.id_number:
        try:
            party.id_number = check_party_id_number(party.id_number)
        except ValidationError as exc:
            raise ValidationError({"id_number": exc.messages}) from None
    party.full_clean(exclude=["case"])
    return party


def do_register_case(
    *,
    acting_user: AnyUser,
    source: str,
    category: str,
    title: str,
    description: str,
    parties: Iterable[PartyData],
    risk: str = Risk.LOW,
    risk_reasons: Iterable[str] = (),
    address_id: int | None = None,
    place: str = "",
    amount: Any = None,
    occurred_on: datetime.date | None = None,
    requested_mediator_id: int | None = None,
    client_key: str | None = None,
    now: datetime.datetime | None = None,
) -> tuple[Case, bool]:
    """Register a dispute with its parties; ``(case, created)``.

    ``client_key`` makes the registration idempotent: a phone that recorded the case offline
    sends it again after a lost answer and gets the same case back (``created`` False), never
    a second one, even when the two sends race.
    """
    compound = current_compound()
    if client_key is not None and (existing := Case.objects.filter(client_key=client_key).first()):
        return existing, False
    parties = list(parties)
    if not parties:
        raise ValidationError({"parties": _("A case needs at least one party.")})
    if len(parties) > MAX_PARTIES:
        raise ValidationError({"parties": _("A case has at most %(n)d parties.") % {"n": MAX_PARTIES}})
    now = now or timezone.now()
    try:
        with transaction.atomic():
            # Numbers are "last + 1": two registrations at once in one compound would both take
            # the same number (and the loser would fail on the unique number, not on its draft's
            # key). Serialise them per compound; the lock goes with the transaction.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{compound.schema_name}:case_number"])
            if client_key is not None and (existing := Case.objects.filter(client_key=client_key).first()):
                return existing, False
            case = Case(
                number=_next_number(compound, now),
                source=source,
                category=category,
                title=title.strip(),
                description=description.strip(),
                address_id=address_id,
                place=place.strip(),
                amount=amount,
                risk=risk,
                risk_reasons=list(risk_reasons),
                occurred_on=occurred_on,
                registered_at=now,
                deadline=deadline_for(now),
                requested_mediator_id=requested_mediator_id,
                registered_by=acting_user if acting_user.is_authenticated else None,
                client_key=client_key,
            )
            _check_risk(case)
            case.full_clean(exclude=["number", "client_key", "registered_by"])
            if (
                requested_mediator_id is not None
                and not Mediator.objects.filter(pk=requested_mediator_id, active=True).exists()
            ):
                raise ValidationError({"requested_mediator_id": _("No such mediator.")})
            case.save()
            built = [_party(case, data) for data in parties]
            Party.objects.bulk_create(built)
            CaseStep.objects.create(case=case, from_status="", to_status=case.status, user=case.registered_by, at=now)
            do_record_change(acting_user, AuditAction.CREATE, case, fields=["status", "parties"], compound=compound)
            if case.risk == Risk.HIGH:
                _raise_risk_alert(compound, case, now)
            _announce(compound, case, "created")
    except IntegrityError:
        # The same draft sent twice at once: the other request created it.
        if client_key is not None and (existing := Case.objects.filter(client_key=client_key).first()):
            return existing, False
        raise
    return case, True


def do_update_case(
    case: Case, *, acting_user: AnyUser, changes: dict[str, Any], now: datetime.datetime | None = None
) -> Case:
    """Change a case's description fields (not its status: see :func:`do_transition_case`)."""
    compound = current_compound()
    allowed = {
        "source",
        "category",
        "title",
        "description",
        "address_id",
        "place",
        "amount",
        "risk",
        "risk_reasons",
        "occurred_on",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"not editable here: {sorted(unknown)}")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        before = stored_values(case)
        was_high = case.risk == Risk.HIGH
        for name, value in changes.items():
            setattr(case, name, value)
        _check_risk(case)
        case.full_clean(exclude=["registered_by"])  # None for a case the system registered
        fields = changed_fields(before, case)
        if not fields:
            return case
        case.save()
        do_record_change(acting_user, AuditAction.UPDATE, case, fields=fields, compound=compound)
        if case.risk == Risk.HIGH and not was_high:
            _raise_risk_alert(compound, case, now or timezone.now())
        _announce(compound, case, "updated")
    return case


def do_transition_case(
    case: Case,
    to_status: str,
    *,
    acting_user: AnyUser,
    note: str = "",
    referred_to: str = "",
    now: datetime.datetime | None = None,
) -> Case:
    """Move a case one step along the workflow, with who, when and a note; refused if not allowed."""
    compound = current_compound()
    now = now or timezone.now()
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError({"note": _("A note has at most %(n)d characters.") % {"n": 500}})
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if to_status not in TRANSITIONS.get(case.status, frozenset()):
            raise ValidationError(
                _("A case that is “%(current)s” cannot become “%(next)s”.")
                % {"current": case.get_status_display(), "next": CaseStatus(to_status).label}
            )
        fields = ["status"]
        if to_status == CaseStatus.REFERRED:
            if referred_to not in ReferredTo.values:
                raise ValidationError({"referred_to": _("Say where the case is referred to.")})
            case.referred_to = referred_to
            fields.append("referred_to")
        if to_status in CONCLUDED and case.concluded_at is None:
            case.concluded_at = now
            fields.append("concluded_at")
        if to_status == CaseStatus.CLOSED:
            case.closed_at = now
            fields.append("closed_at")
        step = CaseStep(case=case, from_status=case.status, to_status=to_status, at=now, note=note)
        step.user = acting_user if isinstance(acting_user, User) else None
        case.status = to_status
        case.save(update_fields=[*fields, "updated_at"])
        step.save()
        do_record_change(acting_user, AuditAction.UPDATE, case, fields=fields, compound=compound)
        _announce(compound, case, "transitioned", from_status=step.from_status)
    return case


def do_extend_deadline(
    case: Case, *, days: int, reason: str, acting_user: AnyUser, now: datetime.datetime | None = None
) -> Case:
    """Extend the statutory deadline of an open case by ``days``, with a reason (recorded as a step)."""
    compound = current_compound()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason for extending the deadline.")})
    if len(reason) > 500:
        raise ValidationError({"reason": _("A note has at most %(n)d characters.") % {"n": 500}})
    if not 1 <= days <= MAX_DEADLINE_DAYS:
        raise ValidationError({"days": _("Extend by 1 to %(n)d days.") % {"n": MAX_DEADLINE_DAYS}})
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.status not in OPEN_STATUSES:
            raise ValidationError(_("Only the deadline of an open case can be extended."))
        new_deadline = case.deadline + datetime.timedelta(days=days)
        registered = timezone.localtime(case.registered_at).date()
        if (new_deadline - registered).days > MAX_DEADLINE_DAYS:
            raise ValidationError({"days": _("A case may not run longer than %(n)d days.") % {"n": MAX_DEADLINE_DAYS}})
        case.deadline = new_deadline
        case.deadline_extension_reason = reason
        case.save(update_fields=["deadline", "deadline_extension_reason", "updated_at"])
        CaseStep.objects.create(
            case=case,
            from_status=case.status,
            to_status=case.status,
            user=acting_user if acting_user.is_authenticated else None,
            at=now or timezone.now(),
            note=_("Deadline extended by %(days)d days: %(reason)s") % {"days": days, "reason": reason},
        )
        do_record_change(
            acting_user,
            AuditAction.UPDATE,
            case,
            fields=["deadline", "deadline_extension_reason"],
            compound=compound,
        )
        _announce(compound, case, "updated")
    return case


def do_add_party(case: Case, data: PartyData, *, acting_user: AnyUser) -> Party:
    """Add a party to a case."""
    compound = current_compound()
    with transaction.atomic():
        if case.parties.count() >= MAX_PARTIES:
            raise ValidationError({"parties": _("A case has at most %(n)d parties.") % {"n": MAX_PARTIES}})
        party = _party(case, data)
        party.save()
        do_record_change(acting_user, AuditAction.CREATE, party, fields=["role", "name"], compound=compound)
        _announce(compound, case, "updated")
    return party


def do_remove_party(party: Party, *, acting_user: AnyUser) -> None:
    """Remove a party (a case keeps at least one)."""
    compound = current_compound()
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=party.case_id)
        if case.parties.count() <= 1:
            raise ValidationError(_("A case needs at least one party."))
        do_record_change(acting_user, AuditAction.DELETE, party, compound=compound)
        party.delete()
        _announce(compound, case, "updated")


def do_assign_mediator(case: Case, mediator: Mediator, *, acting_user: AnyUser) -> Case:
    """Put a mediator of the roster on a case; one with a sign-in may then edit this case (object grant).

    The grant is a guardian row in this compound's schema (``change_case`` on this case only).
    A mediator's user must already hold a role covering the compound: otherwise they could not
    open it, and the grant would wake up unnoticed with a later role.
    """
    compound = current_compound()
    if not mediator.active:
        raise ValidationError(_("This mediator is no longer active."))
    if mediator.user is not None and not covers_compound(mediator.user, compound):
        raise ValidationError(
            _("%(name)s has no role in this compound yet: ask the street office to give them the mediator role.")
            % {"name": mediator.name}
        )
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if mediator.pk in case.mediator_ids:
            return case
        case.mediator_ids = [*case.mediator_ids, mediator.pk]
        case.save(update_fields=["mediator_ids", "updated_at"])
        if mediator.user is not None:
            assign_perm("change_case", mediator.user, case)
            do_record_audit(
                acting_user,
                AuditAction.GRANT_OBJECT,
                compound=compound,
                objects=[case],
                detail={"permission": "change_case", "user": mediator.user.get_username(), "user_id": mediator.user.pk},
            )
        do_record_change(acting_user, AuditAction.UPDATE, case, fields=["mediator_ids"], compound=compound)
        _announce(compound, case, "updated")
    return case


def do_unassign_mediator(case: Case, mediator: Mediator, *, acting_user: AnyUser) -> Case:
    """Take a mediator off a case, and their object grant with it."""
    compound = current_compound()
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if mediator.pk not in case.mediator_ids:
            raise ValidationError(_("This mediator is not on the case."))
        case.mediator_ids = [pk for pk in case.mediator_ids if pk != mediator.pk]
        case.save(update_fields=["mediator_ids", "updated_at"])
        if mediator.user is not None:
            remove_perm("change_case", mediator.user, case)
            do_record_audit(
                acting_user,
                AuditAction.REVOKE_OBJECT,
                compound=compound,
                objects=[case],
                detail={"permission": "change_case", "user": mediator.user.get_username(), "user_id": mediator.user.pk},
            )
        do_record_change(acting_user, AuditAction.UPDATE, case, fields=["mediator_ids"], compound=compound)
        _announce(compound, case, "updated")
    return case


def do_save_session(session: MediationSession, *, acting_user: AnyUser) -> MediationSession:
    """Schedule a mediation session, or record what happened at it (attendees, minutes, held)."""
    compound = current_compound()
    with transaction.atomic():
        before = stored_values(session)
        if session.pk is None and isinstance(acting_user, User):
            session.created_by = acting_user
        session.full_clean(exclude=["created_by"])
        fields = [name for name in changed_fields(before, session) if name != "created_by"]
        if not fields:
            return session
        session.save()
        verb = AuditAction.CREATE if before is None else AuditAction.UPDATE
        do_record_change(acting_user, verb, session, fields=fields, compound=compound)
        _announce(compound, session.case, "updated")
    return session


def do_record_agreement(
    case: Case,
    *,
    terms: str,
    signed_on: datetime.date,
    amount: Any = None,
    acting_user: AnyUser,
    note: str = "",
    now: datetime.datetime | None = None,
) -> Agreement:
    """Record the agreement the parties signed; a case being mediated moves to "agreement reached"."""
    compound = current_compound()
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        if case.status not in (CaseStatus.MEDIATING, CaseStatus.AGREEMENT, CaseStatus.FOLLOW_UP):
            raise ValidationError(_("An agreement is recorded for a case being mediated."))
        agreement = Agreement(case=case, terms=(terms or "").strip(), signed_on=signed_on, amount=amount)
        if isinstance(acting_user, User):
            agreement.created_by = acting_user
        agreement.full_clean(exclude=["created_by"])
        agreement.save()
        do_record_change(
            acting_user, AuditAction.CREATE, agreement, fields=["terms", "amount", "signed_on"], compound=compound
        )
        if case.status == CaseStatus.MEDIATING:
            do_transition_case(case, CaseStatus.AGREEMENT, acting_user=acting_user, note=note, now=now)
        else:
            _announce(compound, case, "updated")
    return agreement
