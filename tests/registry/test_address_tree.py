"""The address tree page (issue #8 part 7): occupancy per unit and floor, bounded queries,
search, and door-plate printing from every building, unit and floor."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from registry.models import Address
from tests.factories import AddressPathFactory, HouseFactory, PersonFactory

BASE = "/c/370102001001"
# Whatever the tree's size: session, user, roles, compound, the nodes and one aggregate of residents.
MAX_QUERIES = 15


@pytest.fixture
def browser(client, admin_a):
    client.force_login(admin_a)
    return client


def occupancy(html: str) -> dict[str, int]:
    """Code → current residents, as the tree shows them."""
    found = re.findall(r'data-testid="occupancy" data-code="(\d+)" data-residents="(\d+)"', html)
    return {code: int(n) for code, n in found}


def house_at(*numbers: str):
    return HouseFactory(address=AddressPathFactory(*numbers))


@pytest.fixture
def tree(compound_a):
    """Building 1: unit 1 floor 1 rooms 101 (2 residents, 1 moved out) and 102 (1), floor 2
    room 201 (empty); unit 2 floor 3 room 301 (3). Building 2: unit 1 floor 1 room 101 (1)."""
    with tenant_context(compound_a):
        h101 = house_at("1", "1", "1", "101")
        h102 = house_at("1", "1", "1", "102")
        house_at("1", "1", "2", "201")
        h301 = house_at("1", "2", "3", "301")
        h2101 = house_at("2", "1", "1", "101")
        PersonFactory.create_batch(2, house=h101)
        PersonFactory(house=h101, move_in_date=datetime.date(2020, 1, 1), move_out_date=datetime.date(2024, 1, 1))
        PersonFactory(house=h102)
        PersonFactory.create_batch(3, house=h301)
        PersonFactory(house=h2101)
        PersonFactory()  # no house: counted nowhere
        codes = {a.full_name.removeprefix(compound_a.name): a.code for a in Address.objects.all()}
    return codes


def test_counts_current_residents_per_building_unit_floor_and_room(browser, tree):
    html = browser.get(f"{BASE}/addresses/").content.decode()
    counts = occupancy(html)
    assert counts[tree["1号楼"]] == 6
    assert counts[tree["1号楼1单元"]] == 3
    assert counts[tree["1号楼1单元1层"]] == 3  # the moved-out person is not counted
    assert counts[tree["1号楼1单元2层"]] == 0
    assert counts[tree["1号楼2单元"]] == 3
    assert counts[tree["1号楼2单元3层"]] == 3
    assert counts[tree["2号楼"]] == 1
    assert counts[tree["2号楼1单元1层"]] == 1


def test_buildings_are_open_and_units_collapsed(browser, tree):
    html = browser.get(f"{BASE}/addresses/").content.decode()
    assert len(re.findall(r'<details class="addr-node addr-building"[^>]*\bopen>', html)) == 2
    units = re.findall(r'<details class="addr-node addr-unit"[^>]*>', html)
    assert len(units) == 3
    assert not any(" open" in tag for tag in units)


def test_query_count_does_not_grow_with_the_tree(browser, compound_a, django_assert_max_num_queries):
    with tenant_context(compound_a):
        PersonFactory(house=house_at("1", "1", "1", "101"))
    with CaptureQueriesContext(connection) as small:
        assert browser.get(f"{BASE}/addresses/").status_code == 200
    with tenant_context(compound_a):
        for b in range(2, 5):
            for u in range(1, 3):
                for f in range(1, 4):
                    PersonFactory(house=house_at(str(b), str(u), str(f), f"{f}01"))
    with django_assert_max_num_queries(MAX_QUERIES):
        html = browser.get(f"{BASE}/addresses/").content.decode()
    with CaptureQueriesContext(connection) as large:
        browser.get(f"{BASE}/addresses/")
    assert len(large) == len(small)
    assert len(occupancy(html)) == 3 + 3 * (1 + 2 + 2 * 3)  # buildings, units, floors


def test_every_building_unit_and_floor_links_its_plates(browser, compound_a, tree):
    html = browser.get(f"{BASE}/addresses/").content.decode()
    printed = set(re.findall(r'data-testid="print-plates" data-code="(\d+)" href="([^"]+)"', html))
    with tenant_context(compound_a):
        expected = {(a.code, f"{BASE}/addresses/{a.pk}/plates/") for a in Address.objects.exclude(level="room")}
    assert printed == expected
    building = next(href for code, href in printed if code == tree["1号楼"])
    sheet = browser.get(building).content.decode()
    assert sheet.count("<div><svg") == 1 + 4  # the building and its four rooms


def test_search_keeps_matches_and_the_way_to_them(browser, tree):
    def shown(q: str) -> set[str]:
        html = browser.get(f"{BASE}/addresses/", {"q": q}).content.decode()
        return set(re.findall(r'data-code="(\d+)"', html))

    by_room = shown("301")
    assert tree["1号楼2单元3层301室"] in by_room
    assert {tree["1号楼"], tree["1号楼2单元"], tree["1号楼2单元3层"]} <= by_room
    assert tree["2号楼"] not in by_room
    assert tree["1号楼1单元1层101室"] not in by_room

    by_building = shown("2号楼")
    assert tree["2号楼1单元1层101室"] in by_building
    assert tree["1号楼"] not in by_building

    by_shorthand = shown("1-1-102")
    assert tree["1号楼1单元1层102室"] in by_shorthand
    assert tree["1号楼1单元1层101室"] not in by_shorthand
    assert tree["1号楼2单元"] not in by_shorthand

    html = browser.get(f"{BASE}/addresses/", {"q": "301"}).content.decode()
    assert re.search(r'<details class="addr-node addr-unit"[^>]*\bopen>', html)
    assert "未找到记录" in browser.get(f"{BASE}/addresses/", {"q": "nowhere"}).content.decode()
    assert browser.get(f"{BASE}/addresses/", {"q": "x" * 2000}).status_code == 200
