"""A refused request is one line in the server log; a server error keeps its traceback."""

from __future__ import annotations

import logging
import sys

import pytest

from tests.factories import RoleFactory

pytestmark = pytest.mark.django_db


def console_handler() -> logging.Handler:
    """The handler the settings' LOGGING attaches to the root logger (what daphne's log shows)."""
    return next(h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler) and h.filters)


def test_a_403_is_logged_as_one_line(client, compound_a, caplog):
    mediator = RoleFactory(user__username="tiaojie-log", role="mediator", compound=compound_a).user
    client.force_login(mediator)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/c/370102001001/persons/new/").status_code == 403
    record = next(r for r in caplog.records if r.name == "django.request")
    # Django logs the refusal with its PermissionDenied attached; the console handler, which
    # sees the record first, kept the record and dropped the exception.
    assert record.exc_info is None and record.status_code == 403
    line = console_handler().format(record)
    assert "Forbidden" in line and "\n" not in line and "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error", None, sys.exc_info()
        )
    record.status_code = 500
    handler = console_handler()
    assert handler.filter(record)
    assert "Traceback" in handler.format(record)


def test_the_secret_key_is_generated_once_and_kept(tmp_path):
    from district.secret_key import installation_key

    path = tmp_path / "data" / "secret_key"
    first = installation_key(path)
    assert len(first) >= 50 and installation_key(path) == first
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("key", "debug", "hosts", "refused"),
    [
        ("dev-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz", False, ["police.example.cn"], True),
        ("short", False, ["police.example.cn"], True),
        ("dev-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz", False, ["127.0.0.1", "localhost"], False),
        ("dev-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz", True, ["police.example.cn"], False),
        ("x" * 64, False, ["police.example.cn"], False),
    ],
)
def test_a_public_key_is_refused_on_a_public_host(key, debug, hosts, refused):
    from district.secret_key import InsecureSecretKeyError, check_secret_key

    if refused:
        with pytest.raises(InsecureSecretKeyError):
            check_secret_key(key, debug=debug, allowed_hosts=hosts)
    else:
        check_secret_key(key, debug=debug, allowed_hosts=hosts)


def test_the_server_refuses_to_start_with_the_old_development_key(tmp_path):
    import os
    import subprocess

    env = {
        **os.environ,
        "SECRET_KEY": "dev-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "police.example.cn",
        "DEBUG": "0",
        "DATABASE_URL": "postgres://localhost/unused",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "district.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "InsecureSecretKeyError" in done.stderr
