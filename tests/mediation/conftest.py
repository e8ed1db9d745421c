"""Fixtures of the mediation tests: the people who work cases in compound A, the roster, a case maker."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

from district.models import Area
from tests.conftest import CITY
from tests.factories import RoleFactory

# A fixed moment for cases whose deadlines the tests reason about (Asia/Shanghai: 2026-03-02 10:00).
REGISTERED_AT = datetime.datetime(2026, 3, 2, 2, 0, tzinfo=datetime.UTC)


@pytest.fixture
def officer(compound_a: Any) -> Any:
    """The beat officer of compound A: records cases, sees identifiers unmasked."""
    return RoleFactory(user__username="officer-a", role="beat_officer", compound=compound_a).user


@pytest.fixture
def grid_worker(compound_a: Any) -> Any:
    """A grid worker of compound A: records cases, sees identifiers masked."""
    return RoleFactory(user__username="grid-a", role="grid_worker", compound=compound_a).user


def _mediator(username: str, compound: Any, **fields: Any) -> Any:
    from mediators.models import Mediator

    user = RoleFactory(user__username=username, role="mediator", compound=compound).user
    return Mediator.objects.create(
        city=Area.objects.get(code=CITY), name=fields.pop("name", username), user=user, **fields
    )


@pytest.fixture
def mediator_a(compound_a: Any) -> Any:
    """A roster mediator with a sign-in and the mediator role at compound A."""
    return _mediator("mediator-a", compound_a, name="调解员甲", kind="lawyer", specialties=["neighbour"])


@pytest.fixture
def mediator_a2(compound_a: Any) -> Any:
    """Another mediator of compound A (not assigned to the case under test)."""
    return _mediator("mediator-a2", compound_a, name="调解员乙", kind="peoples_mediator", home_province="浙江")


@pytest.fixture
def mediator_b(compound_b: Any) -> Any:
    """A mediator of compound B only."""
    return _mediator("mediator-b", compound_b, name="调解员丙", kind="community_worker")


@pytest.fixture
def make_case(officer: Any) -> Callable[..., Any]:
    """``make_case(**overrides)``: a case registered by the officer in the current compound's schema."""
    from mediation.actions import PartyData, do_register_case

    def make(**overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "source": "walk_in",
            "category": "neighbour",
            "title": "楼上漏水",
            "description": "502 漏水至 402",
            "parties": [PartyData(role="applicant", name="王芳"), PartyData(role="respondent", name="李强")],
            "now": REGISTERED_AT,
        }
        fields.update(overrides)
        acting_user = fields.pop("acting_user", officer)
        case, _created = do_register_case(acting_user=acting_user, **fields)
        return case

    return make


@pytest.fixture(autouse=True)
def _english(english: None) -> None:
    """Every test of this directory runs in English (see ``english`` in tests/shared_fixtures.py)."""
