"""Registry pages: search, forms with field-level errors, address tree and door plates."""

import io

import pytest
from django_tenants.utils import tenant_context
from PIL import Image

from registry import actions
from registry.models import Address, Person
from tests.factories import AddressPathFactory, HouseFactory, PersonFactory, make_id_number

BASE = "/c/370102001001"


@pytest.fixture
def browser(client, admin_a):
    client.force_login(admin_a)
    return client


def test_person_list_searches_name_id_phone_address_and_tag(browser, compound_a):
    with tenant_context(compound_a):
        house = HouseFactory(address=AddressPathFactory("3", "1", "5", "502"))
        PersonFactory(name="孙悟空", phone="13512345678", house=house, tags=["elderly_alone"])
        PersonFactory(name="猪八戒", phone="13698765432")
        number = Person.objects.get(name="猪八戒").id_number

    def found(**params):
        html = browser.get(f"{BASE}/persons/", params).content.decode()
        return {name for name in ("孙悟空", "猪八戒") if name in html}

    assert found(q="悟空") == {"孙悟空"}
    assert found(q=number) == {"猪八戒"}
    assert found(q="13512345678") == {"孙悟空"}
    assert found(q="135123") == set()  # a street office sees phones masked: whole numbers only
    assert found(q="3号楼1单元") == {"孙悟空"}
    assert found(tag="elderly_alone") == {"孙悟空"}


def test_htmx_search_returns_only_the_table(browser, in_a):
    PersonFactory(name="沙和尚")
    response = browser.get(f"{BASE}/persons/", {"q": "沙"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "沙和尚" in html
    assert "<html" not in html


def test_create_form_shows_field_error_and_keeps_input(browser, compound_a):
    response = browser.post(
        f"{BASE}/persons/new/",
        {"name": "唐三藏", "id_type": "resident_id", "id_number": "110105194912310021", "residence_type": "permanent"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'data-testid="error-id_number"' in html
    assert "check digit" in html
    assert "唐三藏" in html
    with tenant_context(compound_a):
        assert not Person.objects.exists()


def test_create_form_saves_a_valid_person(browser, compound_a):
    number = make_id_number(seq=12, male=False)
    response = browser.post(
        f"{BASE}/persons/new/",
        {"name": "唐三藏", "id_type": "resident_id", "id_number": number, "residence_type": "floating"},
    )
    assert response.status_code == 302
    with tenant_context(compound_a):
        person = Person.objects.get(id_number=number)
    assert response["Location"] == f"{BASE}/persons/{person.pk}/"
    assert person.sex == "F"
    assert browser.get(response["Location"]).status_code == 200


def test_non_police_edit_keeps_key_person_tag(browser, compound_a):
    with tenant_context(compound_a):
        person = PersonFactory(name="重点人", tags=["key_person"])
    form = {
        "name": "重点人",
        "id_type": "resident_id",
        "id_number": person.id_number,
        "residence_type": "permanent",
        "phone": "13900001111",
    }
    assert browser.post(f"{BASE}/persons/{person.pk}/edit/", form).status_code == 302
    with tenant_context(compound_a):
        person.refresh_from_db()
    assert person.tags == ["key_person"]
    assert person.phone == "13900001111"


def test_address_tree_codes_are_stable(browser, compound_a):
    response = browser.post(f"{BASE}/addresses/", {"number": "7"})
    assert response.status_code == 302
    with tenant_context(compound_a):
        building = Address.objects.get(parent=None, number="7")
        assert building.code == "370102001001001"
        unit = actions.do_create_address(compound_a, parent=building, number="1")
        floor = actions.do_create_address(compound_a, parent=unit, number="2")
        room = actions.do_create_address(compound_a, parent=floor, number="201")
        assert room.code == "370102001001001010010001"
        assert room.full_name == "阳光花园7号楼1单元2层201室"
        actions.do_rename_address(building, number="7A")
        room.refresh_from_db()
        assert room.code == "370102001001001010010001"
        assert room.full_name == "阳光花园7A号楼1单元2层201室"
    page = browser.get(f"{BASE}/addresses/{room.pk}/")
    assert page.status_code == 200
    assert room.code in page.content.decode()


def test_door_plates_svg_png_and_print_sheet(browser, compound_a):
    with tenant_context(compound_a):
        room = AddressPathFactory("2", "1", "1", "101")
        building = Address.objects.get(parent=None, number="2")
    svg = browser.get(f"{BASE}/addresses/{room.pk}/plate.svg")
    assert svg["Content-Type"] == "image/svg+xml"
    assert room.code in svg.content.decode()
    assert "2号楼1单元1层101室" in svg.content.decode()
    png = browser.get(f"{BASE}/addresses/{room.pk}/plate.png")
    assert png["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(png.content))
    assert image.width == 600
    sheet = browser.get(f"{BASE}/addresses/{building.pk}/plates/").content.decode()
    assert sheet.count("<svg") >= 2  # the building and its room
    assert browser.get(f"{BASE}/addresses/{room.pk}/plate.gif").status_code == 404


def test_pages_switch_language(browser, in_a):
    zh = browser.get(f"{BASE}/persons/").content.decode()
    en = browser.get(f"{BASE}/persons/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "实有人口" in zh or "人口" in zh
    assert "Persons" in en or "persons" in en


def test_house_page_lists_residents_and_leases(browser, compound_a):
    import datetime

    from registry.models import Lease

    with tenant_context(compound_a):
        house = HouseFactory(address=AddressPathFactory("5", "1", "1", "101"))
        tenant = PersonFactory(name="租客小王", house=house, relation="tenant")
        actions.do_save_lease(Lease(house=house, tenant=tenant, start_date=datetime.date(2026, 1, 1)))
        house.refresh_from_db()
        assert house.use == "rented"
    html = browser.get(f"{BASE}/houses/{house.pk}/").content.decode()
    assert html.count("租客小王") >= 2  # as a resident and on the lease
    leases = browser.get(f"{BASE}/leases/", {"tag": "current"}).content.decode()
    assert "租客小王" in leases


def test_pagination_keeps_the_search(browser, in_a):
    for _ in range(30):
        PersonFactory(name="同名居民")
    PersonFactory(name="别的居民")
    html = browser.get(f"{BASE}/persons/", {"q": "同名", "tag": ""}).content.decode()
    assert "30" in html and "1 / 2" in html
    assert "?q=%E5%90%8C%E5%90%8D&amp;tag=&amp;page=2" in html
    second = browser.get(f"{BASE}/persons/", {"q": "同名", "page": 2}).content.decode()
    assert "2 / 2" in second and "别的居民" not in second
