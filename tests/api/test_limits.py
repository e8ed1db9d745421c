"""Input that used to end in a 500 or be stored unbounded answers 400, in the user's language (issue #7)."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import tenant_context

from registry.models import House, Person
from tests.factories import PersonFactory, make_id_number

PERSONS = "/c/370102001001/api/registry/persons/"


@pytest.fixture
def api(client, superuser, compound_a):
    client.force_login(superuser)
    return client


def get(client, url, lang="zh-hans", **query):
    return client.get(url, query, HTTP_ACCEPT_LANGUAGE=lang)


def send(client, method, url, body, lang="zh-hans"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.generic(method, url, data, content_type="application/json", HTTP_ACCEPT_LANGUAGE=lang)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"limit": "999999999999999999999"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "99999999999999999999"}, "offset"),
    ],
)
def test_a_page_out_of_range_is_refused(api, query, name):
    response = get(api, PERSONS, **query)
    assert response.status_code == 400
    assert list(response.json()) == [name]


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "请输入 1 到 1000 之间的整数"), ("en", "from 1 to 1000")])
def test_the_page_limit_message_is_in_the_users_language(api, lang, expected):
    response = get(api, "/api/areas/", lang, limit="999999999999999999999")
    assert response.status_code == 400
    assert expected in response.json()["limit"][0]


def test_a_page_within_range_is_served(api, in_a):
    PersonFactory.create_batch(3)
    body = get(api, PERSONS, limit="2", offset="1").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "小于或等于"), ("en", "less than or equal to")])
def test_an_audit_record_id_beyond_bigint_is_refused(api, lang, expected):
    response = get(api, "/api/audit/", lang, record="99999999999999999999")
    assert response.status_code == 400
    assert expected in response.json()["record"][0]


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "嵌套超过 32 层"), ("en", "nested deeper than 32 levels")])
def test_a_deeply_nested_body_is_refused(api, compound_a, lang, expected):
    body = "[" * 5000 + "]" * 5000
    response = send(api, "POST", PERSONS, body, lang)
    assert response.status_code == 400
    assert expected in response.json()["detail"]
    # Within the parser's recursion but deeper than any record: refused alike.
    nested: object = "x"
    for _ in range(33):
        nested = [nested]
    assert send(api, "POST", PERSONS, {"name": nested}).status_code == 400
    with tenant_context(compound_a):
        assert not Person.objects.exists()


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "请求体超过 1 MB"), ("en", "larger than 1 MB")])
def test_a_body_over_one_megabyte_is_refused(api, lang, expected):
    body = {"name": "李娜", "id_number": make_id_number(seq=5), "notes": "备" * 400_000}  # 1.2 MB of UTF-8
    response = send(api, "POST", PERSONS, body, lang)
    assert response.status_code == 400
    assert expected in response.json()["detail"]


@pytest.mark.parametrize(("lang", "expected"), [("zh-hans", "2000"), ("en", "no more than 2000 characters")])
def test_notes_are_bounded(api, compound_a, lang, expected):
    body = {"name": "李娜", "id_number": make_id_number(seq=6), "notes": "x" * 2001}
    refused = send(api, "POST", PERSONS, body, lang)
    assert refused.status_code == 400
    assert expected in refused.json()["notes"][0]
    assert send(api, "POST", PERSONS, {**body, "notes": "x" * 2000}).status_code == 201


def test_notes_are_bounded_for_every_writer(in_a):
    """The model's validator holds for full_clean (forms, the Excel import), not only for the API."""
    from django.core.exceptions import ValidationError

    from tests.factories import AddressPathFactory

    house = House(address=AddressPathFactory("1", "1", "1", "101"), notes="x" * 2001)
    with pytest.raises(ValidationError) as refused:
        house.full_clean()
    assert "notes" in refused.value.message_dict


def test_text_fields_take_only_text(api):
    response = send(api, "POST", "/c/370102001001/api/registry/organisations/", {"name": 0}, "en")
    assert response.status_code == 400
    assert response.json()["name"] == ["Not a valid string."]


@pytest.mark.parametrize("path", ["/api/audit/0.5/", "/api/nothing-here/", "/c/370102001001/api/registry/persons/x.y/"])
def test_an_api_url_that_matches_no_route_answers_json(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "未找到。"}


def test_a_compound_out_of_scope_answers_json_404(client, staff_a):
    client.force_login(staff_a)
    response = client.get("/c/370102002001/api/registry/persons/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_a_page_that_matches_no_route_is_still_a_page(api):
    response = api.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "param"),
    [("/api/compounds/", "search"), (PERSONS, "q"), (PERSONS, "search"), ("/api/audit/", "user")],
)
def test_a_nul_in_a_search_is_refused(api, path, param):
    """PostgreSQL cannot compare text with NUL in it: refused before the query (the schema says so too)."""
    assert get(api, path, **{param: "a\x00b"}).status_code == 400
