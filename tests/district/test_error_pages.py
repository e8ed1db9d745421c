"""Error pages in the user's language and layout; JSON errors under the API (issue 8, part 6)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.utils import translation
from django.views import defaults

from district.models import Area, RoleAssignment


def _client(user, language: str) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.mark.parametrize(
    ("language", "heading", "absent"),
    [("zh-hans", "无权访问", "Access denied"), ("en", "Access denied", "无权访问")],
)
def test_the_403_page_is_localized_and_in_the_layout(staff_a, language, heading, absent) -> None:
    response = _client(staff_a, language).get("/roles/")
    assert response.status_code == 403
    body = response.content.decode()
    assert heading in body and absent not in body
    assert "403 Forbidden" not in body
    assert 'class="navbar' in body and "css/app.css" in body  # the base layout, styled
    assert 'data-testid="error-403"' in body


def test_the_404_page_is_localized(staff_a) -> None:
    zh = _client(staff_a, "zh-hans").get("/c/no-such-compound/persons/")
    en = _client(staff_a, "en").get("/c/no-such-compound/persons/")
    assert zh.status_code == en.status_code == 404
    assert "返回首页" in zh.content.decode()
    assert "Back to the home page" in en.content.decode()


def test_the_400_page_is_localized_and_styled(db) -> None:
    request = RequestFactory().get("/")
    with translation.override("zh-hans"):
        zh = defaults.bad_request(request, Exception("bad")).content.decode()
    with translation.override("en"):
        en = defaults.bad_request(request, Exception("bad")).content.decode()
    assert "请求有误" in zh and "Bad request" in en
    assert "css/app.css" in zh


def test_the_500_page_needs_no_database_and_is_localized(django_assert_num_queries) -> None:
    request = RequestFactory().get("/")
    with django_assert_num_queries(0):
        with translation.override("en"):
            en = defaults.server_error(request)
        with translation.override("zh-hans"):
            zh = defaults.server_error(request)
    assert en.status_code == zh.status_code == 500
    assert "Server error" in en.content.decode() and "服务器错误" in zh.content.decode()
    assert 'lang="en"' in en.content.decode()


def test_an_undeclared_page_answers_with_the_403_page(staff_a, settings) -> None:
    settings.ROOT_URLCONF = "tests.district.urls_undeclared"
    response = _client(staff_a, "en").get("/undeclared/function/")
    assert response.status_code == 403
    body = response.content.decode()
    assert 'data-testid="error-403"' in body and "no permission declaration" in body


def test_the_role_level_message_is_in_one_language(db) -> None:
    district = Area.objects.get(code="370102")
    assignment = RoleAssignment(role="street_office", area=district)
    with translation.override("zh-hans"), pytest.raises(ValidationError) as zh:
        assignment.clean()
    with translation.override("en"), pytest.raises(ValidationError) as en:
        assignment.clean()
    assert "街道级" in zh.value.messages[0] and "street" not in zh.value.messages[0]
    assert en.value.messages[0].endswith("Street.")


@pytest.mark.parametrize("debug", [False, True])
def test_the_out_of_scope_compound_under_the_api_is_json(staff_a, compound_b, settings, debug) -> None:
    settings.DEBUG = debug
    client = _client(staff_a, "en")
    out_of_scope = client.get(f"/c/{compound_b.code}/api/registry/persons/")
    missing = client.get("/c/no-such-compound/api/registry/persons/")
    for response in (out_of_scope, missing):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
    assert out_of_scope.json() == missing.json()  # missing and out of scope answer alike
    page = client.get(f"/c/{compound_b.code}/persons/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
