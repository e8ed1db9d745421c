"""This suite asserts English messages (see ``english`` in tests/shared_fixtures.py)."""

import pytest


@pytest.fixture(autouse=True)
def _english(english: None) -> None:
    """Every test of this directory runs in English."""
