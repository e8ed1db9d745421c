"""Registry API: validation with messages in the user's language, search, key-person rule, docs."""

import pytest
from django_tenants.utils import tenant_context

from registry.models import Person
from tests.factories import PersonFactory, RoleFactory, make_id_number, make_uscc

PERSONS = "/c/370102001001/api/registry/persons/"


@pytest.fixture
def api(client, superuser, compound_a):
    client.force_login(superuser)
    return client


def post(client, url, data, lang="zh-hans"):
    return client.post(url, data, content_type="application/json", HTTP_ACCEPT_LANGUAGE=lang)


def test_create_person_derives_birth_date_and_sex(api, compound_a):
    response = post(api, PERSONS, {"name": "李娜", "id_number": "11010519491231002x", "phone": "13800138000"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id_number"] == "11010519491231002X"
    assert body["birth_date"] == "1949-12-31"
    assert body["sex"] == "F"
    with tenant_context(compound_a):
        assert Person.objects.get(pk=body["id"]).name == "李娜"


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "校验"), ("en", "check digit")])
def test_bad_id_number_is_refused_in_the_users_language(api, compound_a, lang, expected):
    response = post(api, PERSONS, {"name": "李娜", "id_number": "110105194912310021"}, lang)
    assert response.status_code == 400
    assert expected in response.json()["id_number"][0]
    with tenant_context(compound_a):
        assert not Person.objects.exists()


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "信用代码"), ("en", "credit code")])
def test_bad_uscc_is_refused(api, lang, expected):
    response = post(
        api, "/c/370102001001/api/registry/organisations/", {"name": "超市", "uscc": "91350100M000100Y44"}, lang
    )
    assert response.status_code == 400
    assert expected in response.json()["uscc"][0]


def test_good_uscc_is_accepted(api):
    response = post(api, "/c/370102001001/api/registry/organisations/", {"name": "超市", "uscc": make_uscc(3)})
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "车牌"), ("en", "plate")])
def test_bad_plate_is_refused(api, lang, expected):
    response = post(api, "/c/370102001001/api/registry/vehicles/", {"plate": "鲁I12345"}, lang)
    assert response.status_code == 400
    assert expected in response.json()["plate"][0]


def test_plate_is_normalised_and_kind_derived(api):
    response = post(api, "/c/370102001001/api/registry/vehicles/", {"plate": "鲁ａd12345"})
    assert response.status_code == 201, response.content
    assert response.json()["plate"] == "鲁AD12345"
    assert response.json()["plate_kind"] == "new_energy"


def test_duplicate_id_number_is_refused(api):
    number = make_id_number(seq=40)
    assert post(api, PERSONS, {"name": "甲", "id_number": number}).status_code == 201
    again = post(api, PERSONS, {"name": "乙", "id_number": number.lower()})
    assert again.status_code == 400


def test_search_by_name_id_phone_and_tag(api, in_a):
    PersonFactory(name="王建国", phone="13911112222", tags=["elderly_alone"])
    number = PersonFactory(name="赵小红", phone="13733334444").id_number
    names = lambda **q: [p["name"] for p in api.get(PERSONS, q).json()["results"]]  # noqa: E731
    assert names(q="建国") == ["王建国"]
    assert names(q="13733334444") == ["赵小红"]
    assert names(tag="elderly_alone") == ["王建国"]
    assert names(q=number) == ["赵小红"]


def test_key_person_tag_needs_a_police_role(client, compound_a):
    staff = RoleFactory(user__username="wuye-a", role="property_staff", compound=compound_a).user
    officer = RoleFactory(user__username="minjing-a", role="beat_officer", compound=compound_a).user
    data = {"name": "重点", "id_number": make_id_number(seq=77), "tags": ["key_person"]}
    client.force_login(staff)
    refused = post(client, PERSONS, data, "en")
    assert refused.status_code == 400
    assert "police" in refused.json()["tags"][0]
    client.force_login(officer)
    assert post(client, PERSONS, data).status_code == 201


def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/c/{compound}/api/registry/persons/" in paths
    assert "/api/compounds/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_public_compound_api_is_scoped(client, admin_a, compound_a, compound_b):
    client.force_login(admin_a)
    codes = [c["code"] for c in client.get("/api/compounds/").json()["results"]]
    assert codes == [compound_a.code]
