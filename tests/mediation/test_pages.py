"""The mediation pages: the intake (its contract with the offline script), the list, a case and its forms."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import tenant_context

from district.models import AuditEntry
from events.models import Alert
from mediation.actions import PartyData, do_assign_mediator
from mediation.models import Agreement, Attachment, Case, MediationSession
from tests.conftest import CODE_A
from tests.factories import PersonFactory, make_id_number
from tests.mediation.test_attachments import PDF, image_bytes

ID_NUMBER = make_id_number(seq=771)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"mediation:{name}", kwargs={"compound": CODE_A, **kwargs})


def intake_body(**extra: Any) -> dict[str, Any]:
    """What the intake page posts for a simple case: category, title, one party's name."""
    body = {
        "client_key": str(uuid.uuid4()),
        "source": "walk_in",
        "category": "neighbour",
        "title": "楼上漏水",
        "risk": "low",
        "parties-0-role": "applicant",
        "parties-0-name": "王芳",
        "parties-1-role": "respondent",
        "parties-1-name": "",
    }
    body.update(extra)
    return body


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# --- The intake ------------------------------------------------------------------------------------


def test_intake_page_follows_the_contract(officer: Any, compound_a: Any) -> None:
    response = signed_in(officer).get(url("case_new"))
    assert response.status_code == 200
    html = response.content.decode()
    form = re.search(r'<form[^>]*id="case-intake"[^>]*>', html)
    assert form is not None and 'method="post"' in form.group(0)
    assert f'data-api="/c/{CODE_A}/api/mediation/cases/"' in form.group(0)
    key = re.search(r'name="client_key" value="([^"]+)"', html)
    assert key is not None and uuid.UUID(key.group(1))
    for n in (0, 1):
        for field in ("role", "name", "id_number", "phone", "home_province", "person_id"):
            assert f'name="parties-{n}-{field}"' in html, (n, field)
    assert 'name="parties-2-role"' not in html
    assert "data-add-party" in html and "js/mediation-form.js" in html
    assert '<template id="party-template">' in html and "parties-__N__-name" in html
    # Sensible defaults: a walk-in, today.
    assert re.search(r'<option value="walk_in" selected>', html)
    assert f'value="{timezone.localdate():%Y-%m-%d}"' in html
    # A fresh key each time the page is opened.
    again = signed_in(officer).get(url("case_new")).content.decode()
    assert re.search(r'name="client_key" value="([^"]+)"', again).group(1) != key.group(1)  # type: ignore[union-attr]


def test_a_simple_case_without_javascript(officer: Any, compound_a: Any) -> None:
    body = intake_body()
    response = signed_in(officer).post(url("case_new"), body)
    assert response.status_code == 302
    with tenant_context(compound_a):
        case = Case.objects.get()
        assert response["Location"] == url("case", pk=case.pk)
        assert (case.source, case.category, case.title, case.description) == ("walk_in", "neighbour", "楼上漏水", "")
        assert [p.name for p in case.parties.all()] == ["王芳"]  # the empty second fieldset is no party
        assert case.client_key == body["client_key"]
    # Sent again (a double tap, a retry): the same case.
    again = signed_in(officer).post(url("case_new"), body)
    assert again.status_code == 302 and again["Location"] == response["Location"]
    with tenant_context(compound_a):
        assert Case.objects.count() == 1


def test_parties_beyond_two_and_a_resident(officer: Any, compound_a: Any) -> None:
    with tenant_context(compound_a):
        person = PersonFactory(name="张伟")
    body = intake_body(
        **{
            "parties-1-person_id": str(person.pk),
            "parties-1-name": "张伟",
            "parties-5-role": "other",
            "parties-5-name": "物业经理",
            "parties-5-phone": "13800001111",
            "parties-5-id_number": ID_NUMBER,
        }
    )
    assert signed_in(officer).post(url("case_new"), body).status_code == 302
    with tenant_context(compound_a):
        parties = {p.name: p for p in Case.objects.get().parties.all()}
        assert parties["张伟"].person == person
        assert parties["物业经理"].role == "other" and parties["物业经理"].id_number == ID_NUMBER


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"title": ""}, 'data-testid="error-title"'),
        ({"category": ""}, 'data-testid="error-category"'),
        ({"parties-0-name": ""}, 'data-testid="form-errors"'),
        ({"parties-0-name": "", "parties-0-phone": "13800001111"}, 'data-testid="error-name"'),
        ({"parties-0-id_number": "370102198001011234"}, 'data-testid="error-id_number"'),
        ({"amount": "-5"}, 'data-testid="error-amount"'),
        ({"occurred_on": "2999-01-01"}, 'data-testid="error-occurred_on"'),
        ({"client_key": "bad key!"}, 'data-testid="error-client_key"'),
        ({"risk_reasons": ["astrology"]}, 'data-testid="error-risk_reasons"'),
    ],
)
def test_intake_refusals_keep_what_was_typed(officer: Any, compound_a: Any, changes: dict, error: str) -> None:
    response = signed_in(officer).post(url("case_new"), intake_body(**changes))
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    if "title" not in changes:
        assert 'value="楼上漏水"' in html  # what was typed is kept
    with tenant_context(compound_a):
        assert not Case.objects.exists()


