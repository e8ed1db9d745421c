"""Compound routing under /c/<code>/: scope decides, and out-of-scope answers like missing (404)."""

import pytest
from django_tenants.utils import tenant_context

from tests.factories import PersonFactory


@pytest.fixture
def people(compound_a, compound_b):
    with tenant_context(compound_a):
        a = PersonFactory(name="甲小区居民")
    with tenant_context(compound_b):
        b = PersonFactory(name="乙小区居民")
    return a, b


def test_street_admin_opens_own_compound_only(client, admin_a, people):
    client.force_login(admin_a)
    page = client.get("/c/370102001001/persons/")
    assert page.status_code == 200
    assert "甲小区居民" in page.content.decode()
    other = client.get("/c/370102002001/persons/")
    assert other.status_code == 404
    assert "乙小区居民" not in other.content.decode()


def test_out_of_scope_and_missing_compounds_look_the_same(client, staff_a, people):
    client.force_login(staff_a)
    forbidden = client.get("/c/370102002001/")
    missing = client.get("/c/999999999999/")
    assert forbidden.status_code == missing.status_code == 404


def test_anonymous_is_sent_to_login(client, people):
    page = client.get("/c/370102001001/persons/")
    assert page.status_code == 302
    assert page["Location"].startswith("/login/")


def test_anonymous_api_gets_403_json(client, people):
    response = client.get("/c/370102001001/api/registry/persons/")
    assert response.status_code == 403
    assert response.json()["detail"]


def test_same_id_in_two_compounds_answers_each_compound_own_row(client, superuser, people):
    a, b = people
    client.force_login(superuser)
    got_a = client.get(f"/c/370102001001/api/registry/persons/{a.pk}/").json()
    assert got_a["name"] == "甲小区居民"
    got_b = client.get(f"/c/370102002001/api/registry/persons/{b.pk}/").json()
    assert got_b["name"] == "乙小区居民"
    listed_b = client.get("/c/370102002001/api/registry/persons/").json()
    assert [p["name"] for p in listed_b["results"]] == ["乙小区居民"]


def test_api_of_out_of_scope_compound_is_404_without_data(client, admin_a, people):
    client.force_login(admin_a)
    response = client.get("/c/370102002001/api/registry/persons/")
    assert response.status_code == 404
    assert "乙小区居民" not in response.content.decode()


def test_compounds_page_lists_compounds_of_the_users_street(client, admin_a, compound_a, compound_b):
    client.force_login(admin_a)
    html = client.get("/compounds/").content.decode()
    assert compound_a.name in html
    assert compound_b.name not in html


def test_schema_is_public_again_after_a_compound_request(client, admin_a, people):
    from django.db import connection

    client.force_login(admin_a)
    client.get("/c/370102001001/persons/")
    assert connection.schema_name == "public"
