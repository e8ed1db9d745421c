"""Browser tests: a real daphne server and job worker on their own seeded database, driven by headless Chromium.

Why not pytest-django's ``live_server``: it flushes the database after every test, which would
truncate the public schema (areas, compounds) the rest of the suite shares. Instead one
session-wide server runs against ``<database>_e2e``, a database created, migrated and seeded
(``seed_demo``) for this run and dropped at its end. The browser only ever talks HTTP to that
server, so these tests never touch Django's test database.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from psycopg2 import sql

BASE_DIR = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_PASSWORD = "jinan-demo-2026"
# Enough for the pages under test (the first 4 demo compounds span 4 streets); small, so the
# seed takes seconds.
SEED_COMPOUNDS = 4
SEED_ARGS = ["--compounds", str(SEED_COMPOUNDS), "--persons-per-compound", "30"]
SERVER_START_TIMEOUT = 30.0
HOME_URL = re.compile(r"^http://127\.0\.0\.1:\d+/$")
# Playwright's auto-waiting default (5 s) is tight for the first page of a freshly started server.
expect.set_options(timeout=10_000)


def _base_database_url() -> str:
    """The suite's database URL: ``DATABASE_URL``, else the one ``make test`` would choose."""
    if url := os.environ.get("DATABASE_URL"):
        return url
    from district.embedded_db import test_database_url

    return test_database_url()


def with_database(url: str, name: str) -> str:
    """``url`` with its database name replaced; host, port, credentials and query are kept.

    Works for TCP URLs (``postgres://user@host:5432/db``) and for unix-socket URLs whose host
    is a query parameter (``postgresql://user:@/db?host=/run/pg``).
    """
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    """The database name of a PostgreSQL URL."""
    return urlsplit(url).path.lstrip("/")


def _run_maintenance(url: str, statement: sql.Composable) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server's ``postgres`` database."""
    conn = psycopg2.connect(with_database(url, "postgres"))
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def _drop_database(url: str, name: str) -> None:
    # WITH (FORCE) (PostgreSQL 13+): a server that did not stop cleanly may still hold connections.
    _run_maintenance(url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> None:
    """Run ``manage.py`` with the e2e database; fail the session with its output if it fails."""
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/healthz`` until it answers 200; fail early if the server exits."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"daphne exited with {server.returncode}:\n{log.read_text()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        # Waiting for a process to start listening, not for application state: a short poll.
        time.sleep(0.1)
    pytest.fail(f"daphne did not answer /healthz within {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()}")


@pytest.fixture(autouse=True)
def _public_schema_after_each_test() -> None:
    """Override the suite-wide fixture: browser tests use no in-process database.

    The suite's version requests ``db``, which would build Django's test database (and its
    compounds) only to leave it unused here.
    """


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful stop), then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a daphne server on a freshly migrated and seeded ``<database>_e2e``.

    A job worker (``manage.py procrastinate worker``) runs beside it, as with ``make run``:
    uploads are imported by it.
    """
    base_url_db = _base_database_url()
    name = f"{database_name(base_url_db)}_e2e"
    url = with_database(base_url_db, name)
    _drop_database(base_url_db, name)
    _run_maintenance(base_url_db, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "district.settings", "DEBUG": "false"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        _manage(env, "migrate_all", "-v0")
        _manage(env, "seed_demo", *SEED_ARGS)
        port = _free_port()
        logs = tmp_path_factory.mktemp("e2e")
        log = logs / "daphne.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "district.asgi:application"],
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(server)
        with (logs / "worker.log").open("wb") as out:
            worker = subprocess.Popen(
                [str(VENV_BIN / "python"), "manage.py", "procrastinate", "worker"],
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(worker)
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base_url, server, log)
        yield base_url
    finally:
        for process in processes:
            _stop(process)
        _drop_database(base_url_db, name)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Debian Chromium for the whole session (no downloaded browser)."""
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def context(browser: Browser, e2e_server: str) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (no cookies carried over), Chinese locale, desktop size."""
    ctx = browser.new_context(base_url=e2e_server, locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def login(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form and wait for the home page."""
    page.goto("/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("form button[type=submit]").click()
    expect(page.locator("[data-testid=username]")).to_have_text(username)
    expect(page).to_have_url(HOME_URL)


@contextmanager
def phone_profile(browser: Browser, e2e_server: str, width: int, height: int, scale: int = 2) -> Iterator[Page]:
    """A page in a phone profile of ``width`` × ``height`` CSS pixels (touch, mobile viewport meta honoured)."""
    ctx = browser.new_context(
        base_url=e2e_server,
        locale="zh-CN",
        viewport={"width": width, "height": height},
        device_scale_factor=scale,
        is_mobile=True,
        has_touch=True,
    )
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture
def phone_page(browser: Browser, e2e_server: str) -> Iterator[Page]:
    """A page in a phone-sized profile (375 × 812 CSS pixels)."""
    with phone_profile(browser, e2e_server, 375, 812) as page:
        yield page


def upload_persons(page: Page, compound_code: str, rows: list[tuple[str, str]], tmp_path: Path) -> int:
    """Download the persons template from the import page, fill ``(name, ID number)`` rows, upload it.

    Returns the sheet row number of the first data row (error reports name rows by it).
    """
    from openpyxl import load_workbook

    page.goto(f"/c/{compound_code}/import/")
    with page.expect_download() as download:
        page.locator("main a[href$='/persons/template.xlsx']").click()
    template = tmp_path / "template.xlsx"
    download.value.save_as(template)
    workbook = load_workbook(template)
    sheet = workbook.worksheets[0]
    header = next(row for row in sheet.iter_rows() if any(cell.value == "姓名" for cell in row))
    column = {cell.value: cell.column for cell in header if cell.value}
    first = header[0].row + 1
    for offset, (name, id_number) in enumerate(rows):
        sheet.cell(row=first + offset, column=column["姓名"], value=name)
        sheet.cell(row=first + offset, column=column["证件号码"], value=id_number)
    filled = tmp_path / "persons.xlsx"
    workbook.save(filled)
    page.locator("select[name=kind]").select_option("persons")
    page.locator("input[name=file]").set_input_files(filled)
    # The upload form's button: the page also has one export form (with a reason) per kind.
    page.locator("main form[enctype='multipart/form-data'] button[type=submit]").click()
    return first
