"""The city dashboard in headless Chromium: the city bureau's home page, charts and map drawn (canvas
present and not blank), a live alert marked on the map without reload, a click on a compound opens
its index breakdown, the big-screen mode; screenshots go to docs/screenshots/.

Runs on the browser tests' server and seeded demo city (``tests/e2e/conftest.py``); the snapshots
are taken by ``safety.snapshots.do_snapshot_day`` in another process, on that server's database.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.conftest import BASE_DIR, VENV_BIN, _base_database_url, database_name, login, with_database
from tests.e2e.test_alerts_browser import LIVE_TIMEOUT, raise_alert

pytestmark = pytest.mark.e2e

SNAPSHOT = """
import datetime
from django.utils import timezone
from safety.snapshots import do_snapshot_day
today = timezone.localdate()
for back in (2, 1, 0):
    do_snapshot_day(today - datetime.timedelta(days=back))
"""
# A canvas with something drawn on it: some pixel is not fully transparent.
DRAWN = """(el) => {
  const c = el.querySelector('canvas');
  if (!c) return false;
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return true; }
  return false;
}"""
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"


def take_snapshots() -> None:
    base = _base_database_url()
    url = with_database(base, f"{database_name(base)}_e2e")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "district.settings", "DEBUG": "false"}
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", SNAPSHOT],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_city_dashboard_draws_its_charts_and_opens_a_compound(page: Page) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    take_snapshots()
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, "city")
    page.goto("/")  # the city bureau's home page is its dashboard
    dashboard = page.get_by_test_id("safety-dashboard")
    expect(dashboard).to_be_visible()
    expect(page.get_by_test_id("area-score")).not_to_have_text("—")
    expect(dashboard).to_have_attribute("data-map-state", "drawn")
    for chart in ("map", "children", "streets", "trend", "bands"):
        locator = page.get_by_test_id(f"chart-{chart}")
        expect(locator.locator("canvas")).to_have_count(1)
        assert locator.evaluate(DRAWN), f"the {chart} chart is blank"
    expect(page.get_by_test_id("best").locator("a")).not_to_have_count(0)
    # A new alert at a compound of the city is marked on the open map, without reload.
    expect(dashboard).to_have_attribute("data-alerts-counted", re.compile(r"^\d+$"))
    before = int(dashboard.get_attribute("data-alert-markers") or "0")
    counted = int(dashboard.get_attribute("data-alerts-counted") or "0")
    raise_alert("tailgating")
    expect(dashboard).to_have_attribute("data-alert-markers", str(before + 1), timeout=LIVE_TIMEOUT)
    # ... and counted among the alerts by model, still without reload.
    expect(dashboard).to_have_attribute("data-alerts-counted", str(counted + 1), timeout=LIVE_TIMEOUT)
    alerts = page.get_by_test_id("chart-alerts")
    expect(alerts.locator("canvas")).to_have_count(1)
    assert alerts.evaluate(DRAWN), "the alerts chart is blank"
    page.wait_for_timeout(600)  # ECharts' entry animation, for the screenshot only
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "safety-city-dashboard.png"), full_page=True)

    page.set_viewport_size({"width": 1920, "height": 1080})
    page.get_by_test_id("big-screen").click()
    expect(page.locator(".safety-big-screen")).to_be_visible()
    expect(page.get_by_test_id("chart-trend").locator("canvas")).to_have_count(1)
    expect(page.locator(".safety-big-screen")).to_have_attribute("data-map-state", "drawn")
    page.wait_for_timeout(600)
    page.screenshot(path=str(SCREENSHOTS / "safety-big-screen.png"), full_page=True)

    first = page.get_by_test_id("best").locator("a").first
    name = first.inner_text().rsplit(" ", 1)[0]
    first.click()
    expect(page.get_by_test_id("score")).to_be_visible()
    expect(page.locator("h1")).to_contain_text(name)
    for component in ("incidents", "alerts", "disputes", "prevention"):
        expect(page.get_by_test_id(f"records-{component}")).to_be_visible()
    assert not problems, problems
