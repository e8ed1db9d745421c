"""Fixtures several test modules share: events delivered on commit, and the probe limiter's clock.

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from district import probes
from district.realtime import capture_events

Sent = list[tuple[list[str], dict[str, Any]]]
PROBE_START = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def committing(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """``with committing() as sent:`` runs the block as if it committed; ``sent`` holds what was delivered.

    The test's own transaction never commits, so the on-commit callbacks are run at the end
    of the block, as a real commit would run them.
    """

    @contextmanager
    def run() -> Iterator[Sent]:
        with capture_events() as sent, django_capture_on_commit_callbacks(execute=True):
            yield sent

    return run


class Clock:
    """The probe limiter's clock, moved by the test (``clock.advance(minutes=11)``): nothing sleeps."""

    def __init__(self) -> None:
        self.now = PROBE_START

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """``district.probes.clock`` replaced by a :class:`Clock` standing at ``PROBE_START``."""
    fake = Clock()
    monkeypatch.setattr(probes, "clock", fake)
    return fake


@pytest.fixture
def english(settings: Any) -> Iterator[None]:
    """English messages, in actions (the active language) and in pages (the default language).

    The suites of the access, alerts, mediation, roster and safety apps assert English
    messages; the registry's suites and the browser tests cover the Chinese ones.
    """
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
