"""The registry on a beat officer's phone (issue #8 part 1): at 390 × 844 every list is a stack of
cards, nothing scrolls sideways, tap targets are at least 44 px tall, and phones are ``tel:``
links only for a role that sees them unmasked (``pii.view``).

``SCREENSHOTS=1`` also saves the persons list to ``docs/screenshots/persons-390x844.png``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from registry.kinds import KINDS
from tenants.demo import COMPOUNDS
from tests.e2e.conftest import BASE_DIR, login, phone_profile

pytestmark = pytest.mark.e2e

OWN = COMPOUNDS[0]  # the compound of the demo's property staff (wuye) and beat officer (minjing)
WIDTH, HEIGHT = 390, 844
MIN_TAP = 44
SCREENSHOT = BASE_DIR / "docs" / "screenshots" / f"persons-{WIDTH}x{HEIGHT}.png"

# Every visible link, button and input (and select) with its size; hidden inputs have no box.
TAP_TARGETS = """() => [...document.querySelectorAll("a, button, input, select")]
  .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
  .map((el) => {
    const box = el.getBoundingClientRect();
    return {html: el.outerHTML.slice(0, 160), height: box.height, width: box.width};
  })
  .filter((t) => t.width > 0 && t.height > 0)"""
HORIZONTAL_SCROLL = "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"


@pytest.fixture
def phone(browser: Browser, e2e_server: str) -> Iterator[Page]:
    """A 390 × 844 phone profile (touch, mobile viewport meta honoured)."""
    with phone_profile(browser, e2e_server, WIDTH, HEIGHT, scale=1) as page:
        yield page


def assert_no_horizontal_scroll(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.ok, (path, response.status)
    scroll_width, client_width = page.evaluate(HORIZONTAL_SCROLL)
    assert scroll_width <= client_width, f"{path} is {scroll_width}px wide in a {client_width}px viewport"


def test_no_registry_page_scrolls_sideways(phone: Page) -> None:
    login(phone, "minjing")  # sees full ID numbers and phones: the widest cells
    base = f"/c/{OWN.code}"
    for path in (f"{base}/", f"{base}/addresses/", f"{base}/import/"):
        assert_no_horizontal_scroll(phone, path)
    details = []
    for slug in KINDS:
        assert_no_horizontal_scroll(phone, f"{base}/{slug}/")
        expect(phone.locator("[data-testid=results]")).to_be_hidden()  # the table is for md and up
        first = phone.locator("[data-testid=card] a.record-card-title").first
        if first.count():
            details.append(first.get_attribute("href"))
    assert any(d and "/persons/" in d for d in details), details
    for href in details:
        assert href
        assert_no_horizontal_scroll(phone, href)
    # An address of the tree (its door plate page) too.
    phone.goto(f"{base}/addresses/")
    hrefs = phone.locator("main a[href*='/addresses/']").evaluate_all("els => els.map((a) => a.pathname)")
    href = next((h for h in hrefs if re.fullmatch(rf"{base}/addresses/\d+/", h)), None)
    assert href, hrefs
    assert_no_horizontal_scroll(phone, href)


def test_every_tap_target_on_the_persons_list_is_44px_tall(phone: Page) -> None:
    login(phone, "minjing")
    phone.goto(f"/c/{OWN.code}/persons/")
    expect(phone.locator("[data-testid=card]").first).to_be_visible()
    targets = phone.evaluate(TAP_TARGETS)
    assert len(targets) > 5, targets
    small = [t for t in targets if t["height"] < MIN_TAP - 0.5]
    assert not small, small
    # The search box and the "add" button stay on screen (the bar at the bottom).
    phone.mouse.wheel(0, 5000)
    expect(phone.get_by_role("searchbox")).to_be_in_viewport()
    expect(phone.locator(".list-search a[href$='/persons/new/']")).to_be_in_viewport()
    if os.environ.get("SCREENSHOTS"):
        phone.evaluate("window.scrollTo(0, 0)")
        expect(phone.locator("[data-testid=card]").first).to_be_in_viewport()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        phone.screenshot(path=str(SCREENSHOT))


def test_a_card_shows_the_name_and_opens_the_record(phone: Page) -> None:
    login(phone, "wuye")
    phone.goto(f"/c/{OWN.code}/persons/")
    card = phone.locator("[data-testid=card]").first
    expect(card).to_be_visible()
    title = card.locator("a.record-card-title")
    name = title.inner_text().strip()
    assert name and name != "—"
    expect(title).to_have_attribute("href", re.compile(rf"^/c/{OWN.code}/persons/\d+/$"))
    # The whole card is one tap: tap near its bottom right corner, away from the name.
    box = card.bounding_box()
    assert box is not None
    phone.mouse.click(box["x"] + box["width"] - 8, box["y"] + box["height"] - 8)
    expect(phone).to_have_url(re.compile(rf"/c/{OWN.code}/persons/\d+/$"))
    expect(phone.locator("h1")).to_have_text(name)


def test_phones_are_tel_links_only_for_a_role_that_sees_them(browser: Browser, e2e_server: str) -> None:
    seen: dict[str, list[str]] = {}
    for username in ("minjing", "wuye"):  # beat officer (pii.view), property staff (masked)
        ctx = browser.new_context(base_url=e2e_server, locale="zh-CN", viewport={"width": WIDTH, "height": HEIGHT})
        try:
            page = ctx.new_page()
            login(page, username)
            page.goto(f"/c/{OWN.code}/persons/")
            expect(page.locator("[data-testid=card]").first).to_be_visible()
            seen[username] = page.locator("a[href^='tel:']").evaluate_all("els => els.map((a) => a.href)")
        finally:
            ctx.close()
    assert seen["minjing"], "the beat officer sees no tel: links"
    assert all(re.fullmatch(r"tel:[0-9+\-]+", href) for href in seen["minjing"]), seen["minjing"]
    assert seen["wuye"] == [], seen["wuye"]
