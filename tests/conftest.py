"""Test set-up: a real PostgreSQL with the compound template and two compounds, A and B.

The two compounds are created once per session (schema cloning is the slow part); each
test runs in a transaction that is rolled back, schemas' rows included.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from district.models import Area
from tenants.models import Compound

CITY, DISTRICT, STREET_A, STREET_B = "370100", "370102", "370102001", "370102002"
CODE_A, CODE_B = "370102001001", "370102002001"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker) -> None:
    """Build the template schema, a city → district → two streets, and compounds A and B."""
    from tenants.actions import do_create_compound
    from tenants.provisioning import ensure_template_schema

    with django_db_blocker.unblock():
        ensure_template_schema()
        city = Area.objects.create(level="city", code=CITY, name="济南市")
        district = Area.objects.create(level="district", code=DISTRICT, name="历下区", parent=city)
        street_a = Area.objects.create(level="street", code=STREET_A, name="解放路街道", parent=district)
        street_b = Area.objects.create(level="street", code=STREET_B, name="千佛山街道", parent=district)
        do_create_compound(street=street_a, name="阳光花园", code=CODE_A, population=1200)
        do_create_compound(street=street_b, name="翠竹小区", code=CODE_B, population=800)


@pytest.fixture(autouse=True)
def _public_schema_after_each_test(db) -> Iterator[None]:
    yield
    connection.set_schema_to_public()


@pytest.fixture
def compound_a(db) -> Compound:
    return Compound.objects.get(code=CODE_A)


@pytest.fixture
def compound_b(db) -> Compound:
    return Compound.objects.get(code=CODE_B)


@pytest.fixture
def street_a(db) -> Area:
    return Area.objects.get(code=STREET_A)


@pytest.fixture
def in_a(compound_a) -> Iterator[Compound]:
    """Run the test body inside compound A's schema."""
    with tenant_context(compound_a):
        yield compound_a


@pytest.fixture
def superuser(db):
    from tests.factories import UserFactory

    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def admin_a(street_a):
    """A street-office admin of street A (covers compound A, not B)."""
    from tests.factories import RoleFactory

    return RoleFactory(user__username="street-a", role="street_office", area=street_a).user


@pytest.fixture
def staff_a(compound_a):
    """Property staff of compound A only."""
    from tests.factories import RoleFactory

    return RoleFactory(user__username="staff-a", role="property_staff", compound=compound_a).user
