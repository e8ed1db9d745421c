"""The generated permission matrix of the pages: every URL × GET/POST × actor (``matrix.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from tests.district.matrix import PAGE_CASES, Case, World, ids, matrix, run_case

pytestmark = pytest.mark.django_db

ROWS = matrix(PAGE_CASES)


@pytest.fixture(scope="module", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """The login page's case signs in with a password: MD5, not 1M rounds of PBKDF2."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.mark.parametrize(("case", "actor", "scope", "status"), ROWS, ids=ids(ROWS))
def test_page_matrix(matrix_client, matrix_world: World, case: Case, actor: str, scope: str, status: int) -> None:
    run_case(matrix_client, matrix_world, case, actor, scope, status)
