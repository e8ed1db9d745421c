"""Who works a case: the assigned mediator edits it, another mediator of the compound only reads it,
a mediator of another compound sees nothing (404) — through the pages and the API alike.

The grant is a guardian row in the compound's schema (DESIGN.md §2): it names one case of one
compound, never "case #n" of every compound.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import tenant_context

from mediation.actions import do_assign_mediator, do_unassign_mediator
from mediation.models import Case
from tests.conftest import CODE_A, CODE_B
from tests.factories import RoleFactory

WHEN = "2026-03-05T09:30:00+08:00"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(name: str, code: str = CODE_A, **kwargs: Any) -> str:
    return reverse(f"mediation:{name}", kwargs={"compound": code, **kwargs})


def api(name: str, code: str = CODE_A, **kwargs: Any) -> str:
    return reverse(f"mediation-api:{name}", kwargs={"compound": code, **kwargs})


def post_json(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def patch_json(client: Client, url: str, body: Any) -> Any:
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def assigned(in_a: Any, make_case: Any, officer: Any, mediator_a: Any) -> tuple[Case, Case]:
    """A case mediator A is assigned to, and another case of the compound they are not on."""
    case = make_case(now=timezone.now())
    other = make_case(now=timezone.now(), title="另一案")
    do_assign_mediator(case, mediator_a, acting_user=officer)
    return case, other


def test_the_assigned_mediator_edits_their_case(assigned: tuple[Case, Case], mediator_a: Any, compound_a: Any) -> None:
    case, _other = assigned
    client = signed_in(mediator_a.user)
    assert client.get(page("case", pk=case.pk)).status_code == 200
    assert client.get(page("case_edit", pk=case.pk)).status_code == 200
    assert client.post(page("case_transition", pk=case.pk), {"status": "accepted"}).status_code == 302
    assert post_json(client, api("case-transition", pk=case.pk), {"status": "mediating"}).status_code == 200
    assert patch_json(client, api("case-detail", pk=case.pk), {"place": "调解室"}).status_code == 200
    assert (
        post_json(client, api("session-list"), {"case": case.pk, "scheduled_at": WHEN, "place": "调解室"}).status_code
        == 201
    )
    assert (
        client.post(
            page("session_add", pk=case.pk), {"scheduled_at": "2026-03-06T10:00", "place": "调解室"}
        ).status_code
        == 302
    )
    assert post_json(client, api("party-list"), {"case": case.pk, "role": "other", "name": "证人"}).status_code == 201
    body = {"case": case.pk, "terms": "赔偿", "signed_on": "2026-03-05"}
    assert post_json(client, api("agreement-list"), body).status_code == 201
    with tenant_context(compound_a):
        case.refresh_from_db()
        assert case.status == "agreement" and case.place == "调解室"
        assert case.steps.filter(user=mediator_a.user).count() == 3


def test_but_not_another_case(assigned: tuple[Case, Case], mediator_a: Any) -> None:
    _case, other = assigned
    client = signed_in(mediator_a.user)
    assert client.get(page("case", pk=other.pk)).status_code == 200  # a mediator reads the compound's cases
    assert client.post(page("case_transition", pk=other.pk), {"status": "accepted"}).status_code == 403
    assert post_json(client, api("case-transition", pk=other.pk), {"status": "accepted"}).status_code == 403
    assert post_json(client, api("party-list"), {"case": other.pk, "role": "other", "name": "x"}).status_code == 403


def test_another_mediator_of_the_compound_only_reads(assigned: tuple[Case, Case], mediator_a2: Any) -> None:
    case, _other = assigned
    client = signed_in(mediator_a2.user)
    assert client.get(page("case", pk=case.pk)).status_code == 200
    assert client.get(page("case_list")).status_code == 200
    assert client.get(api("case-detail", pk=case.pk)).status_code == 200
    assert client.get(page("case_edit", pk=case.pk)).status_code == 403
    assert client.post(page("case_transition", pk=case.pk), {"status": "accepted"}).status_code == 403
    assert client.post(page("case_extend", pk=case.pk), {"days": 5, "reason": "x"}).status_code == 403
    assert (
        client.post(page("session_add", pk=case.pk), {"scheduled_at": "2026-03-06T10:00", "place": "x"}).status_code
        == 403
    )
    assert post_json(client, api("case-transition", pk=case.pk), {"status": "accepted"}).status_code == 403
    assert patch_json(client, api("case-detail", pk=case.pk), {"place": "x"}).status_code == 403
    assert (
        post_json(client, api("session-list"), {"case": case.pk, "scheduled_at": WHEN, "place": "x"}).status_code == 403
    )
    assert post_json(client, api("case-list"), {}).status_code == 403


def test_mediators_do_not_assign_mediators(assigned: tuple[Case, Case], mediator_a: Any, mediator_a2: Any) -> None:
    case, _other = assigned
    client = signed_in(mediator_a.user)
    assert client.get(page("case_mediators", pk=case.pk)).status_code == 403
    assert post_json(client, api("case-assign-mediator", pk=case.pk), {"mediator": mediator_a2.pk}).status_code == 403


def test_a_mediator_of_another_compound_sees_nothing(assigned: tuple[Case, Case], mediator_b: Any) -> None:
    case, _other = assigned
    client = signed_in(mediator_b.user)
    for url in (page("case", pk=case.pk), page("case_list"), api("case-detail", pk=case.pk), api("case-list")):
        assert client.get(url).status_code == 404, url
    assert client.post(page("case_transition", pk=case.pk), {"status": "accepted"}).status_code == 404
    assert post_json(client, api("case-transition", pk=case.pk), {"status": "accepted"}).status_code == 404
    # Their own compound's list is theirs to read, and holds nothing of A.
    own = client.get(api("case-list", code=CODE_B))
    assert own.status_code == 200 and own.json()["count"] == 0


def test_unassigning_takes_the_grant_back(assigned: tuple[Case, Case], officer: Any, mediator_a: Any) -> None:
    case, _other = assigned
    do_unassign_mediator(case, mediator_a, acting_user=officer)
    client = signed_in(mediator_a.user)
    assert client.post(page("case_transition", pk=case.pk), {"status": "accepted"}).status_code == 403
    assert post_json(client, api("case-transition", pk=case.pk), {"status": "accepted"}).status_code == 403


def test_a_grant_in_compound_a_is_no_grant_in_compound_b(
    assigned: tuple[Case, Case], mediator_a: Any, compound_b: Any, make_case: Any
) -> None:
    case, _other = assigned
    # The same mediator also works in compound B; B's case may carry the same id as A's.
    RoleFactory(user=mediator_a.user, role="mediator", compound=compound_b)
    with tenant_context(compound_b):
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('mediation_case', 'id'), %s, false)", [case.pk])
        assert make_case(now=timezone.now()).pk == case.pk
    client = signed_in(mediator_a.user)
    assert client.get(page("case", code=CODE_B, pk=case.pk)).status_code == 200
    assert client.post(page("case_transition", code=CODE_B, pk=case.pk), {"status": "accepted"}).status_code == 403
    assert post_json(client, api("case-transition", code=CODE_B, pk=case.pk), {"status": "accepted"}).status_code == 403
    assert client.post(page("case_transition", pk=case.pk), {"status": "accepted"}).status_code == 302
