"""The registry's filtersets, shared by the list pages, the API and the export."""

from __future__ import annotations

import pytest

from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

PAGE = "/c/370102001001/persons/"
API = "/c/370102001001/api/registry/persons/"


@pytest.fixture
def tagged(in_a):
    PersonFactory(name="独居老人甲", tags=["elderly_alone"])
    PersonFactory(name="普通居民乙")


def test_page_and_api_filter_alike(client, staff_a, tagged):
    client.force_login(staff_a)
    page = client.get(PAGE, {"tag": "elderly_alone"}).content.decode()
    assert "独居老人甲" in page and "普通居民乙" not in page
    names = [row["name"] for row in client.get(API, {"tag": "elderly_alone"}).json()["results"]]
    assert names == ["独居老人甲"]


@pytest.mark.parametrize("params", [{"tag": "no-such-tag"}, {"q": "王" * 101}])
def test_bad_filters_are_refused_not_ignored(client, staff_a, tagged, params):
    """A filter that cannot be read must never widen the list to every row."""
    client.force_login(staff_a)
    page = client.get(PAGE, params, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="filter-errors"' in html and "独居老人甲" not in html and "普通居民乙" not in html
    response = client.get(API, params, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert set(response.json()) == set(params)