def test_high_risk_from_the_intake_raises_an_alert(officer: Any, compound_a: Any) -> None:
    body = intake_body(risk="high", risk_reasons=["group", "violence"])
    assert signed_in(officer).post(url("case_new"), body).status_code == 302
    assert Alert.objects.filter(kind="dispute_high_risk", compound_id=compound_a.pk).count() == 1


def test_property_staff_may_not_record(staff_a: Any) -> None:
    assert signed_in(staff_a).get(url("case_new")).status_code == 403
    assert signed_in(staff_a).get(url("case_list")).status_code == 403


def test_person_search_masks_for_a_grid_worker(grid_worker: Any, officer: Any, compound_a: Any) -> None:
    with tenant_context(compound_a):
        person = PersonFactory(name="张伟", id_number=ID_NUMBER)
    masked = signed_in(grid_worker).get(url("person_search"), {"q": "张伟", "n": "1"}, HTTP_HX_REQUEST="true")
    assert masked.status_code == 200
    html = masked.content.decode()
    assert "张伟" in html and ID_NUMBER not in html and "**********" in html
    assert f"person={person.pk}" in html and "#party-1" in html
    shown = signed_in(officer).get(url("person_search"), {"q": "zhangwei", "n": "0"})
    assert ID_NUMBER in shown.content.decode()
    assert AuditEntry.objects.filter(action="view_pii", object_type="registry.person", object_ids=[person.pk]).exists()


def test_picking_a_resident_fills_the_fieldset(grid_worker: Any, compound_a: Any) -> None:
    with tenant_context(compound_a):
        person = PersonFactory(name="张伟", id_number=ID_NUMBER)
    response = signed_in(grid_worker).get(
        url("party_fieldset"), {"n": "1", "person": person.pk, "parties-1-role": "other"}
    )
    html = response.content.decode()
    assert f'name="parties-1-person_id" value="{person.pk}"' in html
    assert 'id="party-1"' in html and ID_NUMBER not in html
    assert '<option value="other" selected>' in html
    assert signed_in(grid_worker).get(url("party_fieldset"), {"n": "99"}).status_code == 400


# --- The list --------------------------------------------------------------------------------------


def test_list_filters_highlights_overdue_and_sorts_open_by_deadline(officer: Any, in_a: Any, make_case: Any) -> None:
    now = timezone.now()
    late = make_case(title="逾期案", now=now - datetime.timedelta(days=40))
    soon = make_case(title="将到期", now=now - datetime.timedelta(days=25), category="labour")
    fresh = make_case(title="新案", now=now, risk="high")
    closed = make_case(title="已结案", now=now - datetime.timedelta(days=60))
    Case.objects.filter(pk=closed.pk).update(status="closed")
    client = signed_in(officer)
    html = client.get(url("case_list")).content.decode()
    order = [html.index(title) for title in ("逾期案", "将到期", "新案", "已结案")]
    assert order == sorted(order)
    assert html.count("data-overdue") == 2  # the card and the table row of the late case
    assert 'data-testid="cards"' in html
    only_late = client.get(url("case_list"), {"overdue": "on"}).content.decode()
    assert "逾期案" in only_late and "将到期" not in only_late
    assert "将到期" in client.get(url("case_list"), {"category": "labour"}).content.decode()
    by_risk = client.get(url("case_list"), {"risk": "high"}).content.decode()
    assert "新案" in by_risk and "逾期案" not in by_risk
    by_status = client.get(url("case_list"), {"status": "closed"}, HTTP_HX_REQUEST="true").content.decode()
    assert "已结案" in by_status and "<html" not in by_status
    by_title = client.get(url("case_list"), {"q": "逾期"}).content.decode()
    assert "逾期案" in by_title and "将到期" not in by_title
    assert "将到期" in client.get(url("case_list"), {"q": "王芳"}).content.decode()  # a party's name
    bad = client.get(url("case_list"), {"status": "nonsense"})
    assert bad.status_code == 200 and 'data-testid="filter-errors"' in bad.content.decode()
    del late, soon, fresh


