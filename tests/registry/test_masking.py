"""PII masking (issue #3): pages, API and Excel export are masked without ``pii.view``, and
every unmasked view, search by a full ID number and export is written to the audit log."""

from __future__ import annotations

import datetime
import io
import re

import openpyxl
import pytest
from django_tenants.utils import tenant_context

from district.models import CHANGE_ACTIONS, Area, AuditAction, AuditEntry
from registry.masking import (
    full_id_number,
    is_masked_copy,
    mask_birth_date,
    mask_id_number,
    mask_phone,
)
from registry.models import House, Organisation, Person
from tests.factories import (
    AddressPathFactory,
    HouseFactory,
    OrganisationFactory,
    PersonFactory,
    RoleFactory,
    make_id_number,
    make_uscc,
)

BASE = "/c/370102001001"
API = f"{BASE}/api/registry"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Birth dates no factory uses, so these numbers never collide with PersonFactory's.
PERSON_ID = make_id_number(birth=datetime.date(1975, 3, 8), seq=1)
OWNER_ID = make_id_number(birth=datetime.date(1968, 11, 2), seq=2, male=False)


@pytest.fixture
def officer(compound_a):
    """社区民警 of compound A: holds pii.view there."""
    return RoleFactory(user__username="minjing-a", role="beat_officer", compound=compound_a).user


@pytest.fixture
def bureau(db):
    """市局 of 济南市: pii.view everywhere in the city, but no registry.change."""
    return RoleFactory(user__username="shiju", role="city_bureau", area=Area.objects.get(code="370100")).user


@pytest.fixture
def person(compound_a) -> Person:
    with tenant_context(compound_a):
        return PersonFactory(name="孙悟空", id_number=PERSON_ID, phone="13512345678")


@pytest.fixture
def house(compound_a) -> House:
    with tenant_context(compound_a):
        return HouseFactory(
            address=AddressPathFactory("6", "1", "1", "101"),
            owner_name="牛魔王",
            owner_id_number=OWNER_ID,
            owner_phone="053188886666",
        )


@pytest.fixture
def organisation(compound_a) -> Organisation:
    with tenant_context(compound_a):
        return OrganisationFactory(name="花果山超市", uscc=make_uscc(seq=503), contact_phone="13987654321")


