"""Test set-up: a real PostgreSQL with the compound template and two compounds, A and B.

The two compounds are created once per session (schema cloning is the slow part); each
test runs in a transaction that is rolled back, schemas' rows included.

Tests whose data another process must see (a job worker) commit instead: see
:func:`committed_db`, and :func:`run_jobs` for running queued jobs in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django_tenants.utils import tenant_context
from pytest_django import DjangoDbBlocker

from district.models import Area
from tenants.models import Compound

pytest_plugins = ["tests.shared_fixtures"]

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


# --- Committed data and the job worker --------------------------------------------------------


def _empty_job_queue() -> None:
    with connection.cursor() as cursor:
        # DELETE, not TRUNCATE: no exclusive lock to wait for behind a worker still shutting down.
        for table in ("procrastinate_periodic_defers", "procrastinate_events", "procrastinate_jobs"):
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("DELETE FROM procrastinate_workers")


@pytest.fixture
def committed_db(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """Database access without the rolled-back transaction: every write is committed at once.

    For tests whose data another process or thread must see (a job worker). A module of such
    tests overrides ``db`` (which every test gets, through ``_public_schema_after_each_test``)
    with a fixture that requests this one; pytest-django still sees ``db`` and sets up the test
    database.
    pytest-django's ``transaction=True`` cannot serve here: its flush TRUNCATEs the public
    tables, which the compound schemas' guardian tables reference, and PostgreSQL refuses.
    So nothing is flushed: each test removes what it creates (``fresh_compound`` and
    ``committed_superuser`` do; the job queue is emptied here, before and after).
    """
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        _empty_job_queue()
        try:
            yield
        finally:
            connection.set_schema_to_public()
            _empty_job_queue()


@pytest.fixture
def fresh_compound(committed_db: None) -> Iterator[Compound]:
    """A committed compound of street A with an empty schema; dropped with its audit rows after."""
    from district.models import AuditEntry
    from tenants.actions import do_create_compound, do_delete_compound

    compound = do_create_compound(street=Area.objects.get(code=STREET_A), name="任务测试小区")
    try:
        yield compound
    finally:
        connection.set_schema_to_public()
        AuditEntry.objects.filter(compound=compound).delete()
        do_delete_compound(compound)


@pytest.fixture
def committed_superuser(committed_db: None) -> Iterator[Any]:
    """A committed superuser, deleted with its audit rows after the test."""
    from district.models import AuditEntry
    from tests.factories import UserFactory

    user = UserFactory(username="jobs-root", is_superuser=True, is_staff=True)
    user.save()
    try:
        yield user
    finally:
        connection.set_schema_to_public()
        AuditEntry.objects.filter(user=user).delete()
        user.delete()


@pytest.fixture
def test_database_url(committed_db: None) -> str:
    """The URL of the test database, for a process a test starts (``DATABASE_URL``)."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        from district.embedded_db import database_url

        base = database_url()
    return urlunsplit(urlsplit(base)._replace(path=f"/{connection.settings_dict['NAME']}"))


@pytest.fixture
def run_jobs(committed_db: None) -> Callable[..., None]:
    """A function that runs the queued jobs in this process, as a worker does, until none is left.

    A real procrastinate worker (its own connection pool, its job loop and task middleware), with
    ``wait=False``; keyword arguments go to ``App.run_worker``.
    """
    from procrastinate.contrib.django import app

    def run(**options: Any) -> None:
        settings_dict = connection.settings_dict
        max_age = settings_dict["CONN_MAX_AGE"]
        # Sync tasks run in the worker's threads, each on a Django connection of its own: with
        # CONN_MAX_AGE 0 procrastinate's task middleware closes it after the job, instead of
        # leaving it open past the test (where it would block dropping the test database).
        settings_dict["CONN_MAX_AGE"] = 0
        try:
            with app.replace_connector(app.connector.get_worker_connector()):
                app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False, **options)
        finally:
            settings_dict["CONN_MAX_AGE"] = max_age
            connection.set_schema_to_public()

    return run
