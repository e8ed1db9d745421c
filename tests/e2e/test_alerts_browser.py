"""The live alert panel in a real browser (issue #10 part 5): a beat officer has the panel open, an
alert is raised and committed by another process, and its row appears without a reload; Chromium's
Content-Security-Policy lets the page's WebSocket and script through; at 390 × 844 no alert page
scrolls sideways and the new alert arrives as a card.

The alert is raised by a separate process (``manage.py shell``) on the browser tests' own database
(the server's, ``<database>_e2e``): this test process has no Django connection to it. Without
``REDIS_URL`` the message reaches the server through PostgreSQL ``NOTIFY``, as with ``make run``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tenants.demo import COMPOUNDS
from tests.e2e.conftest import (
    BASE_DIR,
    VENV_BIN,
    _base_database_url,
    database_name,
    login,
    phone_profile,
    with_database,
)

pytestmark = pytest.mark.e2e

OWN = COMPOUNDS[0]  # the compound of the demo's beat officer (minjing)
LIVE_TIMEOUT = 20_000  # ms: the raising process starts Django, then the row must arrive
WIDTH, HEIGHT = 390, 844
HORIZONTAL_SCROLL = "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
RAISE = """
from django.db import transaction
from django.utils import timezone
from events.actions import do_raise_alert
from tenants.models import Compound
with transaction.atomic():
    alert = do_raise_alert(
        Compound.objects.get(code={code!r}), kind={kind!r}, occurred_at=timezone.now(), severity="high",
        detail={{"device": "东门人脸机", "count": 260, "threshold": 200, "minutes": 5}},
    )
print("ALERT", alert.pk)
"""


def raise_alert(kind: str = "stranger") -> int:
    """Raise and commit an alert of the demo compound in the server's database, from another process."""
    base = _base_database_url()
    url = with_database(base, f"{database_name(base)}_e2e")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "district.settings", "DEBUG": "false"}
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", RAISE.format(code=OWN.code, kind=kind)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return int(next(line for line in result.stdout.splitlines() if line.startswith("ALERT ")).split()[1])


@pytest.fixture
def watched(page: Page) -> Iterator[tuple[Page, list[str]]]:
    """The page, and every console error and CSP violation it produced."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page, problems


def open_panel(page: Page, path: str = "/alerts/") -> None:
    page.goto(path)
    # The script marks the panel "open" once the server accepted the socket (and so joined its groups).
    expect(page.locator("[data-live-alerts]")).to_have_attribute("data-state", "open", timeout=LIVE_TIMEOUT)


def test_a_new_alert_appears_on_an_open_panel_without_reload(watched: tuple[Page, list[str]]) -> None:
    page, problems = watched
    login(page, "minjing")
    open_panel(page)
    page.evaluate("window.__notReloaded = true")
    alert_id = raise_alert()
    row = page.locator(f"#alert-rows tr[data-alert-id='{alert_id}']")
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(page.locator("#alert-rows tr").first).to_have_attribute("data-alert-id", str(alert_id))
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    # The panel handles it: acknowledging on the detail page, back on the panel the status follows.
    page.locator(f"#alert-rows a[href='/alerts/{alert_id}/']").click()
    expect(page.locator("[data-testid=explanation]")).to_contain_text("东门人脸机")
    page.locator("[data-testid=step-form] textarea").fill("已到场核查")
    page.locator("[data-step='alerts:acknowledge']").click()
    expect(page.locator("[data-testid=steps]")).to_contain_text("已到场核查")
    assert problems == [], problems


def test_the_panel_on_a_phone_does_not_scroll_sideways_and_new_alerts_arrive_as_cards(
    browser: Browser, e2e_server: str
) -> None:
    with phone_profile(browser, e2e_server, WIDTH, HEIGHT, scale=1) as phone:
        login(phone, "minjing")
        open_panel(phone)
        alert_id = raise_alert("crowd")
        card = phone.locator(f"#alert-cards [data-alert-id='{alert_id}']")
        expect(card).to_be_visible(timeout=LIVE_TIMEOUT)
        expect(phone.locator("[data-testid=results]")).to_be_hidden()  # the table is for md and up
        for path in (
            "/alerts/",
            f"/alerts/{alert_id}/",
            "/alerts/mine/",
            "/alerts/broadcasts/",
            "/alerts/broadcasts/new/",
        ):
            response = phone.goto(path)
            assert response is not None and response.ok, (path, response and response.status)
            scroll_width, client_width = phone.evaluate(HORIZONTAL_SCROLL)
            assert scroll_width <= client_width, f"{path} is {scroll_width}px wide in a {client_width}px viewport"
