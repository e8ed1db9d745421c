"""The mediation API: the intake contract (idempotent on client_key), the workflow, the records of a case."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import tenant_context

from district.models import AuditEntry
from events.models import Alert
from mediation.actions import TRANSITIONS, PartyData
from mediation.choices import CaseStatus
from mediation.models import Agreement, Case, MediationSession, Party
from tests.conftest import CODE_A
from tests.factories import PersonFactory, make_id_number

ID_NUMBER = make_id_number(seq=772)
ALL_PAIRS = [(a, b) for a in CaseStatus.values for b in CaseStatus.values]


def api(name: str, **kwargs: Any) -> str:
    return reverse(f"mediation-api:{name}", kwargs={"compound": CODE_A, **kwargs})


def signed_in(user: Any, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def post(client: Client, url: str, body: Any, **extra: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def contract_body(**changes: Any) -> dict[str, Any]:
    """The body the offline intake sends (brief: the contract shared by the two mediation helpers)."""
    body: dict[str, Any] = {
        "client_key": str(uuid.uuid4()),
        "source": "walk_in",
        "category": "neighbour",
        "title": "楼上漏水",
        "description": "502 漏水至 402",
        "risk": "low",
        "risk_reasons": [],
        "place": "3号楼",
        "amount": "123.00",
        "occurred_on": "2026-03-01",
        "parties": [
            {"role": "applicant", "name": "王芳", "person_id": None, "id_number": "", "phone": "", "home_province": ""},
            {
                "role": "respondent",
                "name": "李强",
                "person_id": None,
                "id_number": ID_NUMBER,
                "phone": "13912345678",
                "home_province": "浙江",
            },
        ],
    }
    body.update(changes)
    return body


# --- Registration (the contract) ---------------------------------------------------------------------


def test_create_then_the_same_key_again(grid_worker: Any, compound_a: Any) -> None:
    client = signed_in(grid_worker)
    body = contract_body()
    first = post(client, api("case-list"), body)
    assert first.status_code == 201, first.content
    data = first.json()
    assert set(data) == {"id", "number", "url", "created"} and data["created"] is True
    assert data["url"] == reverse("mediation:case", kwargs={"compound": CODE_A, "pk": data["id"]})
    again = post(client, api("case-list"), body)
    assert again.status_code == 200
    assert again.json() == {**data, "created": False}
    with tenant_context(compound_a):
        case = Case.objects.get()
        assert case.amount == 123 and case.occurred_on == datetime.date(2026, 3, 1)
        assert {p.name: p.home_province for p in case.parties.all()} == {"王芳": "", "李强": "浙江"}


def test_csrf_header_is_required_with_a_session(grid_worker: Any, compound_a: Any) -> None:
    client = signed_in(grid_worker, enforce_csrf_checks=True)
    refused = post(client, api("case-list"), contract_body())
    assert refused.status_code == 403
    client.get(reverse("mediation:case_new", kwargs={"compound": CODE_A}))
    token = client.cookies["csrftoken"].value
    assert post(client, api("case-list"), contract_body(), HTTP_X_CSRFTOKEN=token).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"category": "gossip"}, "category"),
        ({"parties": []}, "parties"),
        ({"parties": [{"role": "judge", "name": "x"}]}, "parties-0-role"),
        ({"parties": [{"role": "applicant", "name": ""}]}, "parties-0-name"),
        (
            {"parties": [{"role": "applicant", "name": "王芳", "id_number": "370102198001011234"}]},
            "parties-0-id_number",
        ),
        ({"parties": [{"role": "applicant", "person_id": 999999}]}, "parties"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "12.345"}, "amount"),
        ({"occurred_on": "2999-01-01"}, "occurred_on"),
        ({"risk_reasons": ["astrology"]}, "risk_reasons"),
        ({"client_key": "no spaces allowed"}, "client_key"),
        ({"title": 5}, "title"),
        ({"requested_mediator": 999999}, "requested_mediator"),
    ],
)
def test_create_refusals(grid_worker: Any, compound_a: Any, changes: dict, field: str) -> None:
    response = post(signed_in(grid_worker), api("case-list"), contract_body(**changes))
    assert response.status_code == 400, response.content
    assert field in response.json()
    with tenant_context(compound_a):
        assert not Case.objects.exists()


def test_a_party_error_names_the_party(grid_worker: Any, compound_a: Any) -> None:
    body = contract_body()
    body["parties"][1]["id_number"] = "370102198001011234"
    errors = post(signed_in(grid_worker), api("case-list"), body).json()
    assert errors["parties-1-id_number"]  # the intake form's field name


def test_a_resident_party_and_a_high_risk(officer: Any, compound_a: Any) -> None:
    with tenant_context(compound_a):
        person = PersonFactory(name="张伟")
    body = contract_body(
        risk="high",
        risk_reasons=["abnormal_death"],
        parties=[{"role": "applicant", "person_id": person.pk, "name": ""}],
    )
    assert post(signed_in(officer), api("case-list"), body).status_code == 201
    with tenant_context(compound_a):
        assert Case.objects.get().parties.get().person == person
    assert Alert.objects.filter(kind="dispute_high_risk", compound_id=compound_a.pk).count() == 1


def test_who_may_register(staff_a: Any, mediator_a: Any, compound_a: Any) -> None:
    assert post(signed_in(staff_a), api("case-list"), contract_body()).status_code == 403
    assert post(signed_in(mediator_a.user), api("case-list"), contract_body()).status_code == 403
    assert signed_in(mediator_a.user).get(api("case-list")).status_code == 200


# --- Reading -----------------------------------------------------------------------------------------


def test_list_filters_and_masking(grid_worker: Any, officer: Any, in_a: Any, make_case: Any) -> None:
    late = make_case(parties=[PartyData(role="applicant", name="王芳", id_number=ID_NUMBER, phone="13912345678")])
    fresh = make_case(title="新案", category="labour", now=timezone.now())
    masked = signed_in(grid_worker).get(api("case-list")).json()
    assert [c["id"] for c in masked["results"]] == [late.pk, fresh.pk]  # open cases by deadline
    assert masked["results"][0]["overdue"] is True and masked["results"][1]["overdue"] is False
    party = masked["results"][0]["parties"][0]
    assert party["id_number"] == "3701**********" + ID_NUMBER[-4:] and party["phone"] == "139****5678"
    client = signed_in(grid_worker)
    assert [c["id"] for c in client.get(api("case-list"), {"overdue": "true"}).json()["results"]] == [late.pk]
    assert [c["id"] for c in client.get(api("case-list"), {"category": "labour"}).json()["results"]] == [fresh.pk]
    assert [c["id"] for c in client.get(api("case-list"), {"q": "新案"}).json()["results"]] == [fresh.pk]
    assert client.get(api("case-list"), {"status": "nonsense"}).status_code == 400
    assert client.get(api("case-list"), {"overdue": "null"}).status_code == 400
    assert client.get(api("case-list"), {"limit": "0"}).status_code == 400
    assert not AuditEntry.objects.filter(action="view_pii").exists()
    shown = signed_in(officer).get(api("case-detail", pk=late.pk)).json()
    assert shown["parties"][0]["id_number"] == ID_NUMBER
    assert AuditEntry.objects.filter(action="view_pii", object_type="mediation.party", user=officer).exists()
    assert signed_in(officer).get(api("party-list"), {"case": late.pk}).json()["results"][0]["id_number"] == ID_NUMBER


# --- The workflow through the API -------------------------------------------------------------------


@pytest.mark.parametrize(("start", "to"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_every_transition(officer: Any, in_a: Any, make_case: Any, start: str, to: str) -> None:
    case = make_case()
    Case.objects.filter(pk=case.pk).update(status=start)
    response = post(
        signed_in(officer), api("case-transition", pk=case.pk), {"status": to, "note": "经办", "referred_to": "court"}
    )
    with tenant_context(in_a):
        case.refresh_from_db()
    if to in TRANSITIONS[start]:
        assert response.status_code == 200, response.content
        assert response.json()["status"] == to == case.status
        assert response.json()["steps"][-1]["note"] == "经办"
    else:
        assert response.status_code == 400
        assert "non_field_errors" in response.json()
        assert case.status == start


def test_extend_deadline(officer: Any, in_a: Any, make_case: Any) -> None:
    case = make_case()
    client = signed_in(officer)
    assert post(client, api("case-extend-deadline", pk=case.pk), {"days": 10}).status_code == 400
    assert post(client, api("case-extend-deadline", pk=case.pk), {"days": 0, "reason": "x"}).status_code == 400
    ok = post(client, api("case-extend-deadline", pk=case.pk), {"days": 10, "reason": "等待鉴定"})
    assert ok.status_code == 200 and ok.json()["deadline"] == "2026-04-11"
    assert ok.json()["deadline_extension_reason"] == "等待鉴定"


def test_partial_update(officer: Any, in_a: Any, make_case: Any) -> None:
    case = make_case()
    client = signed_in(officer)
    response = client.patch(
        api("case-detail", pk=case.pk), json.dumps({"risk": "high", "amount": "50.5"}), content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["risk"] == "high" and response.json()["amount"] == "50.50"
    assert Alert.objects.filter(kind="dispute_high_risk").count() == 1
    bad = client.patch(
        api("case-detail", pk=case.pk), json.dumps({"status": "closed"}), content_type="application/json"
    )
    assert bad.status_code == 200 and bad.json()["status"] == "registered"  # the status moves only by transition
    assert client.put(api("case-detail", pk=case.pk), "{}", content_type="application/json").status_code in (403, 405)


def test_assign_and_unassign(officer: Any, in_a: Any, make_case: Any, mediator_a: Any) -> None:
    case = make_case()
    client = signed_in(officer)
    assert post(client, api("case-assign-mediator", pk=case.pk), {"mediator": 999999}).status_code == 400
    ok = post(client, api("case-assign-mediator", pk=case.pk), {"mediator": mediator_a.pk})
    assert ok.status_code == 200 and ok.json()["mediators"] == [mediator_a.pk]
    ok = post(client, api("case-unassign-mediator", pk=case.pk), {"mediator": mediator_a.pk})
    assert ok.status_code == 200 and ok.json()["mediators"] == []
    assert post(client, api("case-unassign-mediator", pk=case.pk), {"mediator": mediator_a.pk}).status_code == 400


# --- The records of a case ---------------------------------------------------------------------------


def test_parties_sessions_agreements(officer: Any, in_a: Any, make_case: Any) -> None:
    case = make_case()
    client = signed_in(officer)
    party = post(client, api("party-list"), {"case": case.pk, "role": "other", "name": "证人", "phone": "13800001111"})
    assert party.status_code == 201 and party.json()["phone"] == "13800001111"
    assert post(client, api("party-list"), {"case": 999999, "role": "other", "name": "x"}).status_code == 404
    assert post(client, api("party-list"), {"case": "x", "role": "other", "name": "x"}).status_code == 400
    assert client.delete(api("party-detail", pk=party.json()["id"])).status_code == 204
    when = "2026-03-05T09:30:00+08:00"
    assert post(client, api("session-list"), {"case": case.pk, "scheduled_at": when}).status_code == 400
    session = post(client, api("session-list"), {"case": case.pk, "scheduled_at": when, "place": "调解室"})
    assert session.status_code == 201, session.content
    patched = client.patch(
        api("session-detail", pk=session.json()["id"]),
        json.dumps({"held": True, "minutes": "达成一致", "attendees": "王芳、李强"}),
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["held"] is True
    agreement = {"case": case.pk, "terms": "赔偿 1200 元", "amount": "1200.00", "signed_on": "2026-03-05"}
    assert post(client, api("agreement-list"), agreement).status_code == 400  # not being mediated yet
    with tenant_context(in_a):
        Case.objects.filter(pk=case.pk).update(status="mediating")
    created = post(client, api("agreement-list"), agreement)
    assert created.status_code == 201 and created.json()["amount"] == "1200.00"
    with tenant_context(in_a):
        assert Case.objects.get(pk=case.pk).status == "agreement"
        assert Agreement.objects.count() == 1 and MediationSession.objects.get().held
        assert Party.objects.filter(case=case).count() == 2
    listed = signed_in(officer).get(api("session-list"), {"case": case.pk}).json()
    assert [s["id"] for s in listed["results"]] == [session.json()["id"]]
