"""Fixtures of the permission matrix (``tests/district/matrix.py``), and its case count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from django.db import connection
from django.test import Client

from district.models import Area
from tenants.models import Compound

if TYPE_CHECKING:
    from tests.district.matrix import World

MATRIX_TESTS = {"test_page_matrix": "pages", "test_api_matrix": "API"}
_counts = pytest.StashKey[dict[str, int]]()


def _create_far_compound(code: str, made_areas: list[Area]) -> Compound:
    from tenants.actions import do_create_compound
    from tests.conftest import CITY
    from tests.district.matrix import COMPOUND_NAMES, OTHER_CITY, OTHER_DISTRICT

    tree = OTHER_CITY if code == OTHER_CITY["compound"] else OTHER_DISTRICT
    parent = None if "city" in tree else Area.objects.get(code=CITY)
    for level in ("city", "district", "street"):
        if level in tree:
            area_code, name = tree[level]
            parent = Area.objects.create(level=level, code=area_code, name=name, parent=parent)
            made_areas.append(parent)
    return do_create_compound(street=parent, name=COMPOUND_NAMES[code], code=code)


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """The far compounds, records in every compound and the actors' sessions, for one module.

    Committed once, outside the cases' transactions (each case rolls back what it changed),
    and removed after the module: provisioning two schemas and seeding every case afresh
    would cost more than the requests under test.
    """
    from tests.district.matrix import COMPOUND_NAMES, assert_world_compounds_empty, build_world, latest_audit_row

    made_areas: list[Area] = []
    made: list[Compound] = []
    with django_db_blocker.unblock():
        assert_world_compounds_empty()
        audit_mark = latest_audit_row()
        try:
            for code in COMPOUND_NAMES:
                made.append(_create_far_compound(code, made_areas))
            world = build_world()
        except BaseException:
            _remove_world(audit_mark, made, made_areas)
            raise
    try:
        yield world
    finally:
        with django_db_blocker.unblock():
            _remove_world(audit_mark, made, made_areas)


def _remove_world(audit_mark: int, made: list[Compound], made_areas: list[Area]) -> None:
    from tenants.actions import do_delete_compound
    from tests.district.matrix import remove_world

    connection.set_schema_to_public()
    remove_world(audit_mark)
    for far in made:
        do_delete_compound(far)
    for area in reversed(made_areas):  # streets before districts before the city
        area.delete()


@pytest.fixture(scope="module")
def matrix_client() -> Client:
    """One test client for a module's cases (each case clears its cookies).

    A new client loads the middleware again on its first request, and WhiteNoise then walks
    the static files (``WHITENOISE_USE_FINDERS``): ~20 ms a case.
    """
    return Client()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    counts: dict[str, int] = {}
    for item in items:
        part = MATRIX_TESTS.get(getattr(item, "originalname", ""))
        if part is not None:
            counts[part] = counts.get(part, 0) + 1
    config.stash[_counts] = counts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The matrix's case count, for the issue note: pages, API and total."""
    counts = config.stash.get(_counts, {})
    if counts:
        parts = ", ".join(f"{n} {part}" for part, n in counts.items())
        terminalreporter.write_line(f"permission matrix: {sum(counts.values())} cases ({parts})")
