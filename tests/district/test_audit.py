"""The audit log (issue #3): writing rows, and the city bureau's page and API with their filters,
permission (audit.view) and scope (never a row of a compound outside the reader's city)."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tenants.utils import tenant_context

from district.audit import do_record_audit
from district.models import Area, AuditAction, AuditEntry
from tenants.models import Compound
from tests.factories import PersonFactory, RoleFactory

User = get_user_model()

PAGE = "/audit/"
API = "/api/audit/"


@pytest.fixture
def bureau(db):
    """市局 of 济南市 (370100): compounds A and B are in its scope."""
    return RoleFactory(user__username="shiju", role="city_bureau", area=Area.objects.get(code="370100")).user


@pytest.fixture
def elsewhere(db) -> Compound:
    """A compound of another city (青岛市), outside the bureau's scope (a row; no schema needed)."""
    city = Area.objects.create(level="city", code="370200", name="青岛市")
    district = Area.objects.create(level="district", code="370202", name="市南区", parent=city)
    street = Area.objects.create(level="street", code="370202001", name="八大峡街道", parent=district)
    return Compound.objects.create(schema_name="c370202001001", street=street, code="370202001001", name="海景花园")


@pytest.fixture
def entries(compound_a, compound_b, elsewhere):
    """One row of each kind, by different users, in A, B, the other city and no compound."""
    # Users who never log in here: no password to hash (hashing is the slow part of a factory user).
    alice, bob = User.objects.create(username="alice-minjing"), User.objects.create(username="bob-wuye")
    rows = {
        "view_a": do_record_audit(alice, AuditAction.VIEW_PII, compound=compound_a, object_ids=[11, 12]),
        "search_a": do_record_audit(
            bob, AuditAction.SEARCH_ID_NUMBER, compound=compound_a, object_ids=[12], detail={"q": "x"}
        ),
        "export_b": do_record_audit(bob, AuditAction.EXPORT, compound=compound_b, object_ids=[7], reason="核查"),
        "view_elsewhere": do_record_audit(alice, AuditAction.VIEW_PII, compound=elsewhere, object_ids=[11]),
        "no_compound": do_record_audit(alice, AuditAction.ASSIGN_ROLE),
    }
    # The export happened ten days ago.
    AuditEntry.objects.filter(pk=rows["export_b"].pk).update(at=timezone.now() - datetime.timedelta(days=10))
    return rows


def api_ids(client, **params) -> set[int]:
    response = client.get(API, params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def page_ids(client, **params) -> set[int]:
    response = client.get(PAGE, params)
    assert response.status_code == 200
    return {e.pk for e in response.context["page"]}


def test_do_record_audit_takes_objects_or_ids(compound_a, staff_a):
    with tenant_context(compound_a):
        person = PersonFactory()
        by_object = do_record_audit(staff_a, AuditAction.VIEW_PII, compound=compound_a, objects=[person])
    by_ids = do_record_audit(staff_a, AuditAction.EXPORT, object_ids=[3, 4], object_type="registry.house")
    assert (by_object.object_type, by_object.object_ids, by_object.username) == (
        "registry.person",
        [person.pk],
        "staff-a",
    )
    assert (by_ids.object_type, by_ids.object_ids) == ("registry.house", [3, 4])


@pytest.mark.parametrize("who", ["admin_a", "staff_a"])
def test_audit_log_is_forbidden_without_audit_view(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(PAGE).status_code == 403
    assert client.get(API).status_code == 403


def test_anonymous_users_are_sent_to_login(client):
    assert client.get(PAGE).status_code == 302
    assert client.get(API).status_code == 403


def test_city_bureau_sees_only_rows_of_its_compounds(client, bureau, entries):
    client.force_login(bureau)
    in_city = {entries[k].pk for k in ("view_a", "search_a", "export_b")}
    assert page_ids(client) == in_city
    assert api_ids(client) == in_city
    assert client.get(f"{API}{entries['view_elsewhere'].pk}/").status_code == 404
    assert client.get(f"{API}{entries['no_compound'].pk}/").status_code == 404
    row = client.get(f"{API}{entries['export_b'].pk}/").json()
    assert (row["compound_code"], row["reason"], row["object_ids"]) == ("370102002001", "核查", [7])
    html = client.get(PAGE).content.decode()
    assert "海景花园" not in html and "阳光花园" in html
    assert " style=" not in html  # the content security policy refuses inline styles


def test_superuser_sees_every_row(client, superuser, entries):
    client.force_login(superuser)
    assert page_ids(client) == {e.pk for e in entries.values()}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user": "ALICE"}, {"view_a"}),
        ({"action": "export"}, {"export_b"}),
        ({"compound": "370102001001"}, {"view_a", "search_a"}),
        ({"compound": "370102002"}, {"export_b"}),  # a street's code: its compounds
        ({"record": "12"}, {"view_a", "search_a"}),
        ({"record": "11"}, {"view_a"}),  # the other city's row naming 11 stays hidden
        ({"date_to": "__10_days_ago__"}, {"export_b"}),
        ({"date_from": "__today__"}, {"view_a", "search_a"}),
        ({"user": "bob", "action": "search_id_number"}, {"search_a"}),
    ],
)
def test_filters_on_page_and_api(client, bureau, entries, params, expected):
    today = timezone.localdate()
    dates = {"__today__": today, "__10_days_ago__": today - datetime.timedelta(days=10)}
    params = {k: dates.get(v, v) for k, v in params.items()}
    client.force_login(bureau)
    wanted = {entries[k].pk for k in expected}
    assert page_ids(client, **params) == wanted
    assert api_ids(client, **params) == wanted


def test_unreadable_filters_are_refused(client, bureau, entries):
    client.force_login(bureau)
    response = client.get(API, {"date_from": "2026-03-02", "date_to": "2026-03-01"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "start date is after the end date" in response.json()["non_field_errors"][0]
    assert client.get(API, {"action": "nonsense"}).status_code == 400
    page = client.get(PAGE, {"record": "abc"})
    assert page.status_code == 200 and list(page.context["page"]) == []


def test_page_is_paginated_and_keeps_the_filters(client, bureau, compound_a):
    officer = User.objects.create(username="minjing")
    for n in range(55):
        do_record_audit(officer, AuditAction.VIEW_PII, compound=compound_a, object_ids=[n + 1])
    client.force_login(bureau)
    first = client.get(PAGE, {"user": "minjing"})
    assert len(first.context["page"]) == 50
    assert "?user=minjing&amp;page=2" in first.content.decode()
    assert len(client.get(PAGE, {"user": "minjing", "page": 2}).context["page"]) == 5


def test_an_officers_view_is_found_by_record_id(client, bureau, compound_a):
    """End to end: an unmasked view by the beat officer, found by the city bureau."""
    officer = RoleFactory(user__username="minjing-a", role="beat_officer", compound=compound_a).user
    with tenant_context(compound_a):
        person = PersonFactory(name="唐僧")
    client.force_login(officer)
    assert client.get(f"/c/{compound_a.code}/persons/{person.pk}/").status_code == 200
    client.force_login(bureau)
    (row,) = client.get(API, {"record": person.pk, "action": "view_pii"}).json()["results"]
    assert (row["username"], row["compound_code"], row["object_type"]) == (
        "minjing-a",
        compound_a.code,
        "registry.person",
    )
    assert "minjing-a" in client.get(PAGE, {"record": person.pk}).content.decode()


def test_audit_api_is_documented(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert "/api/audit/" in paths and "/api/audit/{id}/" in paths
