"""A dispute from intake to agreement on a beat officer's phone (issue #11, "must show"), at 390 × 844.

The demo beat officer (minjing) records a case with two parties on the intake page, accepts it,
starts mediating, schedules a session, records the agreement, and the statistics page shows it.
The public figures the statistics sum are refreshed by calling
``mediation.figures.do_refresh_figures`` for the compound in a ``manage.py shell`` against the
server's database (deterministic; the job worker beside the server would do the same a moment
later), then the page is compared with the compound's schema, queried directly.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from playwright.sync_api import Browser, Page, expect
from psycopg2 import sql

from tenants.demo import COMPOUNDS
from tenants.models import schema_name_for
from tests.e2e.conftest import (
    BASE_DIR,
    VENV_BIN,
    _base_database_url,
    database_name,
    login,
    phone_profile,
    with_database,
)
from tests.e2e.test_phone import HEIGHT, HORIZONTAL_SCROLL, WIDTH

pytestmark = pytest.mark.e2e

OWN = COMPOUNDS[0]  # minjing's compound
REFRESH = """
from mediation.figures import do_refresh_figures
from tenants.models import Compound
from django_tenants.utils import tenant_context
compound = Compound.objects.get(code={code!r})
with tenant_context(compound):
    print("ROWS", do_refresh_figures(compound))
"""


def server_url() -> str:
    base = _base_database_url()
    return with_database(base, f"{database_name(base)}_e2e")


def refresh_figures() -> None:
    """``do_refresh_figures`` of the compound, in the server's database (another process)."""
    env = {**os.environ, "DATABASE_URL": server_url(), "DJANGO_SETTINGS_MODULE": "district.settings", "DEBUG": "false"}
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", REFRESH.format(code=OWN.code)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ROWS" in result.stdout


def count_cases(category: str, status: str) -> int:
    conn = psycopg2.connect(server_url())
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                sql.SQL("SELECT count(*) FROM {}.mediation_case WHERE category = %s AND status = %s").format(
                    sql.Identifier(schema_name_for(OWN.code))
                ),
                [category, status],
            )
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def phone(browser: Browser, e2e_server: str) -> Iterator[Page]:
    with phone_profile(browser, e2e_server, WIDTH, HEIGHT, scale=1) as page:
        yield page


def assert_fits(page: Page) -> None:
    scroll_width, client_width = page.evaluate(HORIZONTAL_SCROLL)
    assert scroll_width <= client_width, f"{page.url} is {scroll_width}px wide in a {client_width}px viewport"


def test_officer_records_a_case_to_agreement_and_the_statistics_show_it(phone: Page) -> None:
    login(phone, "minjing")
    title = f"追尾剐蹭 {uuid.uuid4().hex[:6]}"
    phone.goto(f"/c/{OWN.code}/mediation/new/")
    assert_fits(phone)
    phone.locator("#id_category").select_option("traffic")
    phone.locator("#id_title").fill(title)
    phone.locator("[name='parties-0-name']").fill("赵车主")
    phone.locator("[name='parties-1-name']").fill("钱车主")
    phone.locator("[data-testid=submit-case]").click()
    expect(phone).to_have_url(re.compile(rf"/c/{OWN.code}/mediation/\d+/$"))
    expect(phone.locator("[data-testid=case-title]")).to_have_text(title)
    expect(phone.locator("[data-testid=parties] [data-testid=party]")).to_have_count(2)
    assert_fits(phone)

    for status in ("accepted", "mediating"):
        phone.locator(f"[data-testid=to-{status}]").click()
        expect(phone.locator(f"[data-testid=to-{status}]")).to_have_count(0)

    phone.locator("summary", has_text=re.compile("安排|Schedule")).click()
    session = phone.locator("[data-testid=session-form]")
    session.locator("[name=scheduled_at]").fill("2026-12-01T10:00")
    session.locator("[name=place]").fill("警务室调解室")
    session.locator("[name=attendees]").fill("赵车主、钱车主、民警")
    session.locator("button").click()
    expect(phone.locator("[data-testid=sessions] [data-testid=session]")).to_have_count(1)

    phone.locator("summary", has_text=re.compile("协议|agreement")).click()
    agreement = phone.locator("[data-testid=agreement-form]")
    agreement.locator("[name=terms]").fill("钱车主赔偿维修费八百元，双方无其他争议。")
    agreement.locator("[name=amount]").fill("800")
    agreement.locator("[name=signed_on]").fill("2026-11-29")
    agreement.locator("button").click()
    expect(phone.locator("[data-testid=agreements] [data-testid=agreement]")).to_have_count(1)
    expect(phone.locator("[data-testid=case-status]")).to_contain_text(re.compile("达成|Agreement"))
    assert_fits(phone)

    refresh_figures()
    expected = count_cases("traffic", "agreement")
    assert expected >= 1
    phone.goto(f"/mediation-stats/?compound={OWN.code}")
    assert_fits(phone)
    expect(phone.locator("[data-testid=stats-node]")).to_have_text(OWN.name)
    row = phone.locator("tr[data-category=traffic]")
    expect(row).to_have_count(1)
    statuses = phone.locator("[data-testid=stats-matrix] thead th").all_inner_texts()
    column = next(i for i, text in enumerate(statuses) if re.search("达成|Agreement", text))
    expect(row.locator("th, td").nth(column)).to_have_text(str(expected))
    expect(phone.locator("[data-testid=stat-success]")).to_contain_text("%")
    expect(phone.locator("[data-testid=stats-definitions]")).to_contain_text("÷")