def rows(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def input_value(html: str, name: str) -> str:
    """The ``value`` of the input named ``name`` in a rendered form."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, name
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


# --- The masking rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("37010219800517123X", "3701**********123X"),  # resident ID card
        ("370102800517123", "3701*******7123"),  # old 15-digit card
        ("E12345678", "E1*****78"),  # passport: 4 + 4 would show 8 of 9 characters
        ("H1234567801", "H1*******01"),  # HK/Macao permit
        ("12345678", "1******8"),  # Taiwan permit
        ("", ""),
        (None, ""),
    ],
)
def test_identity_documents_are_masked_by_length(value, masked):
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("053188886666", "0531****6666"),  # 4-digit area code, 8-digit local number
        ("05318888666", "0531****666"),  # 7-digit local number: still 4 digits hidden
        ("01062345678", "010****5678"),  # Beijing's 3-digit area code
        ("02188886666", "021****6666"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_phones_keep_only_harmless_ends(value, masked):
    assert mask_phone(value) == masked


def test_birth_date_keeps_only_the_year_and_helpers():
    assert mask_birth_date(datetime.date(1980, 5, 17)) == "1980-**-**"
    assert mask_birth_date("1980-05-17") == "1980-**-**"
    assert mask_birth_date(None) == ""
    number = make_id_number(seq=9)
    assert full_id_number(number.lower()) == number
    assert full_id_number(number[:-1]) is None and full_id_number("孙悟空") is None and full_id_number("") is None
    assert is_masked_copy("id", mask_id_number(number), number)
    assert is_masked_copy("phone", " 138****5678 ", "13812345678")
    assert not is_masked_copy("id", number, number)
    assert not is_masked_copy("phone", "", "13812345678")


# --- Pages --------------------------------------------------------------------------------------


def test_pages_are_masked_without_pii_view_and_write_no_view_audit(client, staff_a, person, house, organisation):
    client.force_login(staff_a)
    listing = client.get(f"{BASE}/persons/").content.decode()
    detail = client.get(f"{BASE}/persons/{person.pk}/").content.decode()
    for html in (listing, detail):
        assert person.id_number not in html and "13512345678" not in html
        assert mask_id_number(person.id_number) in html and "135****5678" in html
    # The birth date is digits 7–14 of the ID number: only its year is shown.
    assert "1975-03-08" not in detail and "1975-**-**" in detail
    htmx = client.get(f"{BASE}/persons/", {"q": "孙"}, HTTP_HX_REQUEST="true").content.decode()
    assert person.id_number not in htmx and mask_id_number(person.id_number) in htmx

    for page in (f"{BASE}/houses/", f"{BASE}/houses/{house.pk}/"):
        html = client.get(page).content.decode()
        assert "053188886666" not in html and "0531****6666" in html
    house_detail = client.get(f"{BASE}/houses/{house.pk}/").content.decode()
    assert house.owner_id_number not in house_detail and mask_id_number(house.owner_id_number) in house_detail

    for page in (f"{BASE}/organisations/", f"{BASE}/organisations/{organisation.pk}/"):
        html = client.get(page).content.decode()
        assert "13987654321" not in html and "139****4321" in html
        assert organisation.uscc in html  # a company's credit code is public

    assert rows(AuditAction.VIEW_PII) == []


def test_pages_are_unmasked_with_pii_view_and_audited(client, officer, compound_a, person, house):
    client.force_login(officer)
    listing = client.get(f"{BASE}/persons/").content.decode()
    assert person.id_number in listing and "13512345678" in listing
    detail = client.get(f"{BASE}/persons/{person.pk}/").content.decode()
    assert person.id_number in detail and "1975-03-08" in detail
    house_detail = client.get(f"{BASE}/houses/{house.pk}/").content.decode()
    assert house.owner_id_number in house_detail and "053188886666" in house_detail

    on_list, on_detail, on_house = rows(AuditAction.VIEW_PII)
    assert (on_list.user, on_list.username, on_list.compound) == (officer, "minjing-a", compound_a)
    assert (on_list.object_type, on_list.object_ids) == ("registry.person", [person.pk])
    assert (on_detail.object_type, on_detail.object_ids) == ("registry.person", [person.pk])
    assert (on_house.object_type, on_house.object_ids) == ("registry.house", [house.pk])
    assert on_list.ip == "127.0.0.1"


def test_list_audit_names_exactly_the_records_on_the_page(client, officer, compound_a):
    with tenant_context(compound_a):
        people = [PersonFactory() for _ in range(27)]
        first_page = [p.pk for p in Person.objects.all()[:25]]  # the list's order (by address, pinyin)
    client.force_login(officer)
    client.get(f"{BASE}/persons/")
    client.get(f"{BASE}/persons/", {"page": 2})
    first, second = rows(AuditAction.VIEW_PII)
    assert first.object_ids == first_page
    assert sorted(first.object_ids + second.object_ids) == sorted(p.pk for p in people)
    # Lists without personal identifiers are not audited, nor is an empty page.
    client.get(f"{BASE}/vehicles/")
    client.get(f"{BASE}/persons/", {"q": "没有这个人"})
    assert len(rows(AuditAction.VIEW_PII)) == 2


def test_city_bureau_sees_unmasked(client, bureau, person):
    client.force_login(bureau)
    assert person.id_number in client.get(f"{BASE}/persons/{person.pk}/").content.decode()
    assert [r.user for r in rows(AuditAction.VIEW_PII)] == [bureau]


def test_search_by_a_full_id_number_is_audited_for_everyone(client, staff_a, officer, compound_a, person):
    client.force_login(staff_a)
    html = client.get(f"{BASE}/persons/", {"q": person.id_number.lower()}).content.decode()
    # The search box echoes what the user typed; the results stay masked.
    results = html.split('data-testid="results"')[1].split("</table>")[0]
    assert "孙悟空" in results and person.id_number not in results
    (search,) = rows(AuditAction.SEARCH_ID_NUMBER)
    assert (search.user, search.compound, search.detail) == (staff_a, compound_a, {"q": person.id_number})
    assert (search.object_type, search.object_ids) == ("registry.person", [person.pk])
    assert rows(AuditAction.VIEW_PII) == []  # the page itself was masked

    # A fragment is an ordinary search; a number found nowhere is still recorded.
    client.get(f"{BASE}/persons/", {"q": person.id_number[-6:]})
    assert len(rows(AuditAction.SEARCH_ID_NUMBER)) == 1
    client.force_login(officer)
    stranger = make_id_number(seq=999)
    client.get(f"{BASE}/persons/", {"q": stranger})
    assert rows(AuditAction.SEARCH_ID_NUMBER)[-1].object_ids == []
    assert rows(AuditAction.SEARCH_ID_NUMBER)[-1].detail == {"q": stranger}


# --- API ----------------------------------------------------------------------------------------


def test_api_is_masked_without_pii_view(client, staff_a, person, house, organisation):
    client.force_login(staff_a)
    (listed,) = client.get(f"{API}/persons/").json()["results"]
    one = client.get(f"{API}/persons/{person.pk}/").json()
    for body in (listed, one):
        assert body["id_number"] == mask_id_number(person.id_number)
        assert body["phone"] == "135****5678"
        assert body["birth_date"] == "1975-**-**"
    (h,) = client.get(f"{API}/houses/").json()["results"]
    assert (h["owner_id_number"], h["owner_phone"]) == (mask_id_number(house.owner_id_number), "0531****6666")
    o = client.get(f"{API}/organisations/{organisation.pk}/").json()
    assert (o["contact_phone"], o["uscc"]) == ("139****4321", organisation.uscc)
    assert rows(AuditAction.VIEW_PII) == []


def test_api_is_unmasked_with_pii_view_and_audited(client, officer, compound_a, person, house):
    client.force_login(officer)
    (listed,) = client.get(f"{API}/persons/").json()["results"]
    assert (listed["id_number"], listed["phone"]) == (person.id_number, "13512345678")
    one = client.get(f"{API}/houses/{house.pk}/").json()
    assert (one["owner_id_number"], one["owner_phone"]) == (house.owner_id_number, "053188886666")
    client.get(f"{API}/vehicles/")  # no personal identifiers: not audited
    on_list, on_retrieve = rows(AuditAction.VIEW_PII)
    assert (on_list.user, on_list.compound, on_list.object_type, on_list.object_ids) == (
        officer,
        compound_a,
        "registry.person",
        [person.pk],
    )
    assert (on_retrieve.object_type, on_retrieve.object_ids) == ("registry.house", [house.pk])


def test_api_search_by_a_full_id_number_is_audited(client, staff_a, compound_a, person):
    client.force_login(staff_a)
    (found,) = client.get(f"{API}/persons/", {"q": person.id_number}).json()["results"]
    assert found["id"] == person.pk
    (search,) = rows(AuditAction.SEARCH_ID_NUMBER)
    assert (search.user, search.compound, search.detail, search.object_ids) == (
        staff_a,
        compound_a,
        {"q": person.id_number},
        [person.pk],
    )


def test_api_put_of_the_masked_values_keeps_the_real_ones(client, staff_a, compound_a, person):
    client.force_login(staff_a)
    body = client.get(f"{API}/persons/{person.pk}/").json()
    body["name"] = "孙行者"
    response = client.put(f"{API}/persons/{person.pk}/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["id_number"] == mask_id_number(person.id_number)
    with tenant_context(compound_a):
        person.refresh_from_db()
    assert (person.name, person.id_number, person.phone) == ("孙行者", PERSON_ID, "13512345678")

    changed = client.patch(f"{API}/persons/{person.pk}/", {"phone": "13600001111"}, content_type="application/json")
    assert changed.status_code == 200, changed.content
    with tenant_context(compound_a):
        person.refresh_from_db()
    assert person.phone == "13600001111"


# --- Excel export -------------------------------------------------------------------------------


def export(client, kind="persons", method="post", **data):
    call = client.post if method == "post" else client.get
    return call(f"{BASE}/{kind}/export.xlsx", data, HTTP_ACCEPT_LANGUAGE="en")


def first_row(response, sheet="实有人口") -> list:
    assert response["Content-Type"] == XLSX
    return [c.value for c in openpyxl.load_workbook(io.BytesIO(response.content))[sheet][2]]


@pytest.mark.parametrize(("method", "data"), [("post", {}), ("post", {"reason": " ab "})])
def test_export_without_a_reason_is_refused_and_records_nothing(client, staff_a, person, method, data):
    client.force_login(staff_a)
    response = export(client, method=method, **data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Please give the reason for this export" in html and 'name="reason"' in html
    assert " style=" not in html  # the content security policy refuses inline styles
    assert not AuditEntry.objects.exclude(action__in=CHANGE_ACTIONS).exists()


def test_export_is_masked_without_pii_view_and_audited_with_its_reason(client, staff_a, compound_a, person, house):
    client.force_login(staff_a)
    response = export(client, reason="季度人口核查")
    assert response.status_code == 200
    row = first_row(response)
    assert person.id_number not in row and "13512345678" not in row
    assert mask_id_number(person.id_number) in row and "135****5678" in row
    house_row = first_row(export(client, "houses", reason="房屋核查"), "实有房屋")
    assert house.owner_id_number not in house_row and "0531****6666" in house_row

    people, houses = rows(AuditAction.EXPORT)
    assert (people.user, people.compound, people.reason) == (staff_a, compound_a, "季度人口核查")
    assert (people.object_type, people.object_ids) == ("registry.person", [person.pk])
    assert people.detail["masked"] is True
    assert (houses.object_type, houses.object_ids, houses.reason) == ("registry.house", [house.pk], "房屋核查")


def test_export_needs_a_post(client, officer, compound_a, person):
    client.force_login(officer)
    shown = export(client, method="get", reason="案件协查")
    assert shown.status_code == 200
    assert shown["Content-Type"].startswith("text/html")
    assert not AuditEntry.objects.filter(action=AuditAction.EXPORT).exists()


def test_export_is_unmasked_with_pii_view(client, officer, compound_a, person):
    client.force_login(officer)
    row = first_row(export(client, reason="案件协查"))
    assert person.id_number in row and "13512345678" in row
    (entry,) = rows(AuditAction.EXPORT)
    assert (entry.user, entry.reason, entry.object_ids, entry.detail["masked"]) == (
        officer,
        "案件协查",
        [person.pk],
        False,
    )


def test_filtered_export_records_only_what_it_holds(client, bureau, compound_a, person):
    with tenant_context(compound_a):
        other = PersonFactory(name="猪八戒")
    client.force_login(bureau)  # the city bureau may export without registry.change
    response = export(client, reason="协查通报", q=person.id_number)
    assert response.status_code == 200
    (entry,) = rows(AuditAction.EXPORT)
    assert entry.object_ids == [person.pk] and other.pk not in entry.object_ids
    assert entry.detail["q"] == person.id_number
    (search,) = rows(AuditAction.SEARCH_ID_NUMBER)
    assert search.object_ids == [person.pk]


def test_list_page_offers_the_export_form_with_a_reason(client, staff_a, person):
    client.force_login(staff_a)
    html = client.get(f"{BASE}/persons/", {"q": "孙"}).content.decode()
    assert 'data-testid="export-form"' in html and 'name="reason"' in html
    assert 'form="export-form" name="q" value="孙"' in html
    assert 'name="reason"' in client.get(f"{BASE}/import/").content.decode()


# --- Edit forms ---------------------------------------------------------------------------------


def test_edit_form_without_pii_view_never_shows_and_never_overwrites_the_real_values(
    client, staff_a, compound_a, person
):
    client.force_login(staff_a)
    html = client.get(f"{BASE}/persons/{person.pk}/edit/").content.decode()
    assert person.id_number not in html and "13512345678" not in html
    shown_id, shown_phone = input_value(html, "id_number"), input_value(html, "phone")
    assert (shown_id, shown_phone) == (mask_id_number(person.id_number), "135****5678")

    form = {
        "name": "孙行者",
        "id_type": "resident_id",
        "id_number": shown_id,
        "phone": shown_phone,
        "residence_type": "permanent",
    }
    response = client.post(f"{BASE}/persons/{person.pk}/edit/", form)
    assert response.status_code == 302, response.content.decode()
    with tenant_context(compound_a):
        person.refresh_from_db()
    assert (person.name, person.id_number, person.phone) == ("孙行者", PERSON_ID, "13512345678")

    # Typing a new value replaces the recorded one.
    assert client.post(f"{BASE}/persons/{person.pk}/edit/", {**form, "phone": "13600001111"}).status_code == 302
    with tenant_context(compound_a):
        person.refresh_from_db()
    assert (person.id_number, person.phone) == (PERSON_ID, "13600001111")

    # A failed save shows the mask again, not the real number.
    failed = client.post(f"{BASE}/persons/{person.pk}/edit/", {**form, "name": ""}).content.decode()
    assert person.id_number not in failed and input_value(failed, "id_number") == shown_id
    assert rows(AuditAction.VIEW_PII) == []


def test_house_owner_fields_round_trip_masked(client, staff_a, compound_a, house):
    client.force_login(staff_a)
    html = client.get(f"{BASE}/houses/{house.pk}/edit/").content.decode()
    assert house.owner_id_number not in html
    form = {
        "address": house.address_id,
        "use": house.use,
        "owner_name": "牛魔王",
        "owner_id_number": input_value(html, "owner_id_number"),
        "owner_phone": input_value(html, "owner_phone"),
        "notes": "芭蕉洞",
    }
    assert client.post(f"{BASE}/houses/{house.pk}/edit/", form).status_code == 302
    with tenant_context(compound_a):
        saved = House.objects.get(pk=house.pk)
    assert (saved.owner_id_number, saved.owner_phone, saved.notes) == (
        OWNER_ID,
        "053188886666",
        "芭蕉洞",
    )


def test_edit_form_with_pii_view_shows_the_real_values_and_is_audited(client, officer, person):
    client.force_login(officer)
    html = client.get(f"{BASE}/persons/{person.pk}/edit/").content.decode()
    assert input_value(html, "id_number") == person.id_number
    (entry,) = rows(AuditAction.VIEW_PII)
    assert (entry.user, entry.object_ids) == (officer, [person.pk])
