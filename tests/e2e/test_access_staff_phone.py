"""The access staff pages on a property manager's phone (issue #9 part 7): at 390 × 844 no page
scrolls sideways and tap targets are at least 44 px; a device is added through the form and its
credential read off the page once; the device list asks for its online state every 15 seconds
(htmx under the CSP, the browser's clock fast-forwarded, nothing waits 15 s); the enrolment input
opens the front camera; consent is recorded through the form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tenants.demo import COMPOUNDS
from tests.e2e.conftest import login, phone_profile
from tests.e2e.test_phone import HEIGHT, HORIZONTAL_SCROLL, MIN_TAP, TAP_TARGETS, WIDTH, assert_no_horizontal_scroll

pytestmark = pytest.mark.e2e

OWN = COMPOUNDS[0]  # the compound of the demo's property staff (wuye)
BASE = f"/c/{OWN.code}/access"


@pytest.fixture
def phone(browser: Browser, e2e_server: str) -> Iterator[Page]:
    with phone_profile(browser, e2e_server, WIDTH, HEIGHT, scale=1) as page:
        yield page


def assert_fits(page: Page) -> None:
    """The page as it stands (e.g. the answer to a form): no sideways scroll, every tap target 44 px tall."""
    scroll_width, client_width = page.evaluate(HORIZONTAL_SCROLL)
    assert scroll_width <= client_width, f"{page.url} is {scroll_width}px wide in a {client_width}px viewport"
    small = [t for t in page.evaluate(TAP_TARGETS) if t["height"] < MIN_TAP - 0.5]
    assert not small, (page.url, small)


def test_devices_on_a_phone_credential_once_and_live_state(phone: Page) -> None:
    login(phone, "wuye")
    assert_no_horizontal_scroll(phone, f"{BASE}/devices/new/")
    assert_fits(phone)
    phone.locator("#id_name").fill("手机测试南门人脸闸机")
    phone.locator("#id_kind").select_option("face_gate")
    phone.locator("#id_gate").fill("南门")
    phone.locator("main form button[type=submit]").click()
    token = phone.locator("[data-testid=token]")
    expect(token).to_have_value(re.compile(r"^D[0-9A-F]{16}\.[A-Za-z0-9_-]{43}$"))
    expect(phone.locator("[data-testid=header]")).to_have_value(f"Authorization: Device {token.input_value()}")
    assert_fits(phone)
    phone.locator("main a.btn-primary").click()
    expect(phone).to_have_url(re.compile(rf"{BASE}/devices/\d+/$"))
    assert token.count() == 0
    detail = urlsplit(phone.url).path
    assert_fits(phone)
    for step in ("edit/", "revoke/", "rotate/"):
        assert_no_horizontal_scroll(phone, f"{detail}{step}")
        assert_fits(phone)

    # The list's state fragment is asked for again after 15 s (the page's clock, fast-forwarded).
    phone.clock.install()
    assert_no_horizontal_scroll(phone, f"{BASE}/devices/")
    assert_fits(phone)
    expect(phone.locator("[data-testid=card]").filter(has_text="手机测试南门人脸闸机")).to_be_visible()
    with phone.expect_response(lambda r: r.url.endswith("/access/devices/state/") and r.status == 200):
        phone.clock.fast_forward("00:16")
    expect(phone.locator("[data-testid=device-state] [data-testid=card]").first).to_be_visible()


def test_face_and_card_page_on_a_phone(phone: Page) -> None:
    login(phone, "wuye")
    phone.goto(f"/c/{OWN.code}/persons/")
    first = phone.locator("[data-testid=card] a.record-card-title").first
    person = re.search(r"/persons/(\d+)/$", first.get_attribute("href") or "")
    assert person, first.get_attribute("href")
    phone.goto(first.get_attribute("href") or "")
    phone.locator("[data-testid=face-and-card]").click()
    expect(phone).to_have_url(re.compile(rf"{BASE}/persons/{person.group(1)}/$"))
    assert_fits(phone)
    if phone.locator("[data-testid=needs-consent]").count():
        phone.locator("#id_given_on").fill("2026-01-05")
        phone.locator("[data-testid=consent] form button[type=submit]").click()
        expect(phone.locator("[data-testid=needs-consent]")).to_have_count(0)
    image = phone.locator("input[type=file][name=image]")
    expect(image).to_have_attribute("capture", "user")
    expect(image).to_have_attribute("accept", "image/*")
    assert_fits(phone)
    assert_no_horizontal_scroll(phone, f"{BASE}/persons/{person.group(1)}/consent/withdraw/")
    assert_fits(phone)
