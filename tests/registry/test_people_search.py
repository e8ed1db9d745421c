"""Search as people search (issue #8, part 2).

Names by pinyin (``zhangwei``) and initials (``zw``); phones by their last 4 or first 7 digits
for users who see them unmasked; rooms by the shorthand ``3-2-501``; persons listed by address,
then by name in pinyin. Users who see identifiers masked still match phones only whole: the
new searches find nothing for them that a name or an address search would not.
"""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from district.models import IdentifierProbe
from registry.models import Person
from registry.models.persons import name_search_keys
from tests.factories import HouseFactory, PersonFactory, RoleFactory
from tests.factories.registry import AddressPathFactory

pytestmark = pytest.mark.django_db

BASE = "/c/370102001001"
PAGE = f"{BASE}/persons/"
API = f"{BASE}/api/registry/persons/"
PHONE = "15512346209"


@pytest.fixture
def officer(compound_a):
    """社区民警 of compound A: pii.view there."""
    return RoleFactory(user__username="minjing-s", role="beat_officer", compound=compound_a).user


@pytest.fixture
def people(compound_a):
    with tenant_context(compound_a):
        one = HouseFactory(address=AddressPathFactory("1", "1", "1", "101"))
        three_one = HouseFactory(address=AddressPathFactory("3", "1", "5", "501"))
        three_two = HouseFactory(address=AddressPathFactory("3", "2", "5", "501"))
        PersonFactory(name="张伟", phone=PHONE, house=three_two)
        PersonFactory(name="阿强", phone="13700000001", house=three_two)
        PersonFactory(name="李娜", phone="13700000002", house=three_one)
        PersonFactory(name="王芳", phone="13700000003", house=one)
        PersonFactory(name="赵敏", phone="13700000004")


def names(client, q: str) -> list[str]:
    response = client.get(API, {"q": q})
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_search_keys_are_derived_from_the_name():
    assert name_search_keys("张伟") == ("zhangwei", "zw")
    assert name_search_keys(" 欧阳 娜娜 ") == ("ouyangnana", "oynn")
    assert name_search_keys("John 李") == ("johnli", "jl")


def test_keys_follow_a_renamed_person(compound_a, people):
    from registry.actions import do_save_person

    with tenant_context(compound_a):
        person = Person.objects.get(name="赵敏")
        assert (person.name_pinyin, person.name_initials) == ("zhaomin", "zm")
        person.name = "钱多多"
        do_save_person(person)
        person.refresh_from_db()
        assert (person.name_pinyin, person.name_initials) == ("qianduoduo", "qdd")


@pytest.mark.parametrize("user", ["officer", "staff_a"])
@pytest.mark.parametrize(
    ("q", "found"), [("zhangwei", ["张伟"]), ("ZhangW", ["张伟"]), ("zw", ["张伟"]), ("zh", ["张伟", "赵敏"])]
)
def test_pinyin_and_initials(client, people, request, user, q, found):
    client.force_login(request.getfixturevalue(user))
    assert sorted(names(client, q)) == sorted(found)


def test_pinyin_on_the_page(client, staff_a, people):
    client.force_login(staff_a)
    html = client.get(PAGE, {"q": "zw"}).content.decode()
    assert "张伟" in html and "王芳" not in html


@pytest.mark.parametrize("q", ["6209", "1551234"])
def test_phone_suffix_and_prefix_for_pii_view(client, officer, people, q):
    client.force_login(officer)
    assert names(client, q) == ["张伟"]
    html = client.get(PAGE, {"q": q}).content.decode()
    assert "张伟" in html and "王芳" not in html


@pytest.mark.parametrize("q", ["6209", "1551234", "155****6209", "zw6209"])
def test_masked_users_find_nothing_by_phone_fragments(client, staff_a, people, q):
    """Property staff see phones masked: a fragment finds nobody, though 张伟's phone ends in 6209."""
    client.force_login(staff_a)
    assert names(client, q) == []
    html = client.get(PAGE, {"q": q}).content.decode()
    assert "张伟" not in html
    assert not IdentifierProbe.objects.exists()  # no lookup either: a fragment is no identifier


def test_masked_users_still_match_whole_numbers_as_counted_lookups(client, staff_a, people):
    client.force_login(staff_a)
    assert names(client, PHONE) == ["张伟"]
    assert IdentifierProbe.objects.filter(user=staff_a, hit=True).count() == 1


@pytest.mark.parametrize("user", ["officer", "staff_a"])
@pytest.mark.parametrize(
    ("q", "found"),
    [("3-2-501", ["张伟", "阿强"]), ("3-501", ["李娜", "张伟", "阿强"]), ("1-1-101", ["王芳"]), ("2-501", [])],
)
def test_building_room_shorthand(client, people, request, user, q, found):
    client.force_login(request.getfixturevalue(user))
    assert sorted(names(client, q)) == sorted(found)


def test_houses_by_shorthand(client, officer, people):
    client.force_login(officer)
    rows = client.get(f"{BASE}/api/registry/houses/", {"q": "3-2-501"}).json()["results"]
    assert len(rows) == 1


ORDER = ["王芳", "李娜", "阿强", "张伟", "赵敏"]  # by address code, then pinyin; no house last


@pytest.mark.parametrize("user", ["officer", "staff_a"])
def test_persons_listed_by_address_then_pinyin(client, people, request, user):
    client.force_login(request.getfixturevalue(user))
    assert names(client, "") == ORDER
    html = client.get(PAGE).content.decode()
    positions = [html.index(name) for name in ORDER]
    assert positions == sorted(positions)


def test_ordering_param_still_refuses_masked_fields(client, staff_a, people):
    client.force_login(staff_a)
    by_phone = names(client, "")  # the default order: the parameter is ignored
    response = client.get(API, {"ordering": "phone"})
    assert [row["name"] for row in response.json()["results"]] == by_phone
    response = client.get(API, {"ordering": "name_pinyin"})
    assert [row["name"] for row in response.json()["results"]] == by_phone
