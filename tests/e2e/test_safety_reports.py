"""A street office asks for its monthly report in headless Chromium: the server's job worker builds
it while the page shows the progress (htmx polling), then the Excel download and the print page.

Runs on the browser tests' server, worker and seeded demo city (``tests/e2e/conftest.py``): the
seed computed the index of the last 30 days, so this month has snapshots to report.
"""

from __future__ import annotations

import datetime
import io

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e

BUILD_TIMEOUT = 30_000  # ms: the worker polls for jobs, then builds in four committed steps


def test_a_street_office_builds_downloads_and_prints_its_monthly_report(page: Page) -> None:
    login(page, "jiefang")  # 街道办 of 解放路街道
    page.goto("/safety/reports/")
    form = page.get_by_test_id("report-form")
    form.locator("select[name=area]").select_option(label="解放路街道 (街道)")
    form.locator("input[name=month]").fill(datetime.date.today().strftime("%Y-%m"))
    form.locator("button[type=submit]").click()

    status = page.get_by_test_id("report-status")
    expect(status).to_have_attribute("data-status", "done", timeout=BUILD_TIMEOUT)
    with page.expect_download() as download:
        page.get_by_test_id("download").click()
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True)
    assert len(book.worksheets) == 3
    title = next(book.worksheets[0].iter_rows(max_row=1, values_only=True))[0]
    assert "解放路街道" in str(title)

    page.get_by_test_id("print").click()
    expect(page.locator("table").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("阳光花园")  # a compound of the street in the index table
