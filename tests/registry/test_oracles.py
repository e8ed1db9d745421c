"""Identifier oracles (issue #7, part 2) for users who see identifiers masked.

- "Already registered" answers only once everything else is valid, alike for registered and
  unregistered numbers, and is then an audited lookup that counts against the user's limit.
- Whole phone and ID-number searches are audited, rate-limited, and lock the user out after
  too many misses, with a note to the compound; users with ``pii.view`` are not limited.
- The 重点人员 tag is shown to and filterable by police roles only.
"""

from __future__ import annotations

import datetime
import io
import json
import re
from typing import Any

import openpyxl
import pytest
from django.test import override_settings
from django_tenants.utils import tenant_context

from district.models import AuditAction, AuditEntry, IdentifierProbe, ProbeLockout
from district.probes import LOCKOUT_EVENT, probe_group
from registry.excel import import_workbook
from registry.models import Person
from tests.factories import PersonFactory, RoleFactory, make_id_number

pytestmark = pytest.mark.django_db

BASE = "/c/370102001001"
API = f"{BASE}/api/registry"
REGISTERED = make_id_number(birth=datetime.date(1966, 6, 6), seq=61)
UNREGISTERED = make_id_number(birth=datetime.date(1966, 6, 6), seq=62)

ALREADY = "A person with this ID number is already registered in this compound."


@pytest.fixture
def officer(compound_a):
    """社区民警 of compound A: pii.view and registry.key_person there."""
    return RoleFactory(user__username="minjing-o", role="beat_officer", compound=compound_a).user


@pytest.fixture
def registered(compound_a) -> Person:
    with tenant_context(compound_a):
        return PersonFactory(name="已登记", id_number=REGISTERED, phone="15512346209")


def post_json(client, url: str, data: dict[str, Any], lang: str = "en") -> Any:
    return client.post(url, json.dumps(data), content_type="application/json", HTTP_ACCEPT_LANGUAGE=lang)


def persons(compound) -> int:
    with tenant_context(compound):
        return Person.objects.count()


def lookups(**filters: Any) -> list[IdentifierProbe]:
    return list(IdentifierProbe.objects.filter(**filters).order_by("id"))


