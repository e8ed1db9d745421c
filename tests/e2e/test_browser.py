"""What users see in a real browser: scopes on the home page, htmx search, forms, door plates,
Excel import, and the phone layout. The server and its demo data come from ``conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tenants.demo import COMPOUNDS
from tests.e2e.conftest import SEED_COMPOUNDS, login, upload_persons

pytestmark = pytest.mark.e2e

SEEDED = COMPOUNDS[:SEED_COMPOUNDS]
# `wuye` (property staff) works in the first compound of 解放路街道; the second seeded compound
# is the first one of the neighbouring street 千佛山街道.
OWN, NEIGHBOUR = SEEDED[0], SEEDED[1]
BAD_ID_NUMBER = "110105194912310021"  # GB 11643 check character should be X
PHONE_WIDTH = 375
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"


def valid_id_number(first17: str) -> str:
    """``first17`` with its GB 11643 check character appended (computed here, not by the app)."""
    return first17 + ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def test_street_admin_sees_exactly_the_compounds_of_the_street(page: Page) -> None:
    login(page, "jiefang")
    expect(page.get_by_test_id("safety-dashboard")).to_be_visible()  # a street office lands on its dashboard
    page.get_by_role("link", name="小区", exact=True).click()  # the compound cards, one click away

    streets = page.locator("[data-testid=street]")
    expect(streets).to_have_count(1)
    street = streets.get_attribute("data-street")
    assert street == OWN.street_code
    cards = page.locator("[data-testid=compound]")
    expect(cards.first).to_be_visible()
    shown = {cards.nth(i).get_attribute("data-code") for i in range(cards.count())}
    assert shown == {c.code for c in SEEDED if c.code.startswith(street)}
    assert all(code and code.startswith(street) for code in shown)
    for other in (c for c in SEEDED if not c.code.startswith(street)):
        expect(page.get_by_text(other.name)).to_have_count(0)


def test_property_staff_cannot_open_a_neighbouring_compound(page: Page) -> None:
    login(page, "wuye")

    response = page.goto(f"/c/{NEIGHBOUR.code}/")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text(NEIGHBOUR.name)).to_have_count(0)

    response = page.goto(f"/c/{OWN.code}/")
    assert response is not None
    assert response.status == 200
    expect(page.locator("h1")).to_have_text(OWN.name)


def test_person_search_updates_the_table_without_reloading(page: Page) -> None:
    login(page, "wuye")
    page.goto(f"/c/{OWN.code}/persons/")
    rows = page.locator("[data-testid=results] tbody tr")
    expect(rows.first.locator("td a")).to_be_visible()
    texts = rows.all_inner_texts()
    names = rows.locator("td:first-child a").all_inner_texts()
    assert len(names) == len(texts) >= 2

    # A given name (or a whole two-character name) that some other listed row does not contain.
    fragment, target, absent = "", "", ""
    for name in names:
        candidate = name[1:] if len(name) >= 3 else name
        others = [n for n, text in zip(names, texts, strict=True) if candidate.lower() not in text.lower()]
        if others:
            fragment, target, absent = candidate, name, others[0]
            break
    assert fragment, names

    # A full page load would wipe this marker; an htmx swap keeps it.
    page.evaluate("window.__e2eNoReload = true")
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request") == "true") as info:
        page.get_by_role("searchbox").fill(fragment)
    assert info.value.status == 200

    results = page.locator("[data-testid=results]")
    expect(results.get_by_role("link", name=target, exact=True).first).to_be_visible()
    expect(results.get_by_role("link", name=absent, exact=True)).to_have_count(0)
    assert rows.count() < len(names)
    assert page.evaluate("window.__e2eNoReload") is True
    # hx-push-url: the address bar holds the search, so reload and back keep it.
    page.wait_for_function("q => new URLSearchParams(location.search).get('q') === q", arg=fragment)


def test_person_form_shows_field_error_and_switches_to_english(page: Page) -> None:
    login(page, "wuye")
    page.goto(f"/c/{OWN.code}/persons/new/")
    page.locator("#id_name").fill("测试人员")
    page.locator("#id_id_number").fill(BAD_ID_NUMBER)
    page.locator("main form button[type=submit]").click()

    expect(page.locator("[data-testid=error-id_number]")).to_contain_text("校验")
    expect(page.locator("#id_name")).to_have_value("测试人员")
    expect(page.locator("#nav").get_by_role("link", name="Persons", exact=True)).to_have_count(0)

    page.locator("select[name=language]").select_option("en")

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#nav").get_by_role("link", name="Persons", exact=True)).to_be_visible()


def test_door_plate_and_print_sheet(page: Page) -> None:
    login(page, "wuye")
    page.goto(f"/c/{OWN.code}/addresses/")
    # Units are collapsed (<details>): open the first one by its disclosure marker.
    page.locator("[data-testid=address-tree] [data-testid=addr-unit] > summary").first.click(position={"x": 3, "y": 10})
    page.locator("[data-testid=address-tree] [data-testid=addr-room]").first.click()

    plate = page.locator("main img[src$='/plate.svg']")
    expect(plate).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plate.element_handle())
    svg = page.request.get(plate.get_attribute("src") or "")
    assert svg.ok
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text()

    # The room's floor: the last link of the address trail; its sheet holds the floor and its rooms.
    page.locator("main nav.small a").last.click()
    page.locator("main a[href$='/plates/']").click()
    plates = page.locator("[data-testid=plates] > div > svg")
    expect(plates.nth(1)).to_be_visible()
    assert plates.count() >= 2


def test_excel_import_reports_created_rows_and_bad_rows(page: Page, tmp_path: Path) -> None:
    login(page, "wuye")
    # Born 1932: outside the seed's birth years (1935–2020), so it cannot be an existing person.
    rows = [("导入甲", valid_id_number("37010219320506123")), ("导入乙", BAD_ID_NUMBER)]
    first = upload_persons(page, OWN.code, rows, tmp_path)

    status = page.locator("[data-testid=import-status]")
    expect(status).to_have_attribute("data-status", "done")
    expect(status.locator("[data-testid=created]")).to_have_text("1")
    expect(status.locator("[data-testid=error-count]")).to_have_text("1")
    errors = status.locator("[data-testid=import-errors] tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("td").first).to_have_text(str(first + 1))
    expect(errors.first).to_contain_text("证件号码")


def test_phone_layout_of_the_person_list(phone_page: Page) -> None:
    page = phone_page
    login(page, "wuye")
    page.goto(f"/c/{OWN.code}/persons/")
    expect(page.locator("[data-testid=card]").first).to_be_visible()  # below md the list is cards (test_phone.py)

    expect(page.locator(".navbar-toggler")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE_WIDTH + 4, f"page is {scroll_width}px wide on a {PHONE_WIDTH}px phone"
    page.screenshot(path="/tmp/e2e-phone.png", full_page=True)