# --- A case ----------------------------------------------------------------------------------------


def test_case_page_masks_by_role_and_audits_unmasked_views(
    grid_worker: Any, officer: Any, in_a: Any, make_case: Any
) -> None:
    case = make_case(parties=[PartyData(role="applicant", name="王芳", id_number=ID_NUMBER, phone="13912345678")])
    masked = signed_in(grid_worker).get(url("case", pk=case.pk)).content.decode()
    assert ID_NUMBER not in masked and "13912345678" not in masked and "139****5678" in masked
    shown = signed_in(officer).get(url("case", pk=case.pk)).content.decode()
    assert ID_NUMBER in shown and 'href="tel:13912345678"' in shown
    assert AuditEntry.objects.filter(action="view_pii", object_type="mediation.party", user=officer).count() == 1
    assert not AuditEntry.objects.filter(action="view_pii", user=grid_worker).exists()


def test_only_allowed_next_statuses_are_offered(officer: Any, in_a: Any, make_case: Any) -> None:
    case = make_case(now=timezone.now())
    html = signed_in(officer).get(url("case", pk=case.pk)).content.decode()
    offered = set(re.findall(r'data-testid="to-([a-z_]+)"', html))
    assert offered == {"accepted", "referred"}
    assert 'data-testid="overdue"' not in html


def test_overdue_badge_on_the_case(officer: Any, in_a: Any, make_case: Any) -> None:
    case = make_case()  # registered 2026-03-02, long past its deadline
    html = signed_in(officer).get(url("case", pk=case.pk)).content.decode()
    assert 'data-testid="overdue"' in html


