"""The generated permission matrix of the API: every endpoint × action × actor (``matrix.py``)."""

from __future__ import annotations

import pytest

from district.scope import covers_compound
from tests.conftest import CODE_A
from tests.district.matrix import API_CASES, ROLE_NODES, Case, World, compound, ids, matrix, outside, run_case

pytestmark = pytest.mark.django_db

ROWS = matrix(API_CASES)


@pytest.mark.parametrize(("case", "actor", "scope", "status"), ROWS, ids=ids(ROWS))
def test_api_matrix(matrix_client, matrix_world: World, case: Case, actor: str, scope: str, status: int) -> None:
    run_case(matrix_client, matrix_world, case, actor, scope, status)


@pytest.mark.parametrize("role", list(ROLE_NODES))
def test_matrix_scopes_are_what_they_claim(matrix_world: World, role: str) -> None:
    """The matrix's "in" compound is covered by each role, its "out" compound is not."""
    user = matrix_world.users[role]
    assert covers_compound(user, compound(CODE_A))
    assert not covers_compound(user, compound(outside(role)))
