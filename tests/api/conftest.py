"""Counts the cases the schema fuzzer sent, per user, and prints them after the run (issue #7)."""

from __future__ import annotations

from collections import Counter

import pytest

FUZZ_CASES = pytest.StashKey[Counter]()
FUZZ_SECONDS = pytest.StashKey[float]()
FUZZ_MODULE = "tests/api/test_schemathesis.py::"
_config: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FUZZ_CASES] = Counter()
    config.stash[FUZZ_SECONDS] = 0.0
    _config.append(config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _config and report.nodeid.startswith(FUZZ_MODULE):
        _config[0].stash[FUZZ_SECONDS] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    counts = config.stash.get(FUZZ_CASES, Counter())
    if counts:
        per_user = ", ".join(f"{user} {n}" for user, n in sorted(counts.items()))
        seconds = config.stash.get(FUZZ_SECONDS, 0.0)
        terminalreporter.write_line(f"schemathesis: {sum(counts.values())} cases ({per_user}) in {seconds:.0f} s")