def test_workflow_through_the_pages(officer: Any, in_a: Any, make_case: Any, media: Any) -> None:
    case = make_case(now=timezone.now())
    client = signed_in(officer)
    assert client.post(url("case_transition", pk=case.pk), {"status": "mediating"}).status_code == 422  # skips a step
    assert client.post(url("case_transition", pk=case.pk), {"status": "accepted", "note": "受理"}).status_code == 302
    assert client.post(url("case_transition", pk=case.pk), {"status": "mediating"}).status_code == 302
    # Extend the deadline: a reason is required.
    assert client.post(url("case_extend", pk=case.pk), {"days": "10", "reason": ""}).status_code == 422
    assert client.post(url("case_extend", pk=case.pk), {"days": "10", "reason": "等待鉴定"}).status_code == 302
    # A session: a place or a video link, then its record.
    when = (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(url("session_add", pk=case.pk), {"scheduled_at": when}).status_code == 422
    assert (
        client.post(
            url("session_add", pk=case.pk), {"scheduled_at": when, "video_link": "https://meet.example.cn/1"}
        ).status_code
        == 302
    )
    with tenant_context(in_a):
        session = MediationSession.objects.get()
    assert client.get(url("session", pk=session.pk)).status_code == 200
    record = {
        "scheduled_at": when,
        "video_link": "https://meet.example.cn/1",
        "attendees": "王芳、李强",
        "minutes": "达成一致",
        "held": "on",
    }
    assert client.post(url("session", pk=session.pk), record).status_code == 302
    # The agreement with a signature scan.
    from django.core.files.uploadedfile import SimpleUploadedFile

    scan = SimpleUploadedFile("签字.pdf", PDF, "application/pdf")
    body = {"terms": "李强赔偿 1200 元", "amount": "1200", "signed_on": timezone.localdate().isoformat(), "file": scan}
    assert client.post(url("agreement_add", pk=case.pk), body).status_code == 302
    with tenant_context(in_a):
        case.refresh_from_db()
        session.refresh_from_db()
        assert case.status == "agreement" and session.held and session.minutes == "达成一致"
        assert Agreement.objects.get().attachments.get().kind == "pdf"
        assert list(case.steps.values_list("to_status", flat=True)) == [
            "registered",
            "accepted",
            "mediating",
            "mediating",
            "agreement",
        ]
    html = client.get(url("case", pk=case.pk)).content.decode()
    assert "达成一致" in html and "签字.pdf" in html and "等待鉴定" in html
    # Referral needs a destination.
    assert client.post(url("case_transition", pk=case.pk), {"status": "referred"}).status_code == 422
    ok = client.post(url("case_transition", pk=case.pk), {"status": "referred", "referred_to": "court"})
    assert ok.status_code == 302


def test_parties_added_and_removed_on_the_page(officer: Any, in_a: Any, make_case: Any) -> None:
    case = make_case()
    client = signed_in(officer)
    assert client.post(url("party_add", pk=case.pk), {"party-role": "other", "party-name": ""}).status_code == 422
    assert client.post(url("party_add", pk=case.pk), {"party-role": "other", "party-name": "证人"}).status_code == 302
    with tenant_context(in_a):
        party = case.parties.get(name="证人")
    assert client.post(url("party_remove", pk=party.pk)).status_code == 302
    with tenant_context(in_a):
        assert case.parties.count() == 2


def test_editing_the_case_and_raising_the_risk(officer: Any, in_a: Any, make_case: Any) -> None:
    from tests.factories import AddressPathFactory

    case = make_case()
    room = AddressPathFactory("3", "2", "5", "501")
    client = signed_in(officer)
    assert client.get(url("case_edit", pk=case.pk)).status_code == 200
    body = {
        "source": "hotline",
        "category": "neighbour",
        "title": "楼上漏水",
        "description": "扩大",
        "risk": "high",
        "risk_reasons": ["violence"],
        "address": "3-2-501",
        "amount": "",
        "occurred_on": "",
        "place": "",
    }
    assert client.post(url("case_edit", pk=case.pk), {**body, "address": "9-9-909"}).status_code == 422
    assert client.post(url("case_edit", pk=case.pk), body).status_code == 302
    with tenant_context(in_a):
        case.refresh_from_db()
        assert (case.source, case.risk, case.address_id) == ("hotline", "high", room.pk)
    assert Alert.objects.filter(kind="dispute_high_risk").count() == 1


def test_mediator_roster_requested_first_then_assign(
    officer: Any, in_a: Any, make_case: Any, mediator_a: Any, mediator_a2: Any
) -> None:
    case = make_case(requested_mediator_id=mediator_a2.pk)
    client = signed_in(officer)
    html = client.get(url("case_mediators", pk=case.pk)).content.decode()
    assert html.index("调解员乙") < html.index("调解员甲")
    assert "调解员甲" in client.get(url("case_mediators", pk=case.pk), {"specialty": "neighbour"}).content.decode()
    assert "调解员乙" not in client.get(url("case_mediators", pk=case.pk), {"specialty": "neighbour"}).content.decode()
    assert "调解员乙" in client.get(url("case_mediators", pk=case.pk), {"province": "浙江"}).content.decode()
    assert client.post(url("case_mediators", pk=case.pk), {"mediator": "999999"}).status_code == 422
    assert client.post(url("case_mediators", pk=case.pk), {"mediator": mediator_a.pk}).status_code == 302
    with tenant_context(in_a):
        case.refresh_from_db()
        assert case.mediator_ids == [mediator_a.pk]
    page = client.get(url("case", pk=case.pk)).content.decode()
    assert "调解员甲" in page and "调解员乙" in page  # assigned, and requested by a party
    assert client.post(url("mediator_unassign", pk=case.pk), {"mediator": mediator_a.pk}).status_code == 302
    with tenant_context(in_a):
        case.refresh_from_db()
        assert case.mediator_ids == []


def test_attachment_upload_on_the_page(officer: Any, in_a: Any, make_case: Any, media: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    case = make_case()
    client = signed_in(officer)
    upload = SimpleUploadedFile("现场.png", image_bytes(), "image/png")
    assert client.post(url("attachment_add", pk=case.pk), {"file": upload}).status_code == 302
    with tenant_context(in_a):
        attachment = Attachment.objects.get()
    html = client.get(url("case", pk=case.pk)).content.decode()
    assert url("attachment_thumb", pk=attachment.pk) in html
    assert client.post(url("attachment_remove", pk=attachment.pk)).status_code == 302
    with tenant_context(in_a):
        assert not Attachment.objects.exists()


def test_a_mediator_of_the_compound_reads_without_write_buttons(
    in_a: Any, make_case: Any, mediator_a2: Any, officer: Any, mediator_a: Any
) -> None:
    case = make_case()
    do_assign_mediator(case, mediator_a, acting_user=officer)
    html = signed_in(mediator_a2.user).get(url("case", pk=case.pk)).content.decode()
    assert 'data-testid="transition-form"' not in html and 'data-testid="edit-case"' not in html
    assigned = signed_in(mediator_a.user).get(url("case", pk=case.pk)).content.decode()
    assert 'data-testid="transition-form"' in assigned and 'data-testid="assign-mediator"' not in assigned
