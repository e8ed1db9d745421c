"""The offline case intake (issue #11 part 5) in headless Chromium.

The beat officer opens the intake page while there is signal (the service worker keeps it),
loses the connection (``context.set_offline(True)``), records a case: it is kept on the phone
and listed as waiting, also after the page is reloaded without signal (the page comes from the
worker's cache, the draft from IndexedDB). When the connection returns the page sends it by
itself, once: exactly one case with that title exists in the compound's schema, queried
directly in the server's database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from psycopg2 import sql

from tenants.demo import COMPOUNDS
from tenants.models import schema_name_for
from tests.e2e.conftest import _base_database_url, database_name, login, with_database

pytestmark = pytest.mark.e2e

OWN = COMPOUNDS[0]  # the demo beat officer's (minjing) compound
INTAKE = f"/c/{OWN.code}/mediation/new/"
KEPT = "async () => Boolean(await caches.match(location.pathname, {ignoreVary: true}))"
KEPT_KEY = """async () => {
  const text = await (await caches.match(location.pathname, {ignoreVary: true})).text();
  return new DOMParser().parseFromString(text, "text/html").querySelector("[name=client_key]").value;
}"""
SHOWN_KEY = "document.querySelector('[name=client_key]').value"
CONTROLLED_NOW = "() => Boolean(navigator.serviceWorker.controller)"


def server_cases(title: str) -> list[tuple[str, str]]:
    """(number, client_key) of the cases with this title in the compound's schema of the server's database."""
    base = _base_database_url()
    conn = psycopg2.connect(with_database(base, f"{database_name(base)}_e2e"))
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT number, client_key FROM {}.mediation_case WHERE title = %s").format(
                    sql.Identifier(schema_name_for(OWN.code))
                ),
                [title],
            )
            return [(row[0], str(row[1])) for row in cursor.fetchall()]
    finally:
        conn.close()


@pytest.fixture
def officer(browser: Browser, e2e_server: str) -> Iterator[tuple[BrowserContext, Page]]:
    """The beat officer on a phone-sized profile, signed in, the intake page kept by the service worker."""
    ctx = browser.new_context(
        base_url=e2e_server, locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        login(page, "minjing")
        page.goto(INTAKE)
        expect(page.locator("#case-intake")).to_be_visible()
        page.wait_for_function(KEPT)  # sw-register.js asked the new worker to keep this page
        # The worker controls the pages loaded after it activated: the next visit, as an officer's is.
        page.reload()
        page.wait_for_function(CONTROLLED_NOW)
        page.reload()  # through the worker, which keeps this very copy before showing it
        page.wait_for_function(f"async () => (await ({KEPT_KEY})()) === {SHOWN_KEY}")
        yield ctx, page
        assert not problems, problems
    finally:
        ctx.close()


def fill_case(page: Page, title: str) -> None:
    page.locator("#id_category").select_option("neighbour")
    page.locator("#id_title").fill(title)
    page.locator("[name='parties-0-name']").fill("王离线")
    page.locator("[name='parties-1-name']").fill("李离线")


def test_a_case_recorded_without_signal_is_sent_once_when_the_signal_returns(
    officer: tuple[BrowserContext, Page],
) -> None:
    ctx, page = officer
    title = f"地下车库离线登记 {uuid.uuid4().hex[:6]}"
    kept_key = page.evaluate(KEPT_KEY)
    ctx.set_offline(True)
    page.reload()  # without signal: the worker answers with the kept page
    expect(page.locator("#case-intake")).to_be_visible()
    page_key = page.locator("[name=client_key]").input_value()
    assert page_key == kept_key  # the very copy the worker kept (a fresh page has a fresh key)

    fill_case(page, title)
    page.locator("[data-testid=submit-case]").click()
    queue = page.locator("[data-testid=offline-queue]")
    expect(queue).to_be_visible()
    expect(page.locator("[data-testid=offline-draft]")).to_have_count(1)
    expect(page.locator("[data-testid=offline-draft]")).to_contain_text(title)
    expect(page.locator("[data-queue-title]")).to_contain_text("1")
    # The form is cleared for the next case, under a key of its own.
    expect(page.locator("#id_title")).to_have_value("")
    assert page.locator("[name=client_key]").input_value() != page_key

    page.reload()  # still without signal: the kept page again, the draft still waiting
    expect(page.locator("[data-testid=offline-draft]")).to_have_count(1)
    expect(page.locator("[data-testid=offline-draft]")).to_contain_text(title)
    assert server_cases(title) == []

    ctx.set_offline(False)  # the browser's "online" event sends what waits
    expect(page.locator("[data-testid=offline-sent]")).to_contain_text(re.compile(r"TJ\d{4}-\d+"))
    expect(queue).to_be_hidden()
    cases = server_cases(title)
    assert len(cases) == 1, cases
    number, client_key = cases[0]
    assert client_key == page_key  # the first draft of the page carries the page's key
    # Opening the page again sends nothing more (the draft is gone) and the case is still one.
    page.reload()
    expect(page.locator("#case-intake")).to_be_visible()
    expect(queue).to_be_hidden()
    assert len(server_cases(title)) == 1
    assert number.startswith("TJ")


def test_a_second_case_from_the_kept_page_gets_a_key_of_its_own(officer: tuple[BrowserContext, Page]) -> None:
    """Two cases recorded offline from one kept page (whose key repeats) make two cases, each once."""
    ctx, page = officer
    first, second = (f"同页两案 {n} {uuid.uuid4().hex[:6]}" for n in (1, 2))
    ctx.set_offline(True)
    page.reload()
    fill_case(page, first)
    page.locator("[data-testid=submit-case]").click()
    expect(page.locator("[data-testid=offline-draft]")).to_have_count(1)
    page.reload()  # the kept page shows its (already used) key again
    fill_case(page, second)
    page.locator("[data-testid=submit-case]").click()
    expect(page.locator("[data-testid=offline-draft]")).to_have_count(2)
    keys = page.locator("[data-testid=offline-draft]").evaluate_all("els => els.map((el) => el.dataset.key)")
    assert len(set(keys)) == 2, keys
    ctx.set_offline(False)
    expect(page.locator("[data-testid=offline-queue]")).to_be_hidden()
    assert len(server_cases(first)) == 1
    assert len(server_cases(second)) == 1


def test_with_signal_the_form_registers_the_case_and_opens_it(officer: tuple[BrowserContext, Page]) -> None:
    _ctx, page = officer
    title = f"有信号登记 {uuid.uuid4().hex[:6]}"
    fill_case(page, title)
    page.locator("[data-testid=submit-case]").click()
    expect(page).to_have_url(re.compile(rf"/c/{OWN.code}/mediation/\d+/$"))
    expect(page.locator("main")).to_contain_text(title)
    assert len(server_cases(title)) == 1


def test_a_refused_case_is_kept_with_its_errors(officer: tuple[BrowserContext, Page]) -> None:
    """A 400 shows the server's errors beside the fields; the draft stays until it is corrected."""
    _ctx, page = officer
    title = f"未选类别 {uuid.uuid4().hex[:6]}"
    page.locator("#id_title").fill(title)  # no category: the server refuses
    page.locator("[name='parties-0-name']").fill("王拒收")
    page.locator("[data-testid=submit-case]").click()
    expect(page.locator("[data-testid=offline-errors]")).to_be_visible()
    expect(page.locator("#id_category.is-invalid")).to_have_count(1)
    expect(page.locator("[data-testid=offline-draft-status]")).to_have_count(1)
    page.locator("#id_category").select_option("family")
    page.locator("[data-testid=submit-case]").click()
    expect(page).to_have_url(re.compile(rf"/c/{OWN.code}/mediation/\d+/$"))
    assert len(server_cases(title)) == 1