def audit(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def form_errors(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


# --- "Already registered" ----------------------------------------------------------------------

# Move-out before move-in: a record that can never be saved, the review's cheap probe.
IMPOSSIBLE = {"move_in_date": "2024-05-01", "move_out_date": "2024-01-01", "phone": "12345"}


def person_form(number: str, **extra: str) -> dict[str, str]:
    return {"name": "试探", "id_type": "resident_id", "id_number": number, "residence_type": "permanent", **extra}


def test_page_answers_invalid_records_alike_for_registered_and_new_numbers(client, staff_a, compound_a, registered):
    client.force_login(staff_a)
    answers = [
        client.post(f"{BASE}/persons/new/", person_form(number, **IMPOSSIBLE), HTTP_ACCEPT_LANGUAGE="en")
        for number in (REGISTERED, UNREGISTERED)
    ]
    assert [a.status_code for a in answers] == [422, 422]
    assert form_errors(answers[0]) == form_errors(answers[1])
    assert "already registered" not in answers[0].content.decode()
    # The pages differ only in the number typed back into the form (and the CSRF token's mask).
    same = [
        re.sub(r'(csrfmiddlewaretoken" value|csrf-token" content)="[^"]+"', "", a.content.decode()).replace(n, "N")
        for a, n in zip(answers, (REGISTERED, UNREGISTERED), strict=True)
    ]
    assert same[0] == same[1]
    assert persons(compound_a) == 1 and lookups() == []


@pytest.mark.parametrize(
    ("invalid", "fields"),
    [(IMPOSSIBLE, {"phone"}), ({**IMPOSSIBLE, "phone": ""}, {"non_field_errors"})],
    ids=["bad-phone-and-dates", "dates"],
)
def test_api_answers_invalid_records_alike_for_registered_and_new_numbers(
    client, staff_a, compound_a, registered, invalid, fields
):
    client.force_login(staff_a)
    answers = [post_json(client, f"{API}/persons/", person_form(n, **invalid)) for n in (REGISTERED, UNREGISTERED)]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert set(answers[0].json()) == fields
    assert persons(compound_a) == 1 and lookups() == []


def test_page_already_registered_is_an_audited_lookup(client, staff_a, compound_a, registered):
    client.force_login(staff_a)
    response = client.post(f"{BASE}/persons/new/", person_form(REGISTERED), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 422
    assert form_errors(response) == {
        "id_number": ["A person with this ID number is already registered in this compound."]
    }
    # Written after the write's transaction rolled back: it survives the refusal.
    (lookup,) = lookups()
    assert (lookup.user, lookup.compound, lookup.kind, lookup.hit) == (staff_a, compound_a, "registered_id", True)
    (entry,) = audit(AuditAction.PROBE_IDENTIFIER)
    assert entry.detail == {"lookup": "registered_id", "q": REGISTERED, "found": True}
    assert (entry.object_type, entry.object_ids) == ("registry.person", [registered.pk])
    assert persons(compound_a) == 1

    created = client.post(f"{BASE}/persons/new/", person_form(UNREGISTERED))
    assert created.status_code == 302 and persons(compound_a) == 2
    assert len(lookups()) == 1  # registering a new person is no lookup


def test_api_already_registered_is_an_audited_lookup(client, staff_a, compound_a, registered):
    client.force_login(staff_a)
    response = post_json(client, f"{API}/persons/", person_form(REGISTERED.lower()))
    assert response.status_code == 400
    assert response.json() == {"id_number": [ALREADY]}
    assert [(p.kind, p.hit) for p in lookups(user=staff_a)] == [("registered_id", True)]
    assert len(audit(AuditAction.PROBE_IDENTIFIER)) == 1
    # Changing another person's number to the registered one is the same lookup.
    other = post_json(client, f"{API}/persons/", person_form(UNREGISTERED))
    assert other.status_code == 201
    moved = client.patch(
        f"{API}/persons/{other.json()['id']}/",
        json.dumps({"id_number": REGISTERED}),
        content_type="application/json",
    )
    assert moved.status_code == 400 and "id_number" in moved.json()
    assert len(audit(AuditAction.PROBE_IDENTIFIER)) == 2


def test_pii_view_users_are_told_without_a_lookup(client, officer, registered):
    client.force_login(officer)
    response = post_json(client, f"{API}/persons/", person_form(REGISTERED))
    assert response.status_code == 400 and "id_number" in response.json()
    assert lookups() == [] and audit(AuditAction.PROBE_IDENTIFIER) == []


@override_settings(IDENTIFIER_PROBE_LIMIT=2)
def test_registrations_count_against_the_search_limit(client, staff_a, compound_a, registered, clock):
    client.force_login(staff_a)
    assert client.get(f"{API}/persons/", {"q": "13900001111"}).status_code == 200  # a phone search: 1
    assert post_json(client, f"{API}/persons/", person_form(REGISTERED)).status_code == 400  # registered: 2
    with tenant_context(compound_a):
        also_registered = PersonFactory(id_number=make_id_number(birth=datetime.date(1966, 6, 6), seq=63)).id_number
    # Over the limit every registration is refused before the number is looked up, registered
    # or not: the refusal says nothing about the number. (The same registered number again is
    # no new lookup, and told again.)
    assert post_json(client, f"{API}/persons/", person_form(REGISTERED)).status_code == 400
    for number in (also_registered, UNREGISTERED):
        refused = post_json(client, f"{API}/persons/", person_form(number), lang="zh-hans")
        assert refused.status_code == 429
        assert "过多" in refused.json()["detail"] and refused["Retry-After"] == "600"
    page = client.post(f"{BASE}/persons/new/", person_form(UNREGISTERED), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 429 and "Too many lookups" in page.content.decode()
    assert persons(compound_a) == 2 and len(lookups()) == 2


def test_import_rows_matched_by_a_whole_id_number_are_lookups(staff_a, compound_a, registered, clock):
    from tests.registry.test_excel import person_row, workbook  # the import's own test helpers

    rows = [person_row(姓名="已登记", 证件号码=REGISTERED, 联系电话="15512346209")]
    with tenant_context(compound_a):
        result = import_workbook("persons", workbook("persons", rows), compound_a, acting_user=staff_a)
        assert result.unchanged == 1, result.errors
        assert [(p.kind, p.hit) for p in lookups(user=staff_a)] == [("registered_id", True)]
        with override_settings(IDENTIFIER_PROBE_LIMIT=1):
            new_row = person_row(姓名="新人", 证件号码=UNREGISTERED)
            again = import_workbook("persons", workbook("persons", [*rows, new_row]), compound_a, acting_user=staff_a)
        # The same number again is no new lookup; the new person is refused with the limit's
        # message, like any registration by this user until the window moves on.
        assert (again.unchanged, again.created) == (1, 0)
        assert [(e["row"], e["column"]) for e in again.errors] == [(3, "证件号码")]
        assert not Person.objects.filter(id_number=UNREGISTERED).exists()


# --- Whole phone and ID-number searches ----------------------------------------------------------


def test_masked_whole_phone_searches_are_audited_fragments_are_not_matched(client, staff_a, compound_a, registered):
    client.force_login(staff_a)
    names = lambda q: [r["name"] for r in client.get(f"{API}/persons/", {"q": q}).json()["results"]]  # noqa: E731
    assert names("15512346209") == ["已登记"]
    assert names("155****6209") == [] and names("1551234") == [] and names("6209") == []
    assert names("15512340000") == []
    assert [(p.kind, p.hit) for p in lookups()] == [("phone", True), ("phone", False)]
    hit, miss = audit(AuditAction.PROBE_IDENTIFIER)
    assert (hit.detail, hit.object_ids) == ({"lookup": "phone", "q": "15512346209", "found": True}, [registered.pk])
    assert (miss.detail, miss.object_ids) == ({"lookup": "phone", "q": "15512340000", "found": False}, [])
    # Names and address codes are no lookups.
    client.get(f"{API}/persons/", {"q": "已登记"})
    client.get(f"{BASE}/persons/", {"q": f"{compound_a.code}001"})
    assert len(lookups()) == 2


def test_house_and_organisation_phone_searches_are_lookups_too(client, staff_a):
    client.force_login(staff_a)
    client.get(f"{API}/houses/", {"q": "053188886666"})
    client.get(f"{BASE}/organisations/", {"q": "13987654321"})
    client.get(f"{API}/organisations/", {"q": "91350100M000100Y43"})  # a credit code: public, no lookup
    assert [p.kind for p in lookups()] == ["phone", "phone"]


@override_settings(IDENTIFIER_PROBE_LIMIT=3)
def test_whole_searches_are_rate_limited(client, staff_a, registered, clock):
    client.force_login(staff_a)
    for q in ("15512346209", REGISTERED, "15500000001"):
        assert client.get(f"{API}/persons/", {"q": q}).status_code == 200
    # The same search again (its next page, the live box then Enter) is not a new lookup.
    assert client.get(f"{API}/persons/", {"q": "15512346209", "page": 1}).status_code == 200
    refused = client.get(f"{API}/persons/", {"q": "15500000002"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 429 and "Too many lookups" in refused.json()["detail"]
    assert refused["Retry-After"] == "600"
    page = client.get(f"{BASE}/persons/", {"q": "15500000002"}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 429
    html = page.content.decode()
    assert 'data-testid="probe-refused"' in html and "已登记" not in html.split('data-testid="results"')[1]
    # The live search box (htmx) still shows why.
    live = client.get(f"{BASE}/persons/", {"q": "15500000002"}, HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and 'data-testid="probe-refused"' in live.content.decode()
    export = client.post(f"{BASE}/persons/export.xlsx", {"reason": "核查名单", "q": "15500000002"})
    assert export.status_code == 429 and 'data-testid="probe-refused"' in export.content.decode()
    # Other searches go on; after the window, whole ones too.
    assert client.get(f"{API}/persons/", {"q": "已登记"}).json()["count"] == 1
    clock.now += datetime.timedelta(minutes=10, seconds=1)
    assert client.get(f"{API}/persons/", {"q": "15500000002"}).status_code == 200


def test_misses_lock_the_feature_and_notify_the_compound(client, staff_a, compound_a, registered, clock, committing):
    client.force_login(staff_a)
    with committing() as delivered:
        for n in range(10):
            clock.now += datetime.timedelta(seconds=20)
            assert client.get(f"{API}/persons/", {"q": f"155{n:04d}6209"}).json()["count"] == 0
    lockout = ProbeLockout.objects.get(user=staff_a)
    assert lockout.misses == 10 and lockout.until == clock.now + datetime.timedelta(hours=1)
    (entry,) = audit(AuditAction.PROBE_LOCKOUT)
    assert (entry.user, entry.compound) == (staff_a, compound_a)
    notes = [(groups, p) for groups, p in delivered if p["type"] == LOCKOUT_EVENT]
    assert notes == [
        (
            [probe_group(compound_a)],
            {
                "type": LOCKOUT_EVENT,
                "compound": compound_a.code,
                "user_id": staff_a.pk,
                "username": "staff-a",
                "misses": 10,
                "until": lockout.until.isoformat(),
            },
        )
    ]
    # Locked: even the right number answers 429, in the user's language, on the API and pages.
    refused = client.get(f"{API}/persons/", {"q": "15512346209"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refused.status_code == 429 and "锁定" in refused.json()["detail"]
    assert int(refused["Retry-After"]) == 3600
    assert client.get(f"{BASE}/persons/", {"q": "15512346209"}).status_code == 429
    assert post_json(client, f"{API}/persons/", person_form(UNREGISTERED)).status_code == 429
    # The audit page shows the lockout to the city bureau.
    bureau = RoleFactory(user__username="shiju-o", role="city_bureau", area=compound_a.street.parent.parent).user
    client.force_login(bureau)
    html = client.get("/audit/", {"action": "probe_lockout"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "staff-a" in html and "Locked out of whole ID number and phone lookups" in html


def test_pii_view_users_search_without_limits(client, officer, registered, clock):
    client.force_login(officer)
    for n in range(25):
        assert client.get(f"{API}/persons/", {"q": f"155{n:04d}6209"}).status_code == 200
    assert client.get(f"{API}/persons/", {"q": "6209"}).json()["count"] == 1  # fragments, unmasked
    assert lookups() == [] and not ProbeLockout.objects.exists()


# --- 重点人员 is police information -------------------------------------------------------------


@pytest.fixture
def key_person(compound_a) -> Person:
    with tenant_context(compound_a):
        PersonFactory(name="普通居民", tags=["elderly_alone"])
        return PersonFactory(name="重点对象", tags=["key_person", "veteran"])


def test_property_staff_neither_see_nor_filter_by_the_key_person_tag(client, staff_a, key_person):
    client.force_login(staff_a)
    pages = [
        client.get(f"{BASE}/persons/", HTTP_ACCEPT_LANGUAGE="en"),
        client.get(f"{BASE}/persons/{key_person.pk}/", HTTP_ACCEPT_LANGUAGE="en"),
        client.get(f"{BASE}/persons/{key_person.pk}/edit/", HTTP_ACCEPT_LANGUAGE="en"),
        client.get(f"{BASE}/", HTTP_ACCEPT_LANGUAGE="en"),
    ]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert "key_person" not in html and "Key person" not in html
    assert "Veteran" in pages[0].content.decode()  # the other tags are shown

    # Filtering by it finds nobody, whoever is tagged (and is no error: the API's schema lists it).
    filtered = client.get(f"{BASE}/persons/", {"tag": "key_person"})
    assert filtered.status_code == 200
    assert "重点对象" not in filtered.content.decode().split('data-testid="results"')[1]
    assert client.get(f"{API}/persons/", {"tag": "key_person"}).json()["count"] == 0
    assert client.get(f"{API}/persons/", {"tag": "veteran"}).json()["count"] == 1

    body = client.get(f"{API}/persons/{key_person.pk}/").json()
    assert body["tags"] == ["veteran"]
    assert [r["tags"] for r in client.get(f"{API}/persons/").json()["results"]] == [["elderly_alone"], ["veteran"]]

    export = client.post(f"{BASE}/persons/export.xlsx", {"reason": "核查名单"})
    sheet = openpyxl.load_workbook(io.BytesIO(export.content)).active
    cells = [str(c.value) for row in sheet.iter_rows() for c in row if c.value]
    assert "退役军人" in cells and not any("重点人员" in c for c in cells)
    # Telling "no rows" from "key person" by the export's filter does not work either.
    assert client.post(f"{BASE}/persons/export.xlsx", {"reason": "核查名单", "tag": "key_person"}).status_code == 200
    assert AuditEntry.objects.filter(action=AuditAction.EXPORT).latest("id").object_ids == []


def test_saving_without_the_tag_keeps_it_and_setting_it_is_refused_alike(client, staff_a, compound_a, key_person):
    client.force_login(staff_a)
    with tenant_context(compound_a):
        plain = Person.objects.get(name="普通居民")
    # What the API showed, sent back: the tag it hid stays.
    for person in (key_person, plain):
        shown = client.get(f"{API}/persons/{person.pk}/").json()
        response = client.put(
            f"{API}/persons/{person.pk}/",
            json.dumps({**shown, "notes": "走访"}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
    with tenant_context(compound_a):
        assert Person.objects.get(pk=key_person.pk).tags == ["key_person", "veteran"]
    # Sending the tag is refused with the same answer for a key person and anyone else.
    answers = [
        client.patch(f"{API}/persons/{p.pk}/", json.dumps({"tags": ["key_person"]}), content_type="application/json")
        for p in (key_person, plain)
    ]
    assert [a.status_code for a in answers] == [400, 400] and answers[0].json() == answers[1].json()
    # The edit form never offers it, nor carries it in the page.
    form = client.get(f"{BASE}/persons/{key_person.pk}/edit/").content.decode()
    assert not re.search(r'value="key_person"', form)


def test_the_beat_officer_sees_and_filters_by_the_key_person_tag(client, officer, key_person):
    client.force_login(officer)
    assert client.get(f"{API}/persons/", {"tag": "key_person"}).json()["count"] == 1
    assert client.get(f"{API}/persons/{key_person.pk}/").json()["tags"] == ["key_person", "veteran"]
    html = client.get(f"{BASE}/persons/", {"tag": "key_person"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "重点对象" in html and "Key person" in html
    export = client.post(f"{BASE}/persons/export.xlsx", {"reason": "核查名单", "tag": "key_person"})
    sheet = openpyxl.load_workbook(io.BytesIO(export.content)).active
    assert any("重点人员" in str(c.value) for row in sheet.iter_rows() for c in row if c.value)
