"""Mediation actions: the workflow table, deadlines with an injected clock, risk alerts, idempotent intake.

Every action test checks the rows it wrote and the realtime messages it sent on commit.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone
from django_tenants.utils import tenant_context

from district.models import AuditEntry
from events.models import Alert
from mediation import actions
from mediation.actions import CONCLUDED, TRANSITIONS, PartyData, is_overdue
from mediation.choices import CaseStatus
from mediation.models import Agreement, Case, CaseStep, MediationSession, MediationSettings, Party
from tests.mediation.conftest import REGISTERED_AT

ALL_PAIRS = [(a, b) for a in CaseStatus.values for b in CaseStatus.values]
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
REFUSED = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def at_status(case: Case, status: str) -> Case:
    """The case put straight into ``status`` (setting up the state a transition starts from)."""
    Case.objects.filter(pk=case.pk).update(status=status)
    case.refresh_from_db()
    return case


def types(sent: list) -> list[str]:
    return [payload["type"] for _groups, payload in sent]


# --- The workflow ------------------------------------------------------------------------------------


def test_the_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(CaseStatus.values)
    assert TRANSITIONS[CaseStatus.CLOSED] == frozenset()
    # Referral is possible from every status that is not closed or already referred.
    for status in set(CaseStatus.values) - {CaseStatus.CLOSED, CaseStatus.REFERRED}:
        assert CaseStatus.REFERRED in TRANSITIONS[status]


@pytest.mark.parametrize(("start", "to"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed_transition(in_a: Any, officer: Any, make_case: Any, committing: Any, start: str, to: str) -> None:
    case = at_status(make_case(), start)
    later = REGISTERED_AT + datetime.timedelta(days=3)
    with committing() as sent:
        moved = actions.do_transition_case(
            case, to, acting_user=officer, note="双方到场", referred_to="court" if to == "referred" else "", now=later
        )
    moved.refresh_from_db()
    assert moved.status == to
    step = CaseStep.objects.filter(case=case).order_by("-id").first()
    assert step is not None
    assert (step.from_status, step.to_status, step.user, step.at, step.note) == (start, to, officer, later, "双方到场")
    if to in CONCLUDED:
        assert moved.concluded_at == later
    if to == CaseStatus.CLOSED:
        assert moved.closed_at == later
    if to == CaseStatus.REFERRED:
        assert moved.referred_to == "court"
    row = AuditEntry.objects.filter(object_type="mediation.case", object_ids=[case.pk]).order_by("-id").first()
    assert row is not None and "status" in row.detail["fields"]
    assert "mediation.case.transitioned" in types(sent)
    groups, payload = next((g, p) for g, p in sent if p["type"] == "mediation.case.transitioned")
    assert groups == [f"mediation.compound.{in_a.pk}"]
    assert payload == {"type": "mediation.case.transitioned", "id": case.pk, "status": to, "from_status": start}


@pytest.mark.parametrize(("start", "to"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_refused_transition(in_a: Any, officer: Any, make_case: Any, committing: Any, start: str, to: str) -> None:
    case = at_status(make_case(), start)
    steps = CaseStep.objects.filter(case=case).count()
    with committing() as sent, pytest.raises(ValidationError) as refused:
        actions.do_transition_case(case, to, acting_user=officer, referred_to="court")
    assert "cannot become" in " ".join(refused.value.messages)
    case.refresh_from_db()
    assert case.status == start
    assert CaseStep.objects.filter(case=case).count() == steps
    assert sent == []


def test_a_referral_says_where_to(in_a: Any, officer: Any, make_case: Any) -> None:
    case = make_case()
    with pytest.raises(ValidationError) as refused:
        actions.do_transition_case(case, CaseStatus.REFERRED, acting_user=officer)
    assert "referred_to" in refused.value.message_dict
    case.refresh_from_db()
    assert case.status == CaseStatus.REGISTERED


def test_a_full_workflow_keeps_every_step(in_a: Any, officer: Any, make_case: Any) -> None:
    case = make_case()
    for status in ("accepted", "mediating", "agreement", "follow_up", "closed"):
        actions.do_transition_case(case, status, acting_user=officer)
    assert list(CaseStep.objects.filter(case=case).values_list("to_status", flat=True)) == [
        "registered",
        "accepted",
        "mediating",
        "agreement",
        "follow_up",
        "closed",
    ]


# --- Deadlines, with an injected clock ----------------------------------------------------------------


def test_deadline_is_thirty_days_after_registration(in_a: Any, make_case: Any) -> None:
    case = make_case()
    assert case.registered_at == REGISTERED_AT
    assert case.deadline == datetime.date(2026, 4, 1)
    assert not is_overdue(case, today=datetime.date(2026, 4, 1))
    assert is_overdue(case, today=datetime.date(2026, 4, 2))


def test_deadline_days_are_configurable(in_a: Any, make_case: Any) -> None:
    MediationSettings.objects.update_or_create(pk=1, defaults={"deadline_days": 15})
    assert make_case().deadline == datetime.date(2026, 3, 17)


def test_registration_date_is_the_local_date(in_a: Any, make_case: Any) -> None:
    # 2026-03-02 20:30 UTC is already 03-03 in Asia/Shanghai.
    late = datetime.datetime(2026, 3, 2, 20, 30, tzinfo=datetime.UTC)
    assert make_case(now=late).deadline == datetime.date(2026, 4, 2)


@pytest.mark.parametrize("status", CaseStatus.values)
def test_only_open_cases_are_overdue(in_a: Any, make_case: Any, status: str) -> None:
    case = at_status(make_case(), status)
    late = datetime.date(2026, 6, 1)
    assert is_overdue(case, today=late) == (status in {"registered", "accepted", "mediating"})


def test_extension_with_reason(in_a: Any, officer: Any, make_case: Any, committing: Any) -> None:
    case = make_case()
    with committing() as sent:
        case = actions.do_extend_deadline(
            case, days=15, reason="当事人住院", acting_user=officer, now=REGISTERED_AT + datetime.timedelta(days=29)
        )
    assert case.deadline == datetime.date(2026, 4, 16)
    assert case.deadline_extension_reason == "当事人住院"
    assert not is_overdue(case, today=datetime.date(2026, 4, 10))
    step = CaseStep.objects.filter(case=case).order_by("-id").first()
    assert step is not None and "当事人住院" in step.note and step.to_status == step.from_status == "registered"
    assert types(sent) == ["mediation.case.updated"]
    row = AuditEntry.objects.filter(object_type="mediation.case").order_by("-id").first()
    assert row is not None and row.detail["fields"] == ["deadline", "deadline_extension_reason"]


@pytest.mark.parametrize(
    ("days", "reason", "field"),
    [(15, "", "reason"), (15, "   ", "reason"), (0, "原因", "days"), (181, "原因", "days"), (15, "长" * 501, "reason")],
)
def test_extension_refused(in_a: Any, officer: Any, make_case: Any, days: int, reason: str, field: str) -> None:
    case = make_case()
    with pytest.raises(ValidationError) as refused:
        actions.do_extend_deadline(case, days=days, reason=reason, acting_user=officer)
    assert field in refused.value.message_dict
    case.refresh_from_db()
    assert case.deadline == datetime.date(2026, 4, 1)


def test_extension_never_beyond_180_days_in_all(in_a: Any, officer: Any, make_case: Any) -> None:
    case = make_case()
    case = actions.do_extend_deadline(case, days=150, reason="鉴定", acting_user=officer)
    with pytest.raises(ValidationError):
        actions.do_extend_deadline(case, days=1, reason="再延", acting_user=officer)


def test_a_concluded_case_is_not_extended(in_a: Any, officer: Any, make_case: Any) -> None:
    case = at_status(make_case(), CaseStatus.AGREEMENT)
    with pytest.raises(ValidationError):
        actions.do_extend_deadline(case, days=10, reason="原因", acting_user=officer)


# --- Escalation risk ------------------------------------------------------------------------------------


def test_high_risk_raises_an_alert(in_a: Any, officer: Any, make_case: Any, committing: Any) -> None:
    with committing() as sent:
        case = make_case(risk="high", risk_reasons=["abnormal_death"])
    alert = Alert.objects.get(kind="dispute_high_risk", compound_id=in_a.pk)
    assert alert.severity == "high"
    assert alert.detail == {"case": case.number, "reasons": ["abnormal_death"]}
    assert alert.fold_key == f"case:{case.pk}"
    raised = [(g, p) for g, p in sent if p["type"] == "alert.raised"]
    assert len(raised) == 1
    groups = raised[0][0]
    assert f"alerts.compound.{in_a.pk}" in groups and f"alerts.street.{in_a.street_id}" in groups
    # The compound's officer sees it in their alert panel.
    from alerts.audience import visible_alerts

    assert alert in visible_alerts(officer)


def test_low_or_medium_risk_raises_no_alert(in_a: Any, make_case: Any) -> None:
    make_case(risk="low")
    case = make_case(risk="medium", risk_reasons=["group"])
    assert case.risk == "medium"
    assert not Alert.objects.filter(kind="dispute_high_risk").exists()


def test_a_reason_makes_the_risk_at_least_medium(in_a: Any, make_case: Any) -> None:
    assert make_case(risk="low", risk_reasons=["violence"]).risk == "medium"


def test_raising_the_risk_later_alerts_once(in_a: Any, officer: Any, make_case: Any, committing: Any) -> None:
    case = make_case()
    with committing() as sent:
        case = actions.do_update_case(case, acting_user=officer, changes={"risk": "high", "risk_reasons": ["violence"]})
    assert Alert.objects.filter(kind="dispute_high_risk").count() == 1
    assert types(sent).count("alert.raised") == 1
    # Saved again while high (a typo fixed): no second alert.
    with committing() as sent:
        actions.do_update_case(case, acting_user=officer, changes={"title": "楼上漏水（已核实）"})
    assert Alert.objects.filter(kind="dispute_high_risk").count() == 1
    assert "alert.raised" not in types(sent)
    assert Alert.objects.get(kind="dispute_high_risk").count == 1


def test_unknown_risk_reason_refused(in_a: Any, make_case: Any) -> None:
    with pytest.raises(ValidationError):
        make_case(risk_reasons=["astrology"])


# --- Registration --------------------------------------------------------------------------------------


def test_registration_writes_case_parties_step_audit_and_event(
    in_a: Any, officer: Any, make_case: Any, committing: Any
) -> None:
    with committing() as sent:
        case = make_case()
    assert case.number == "TJ2026-00001"
    assert case.status == "registered" and case.registered_by == officer
    assert [p.name for p in case.parties.order_by("role")] == ["王芳", "李强"]
    assert CaseStep.objects.get(case=case).to_status == "registered"
    row = AuditEntry.objects.get(object_type="mediation.case", action="create")
    assert row.detail["fields"] == ["parties", "status"] and row.compound_id == in_a.pk
    assert types(sent) == ["mediation.case.created"]
    assert make_case().number == "TJ2026-00002"


def test_a_resident_party_takes_the_registry_name(in_a: Any, make_case: Any) -> None:
    from tests.factories import PersonFactory

    person = PersonFactory(name="张伟")
    case = make_case(parties=[PartyData(role="applicant", person_id=person.pk, name="ignored")])
    party = case.parties.get()
    assert (party.person, party.name) == (person, "张伟")


@pytest.mark.parametrize(
    ("parties", "field"),
    [
        ([], "parties"),
        ([PartyData(role="applicant", person_id=999999)], "parties"),
        ([PartyData(role="applicant", name="王芳", id_number="370102198001011234")], "id_number"),
        ([PartyData(role="applicant", name="")], "name"),
    ],
)
def test_bad_parties_refused(in_a: Any, make_case: Any, parties: list, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make_case(parties=parties)
    assert field in refused.value.message_dict or field in str(refused.value)
    assert not Case.objects.exists()


def test_same_client_key_twice_makes_one_case(in_a: Any, officer: Any) -> None:
    parties = [PartyData(role="applicant", name="王芳")]
    first, created = actions.do_register_case(
        acting_user=officer,
        source="walk_in",
        category="family",
        title="家事",
        description="",
        parties=parties,
        client_key="draft-0001-aaaa",
    )
    again, created_again = actions.do_register_case(
        acting_user=officer,
        source="walk_in",
        category="family",
        title="家事",
        description="",
        parties=parties,
        client_key="draft-0001-aaaa",
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Case.objects.count() == 1


# --- Parties, mediators, sessions, agreements ------------------------------------------------------


def test_add_and_remove_parties(in_a: Any, officer: Any, make_case: Any, committing: Any) -> None:
    case = make_case(parties=[PartyData(role="applicant", name="王芳")])
    with committing() as sent:
        party = actions.do_add_party(
            case, PartyData(role="other", name="物业经理", phone="13800001111"), acting_user=officer
        )
    assert party.case == case and types(sent) == ["mediation.case.updated"]
    actions.do_remove_party(party, acting_user=officer)
    with pytest.raises(ValidationError):
        actions.do_remove_party(case.parties.get(), acting_user=officer)
    assert Party.objects.filter(case=case).count() == 1


def test_assignment_grants_the_case_and_unassignment_takes_it_back(
    in_a: Any, officer: Any, make_case: Any, mediator_a: Any
) -> None:
    from guardian.shortcuts import get_perms

    case = make_case()
    case = actions.do_assign_mediator(case, mediator_a, acting_user=officer)
    assert case.mediator_ids == [mediator_a.pk]
    assert "change_case" in get_perms(mediator_a.user, case)
    assert AuditEntry.objects.filter(action="grant_object", object_ids=[case.pk]).exists()
    other = make_case()
    assert "change_case" not in get_perms(mediator_a.user, other)
    case = actions.do_unassign_mediator(case, mediator_a, acting_user=officer)
    assert case.mediator_ids == []
    assert "change_case" not in get_perms(mediator_a.user, case)


def test_a_mediator_without_a_role_here_is_refused(in_a: Any, officer: Any, make_case: Any, mediator_b: Any) -> None:
    with pytest.raises(ValidationError):
        actions.do_assign_mediator(make_case(), mediator_b, acting_user=officer)


def test_sessions_and_agreement(in_a: Any, officer: Any, make_case: Any, committing: Any) -> None:
    case = make_case()
    session = MediationSession(case=case, scheduled_at=REGISTERED_AT, video_link="https://meet.example.cn/r/1")
    with committing() as sent:
        actions.do_save_session(session, acting_user=officer)
    assert session.pk and session.created_by == officer and types(sent) == ["mediation.case.updated"]
    session.held, session.minutes, session.attendees = True, "双方同意赔偿", "王芳、李强"
    actions.do_save_session(session, acting_user=officer)
    session.refresh_from_db()
    assert session.held
    with pytest.raises(ValidationError):  # not being mediated yet
        actions.do_record_agreement(case, terms="赔偿", signed_on=datetime.date(2026, 3, 9), acting_user=officer)
    at_status(case, CaseStatus.MEDIATING)
    agreement = actions.do_record_agreement(
        case, terms="李强赔偿王芳 1200 元", amount="1200.00", signed_on=datetime.date(2026, 3, 9), acting_user=officer
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.AGREEMENT and case.concluded_at is not None
    assert Agreement.objects.get().amount == agreement.amount


# --- Races (committed data, two threads) ------------------------------------------------------------------


def _register_in_threads(compound: Any, keys: list[str]) -> list[Any]:
    """Register a case per key, each in its own thread and connection, all released at once.

    The sender is anonymous (a committed user could not be deleted afterwards from the public
    schema: the compound tables' references to it are not there).
    """
    barrier = threading.Barrier(len(keys))
    results: list[Any] = [None] * len(keys)

    def send(i: int, key: str) -> None:
        try:
            with tenant_context(compound):
                barrier.wait(timeout=10)
                case, created = actions.do_register_case(
                    acting_user=AnonymousUser(),
                    source="walk_in",
                    category="rental",
                    title="押金纠纷",
                    description="",
                    parties=[PartyData(role="applicant", name="租客")],
                    client_key=key,
                )
                results[i] = (case.pk, created, case.number)
        except Exception as exc:  # reported by the assertion below
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i, key)) for i, key in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


class TestConcurrentIntake:
    """Real threads on committed data: each thread's connection sees what the other commits."""

    @pytest.fixture
    def db(self, committed_db: None) -> None:
        """Here ``db`` commits (see ``committed_db``)."""

    def test_a_double_submit_makes_one_case(self, fresh_compound: Any) -> None:
        results = _register_in_threads(fresh_compound, ["race-key-1", "race-key-1"])
        assert all(isinstance(r, tuple) for r in results), results
        assert results[0][0] == results[1][0]
        assert sorted(r[1] for r in results) == [False, True]
        with tenant_context(fresh_compound):
            assert Case.objects.count() == 1
        connection.set_schema_to_public()

    def test_two_cases_at_once_get_two_numbers(self, fresh_compound: Any) -> None:
        results = _register_in_threads(fresh_compound, ["race-a-0001", "race-b-0001"])
        assert all(isinstance(r, tuple) for r in results), results
        year = timezone.localdate().year
        assert {r[2] for r in results} == {f"TJ{year}-00001", f"TJ{year}-00002"}
        with tenant_context(fresh_compound):
            assert Case.objects.count() == 2
        connection.set_schema_to_public()
