"""Provisioning guarded (issue #6): replayed DDL stays replayable, faithful, and migrate_all catches up.

New compound schemas are built by replaying the tenant migrations' DDL (tenants/provisioning.py),
~8x faster than running the migrations (docs/benchmarks.md). These tests fail loudly when that
stops being true: a migration that cannot be replayed, a replay that builds something other than
the migrations would, or a compound left behind by ``migrate_all``.

Every schema here is created inside the test's transaction: PostgreSQL's DDL is transactional,
so the rollback at the end of each test drops it, on failure too. ``_nothing_left_behind`` checks
that after the module and removes anything a future change might leak.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.apps import AppConfig, apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings

from district.management.commands.migrate_all import schemas_with_pending
from tenants.actions import do_create_compound, do_delete_compound
from tenants.models import Compound
from tenants.provisioning import (
    MIGRATE_FALLBACK_SETTING,
    SCRATCH_SCHEMA,
    TenantMigrationsNotReplayableError,
    provision_schema,
    template_schema,
    tenant_ddl,
)
from tests.tenants.structure import assert_same_structure, rows_of

PROBE_APP = "tests.tenants.replay_probe"
PROBE_LABEL = "replay_probe"
SCHEMA_PREFIX = "probe\\_"  # LIKE pattern: every schema these tests create by hand starts with "probe_"
COMPOUND_NAMES = ("落后小区", "最新小区")  # the compounds the migrate_all test creates


@contextmanager
def probe_app(history: str) -> Iterator[None]:
    """Install the throwaway tenant app with one of its migration histories, for one block.

    The app config is added to the live app registry rather than through
    ``override_settings(INSTALLED_APPS=...)``: that rebuilds the registry and runs every app's
    ``ready()`` again, which procrastinate's refuses. ``tenant_ddl`` is cached per process:
    cleared on the way in so it sees the probe, and on the way out so no later test replays it.
    """
    config = AppConfig.create(PROBE_APP)
    config.apps = apps
    config.import_models()
    apps.app_configs[config.label] = config
    apps.clear_cache()
    try:
        with override_settings(
            TENANT_APPS=[*settings.TENANT_APPS, PROBE_APP],
            MIGRATION_MODULES={
                **getattr(settings, "MIGRATION_MODULES", {}),
                PROBE_LABEL: f"{PROBE_APP}.migrations.{history}",
            },
        ):
            tenant_ddl.cache_clear()
            yield
    finally:
        del apps.app_configs[config.label]
        apps.all_models.pop(config.label, None)
        apps.clear_cache()
        tenant_ddl.cache_clear()


def migrate_new_schema(schema: str) -> None:
    """Build ``schema`` the slow, reference way: run every tenant migration into it."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()


def recorded_migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        return set(cursor.fetchall())


def schema_exists(schema: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
        return cursor.fetchone() is not None


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_behind(django_db_setup, django_db_blocker) -> Iterator[None]:
    """After the module: nothing these tests create survives the rollbacks; removed if it did."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s OR nspname = %s",
            [f"{SCHEMA_PREFIX}%", SCRATCH_SCHEMA],
        )
        schemas = [row[0] for row in cursor.fetchall()]
        for schema in schemas:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        cursor.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE %s",
            [f"{PROBE_LABEL}\\_%"],
        )
        tables = cursor.fetchall()
        for schema, table in tables:
            cursor.execute(f'DROP TABLE "{schema}"."{table}" CASCADE')
        cursor.execute("DELETE FROM django_migrations WHERE app = %s", [PROBE_LABEL])
        records = cursor.rowcount
        compounds = list(Compound.objects.filter(name__in=COMPOUND_NAMES))
        for compound in compounds:
            do_delete_compound(compound)
    assert not (schemas or tables or records or compounds), f"left behind: {schemas=} {tables=} {records=} {compounds=}"


# 1. Replayable -------------------------------------------------------------------------------


def test_tenant_migrations_on_disk_are_replayable(db):
    tenant_ddl.cache_clear()  # taken afresh from the migrations on disk, whatever ran before
    ddl = tenant_ddl()
    assert ddl.replayable, ddl.advice()
    assert ("registry", "0001_initial") in ddl.migrations
    assert "CREATE TABLE" in ddl.sql


@pytest.mark.django_db
def test_a_migration_that_cannot_be_replayed_stops_provisioning_by_default():
    with probe_app("run_python"):
        ddl = tenant_ddl()
        assert not ddl.replayable
        assert ddl.blockers == ((PROBE_LABEL, "0002_seed_main_gate"),)
        with pytest.raises(
            TenantMigrationsNotReplayableError, match=re.escape("replay_probe.0002_seed_main_gate")
        ) as refused:
            provision_schema("probe_refused")
        assert MIGRATE_FALLBACK_SETTING in str(refused.value)
        assert not schema_exists("probe_refused")


@pytest.mark.django_db
def test_the_migrate_fallback_works_when_allowed_and_says_so(caplog):
    with probe_app("run_python"), override_settings(**{MIGRATE_FALLBACK_SETTING: True}):
        with caplog.at_level(logging.WARNING, logger="tenants.provisioning"):
            provision_schema("probe_fallback")
        [warning] = [r for r in caplog.records if r.name == "tenants.provisioning"]
        assert warning.levelno == logging.WARNING
        assert "probe_fallback" in warning.getMessage()
        assert "replay_probe.0002_seed_main_gate" in warning.getMessage()
        # The data migration really ran, and the schema counts as up to date.
        with connection.cursor() as cursor:
            cursor.execute('SELECT code FROM "probe_fallback".replay_probe_gate')
            assert cursor.fetchall() == [("main",)]
        assert schemas_with_pending(["probe_fallback"]) == []


@pytest.mark.django_db
def test_an_elidable_data_step_squashed_away_is_replayable_and_recorded_like_migrate():
    """The way out that the advice names: mark the data step elidable and squash."""
    with probe_app("squashed"):
        ddl = tenant_ddl()
        assert ddl.replayable, ddl.advice()
        provision_schema("probe_squash_replayed")
        migrate_new_schema("probe_squash_migrated")
        assert_same_structure("probe_squash_replayed", "probe_squash_migrated")
        assert recorded_migrations("probe_squash_replayed") == recorded_migrations("probe_squash_migrated")
        assert schemas_with_pending(["probe_squash_replayed"]) == []


# 2. Replay fidelity --------------------------------------------------------------------------


@pytest.mark.django_db
def test_replay_builds_what_the_migrations_build():
    """Dropped unique rules, added columns with defaults, altered and owned sequences."""
    with probe_app("fidelity"):
        provision_schema("probe_replayed")
        migrate_new_schema("probe_migrated")
        # The reference really shows each case, or the comparison below would prove nothing.
        gate_constraints = [
            c for c in rows_of("probe_migrated", "constraints") if c["table_name"] == "replay_probe_gate"
        ]
        assert not [c for c in gate_constraints if c["kind"] == "u"], "the unique rules should all be gone"
        columns = {
            (c["table_name"], c["column_name"]): c["column_default"] for c in rows_of("probe_migrated", "columns")
        }
        assert columns["replay_probe_gate", "capacity"] == "None", "a plain default leaves no database default"
        assert columns["replay_probe_gate", "kind"] == "'main'::character varying"
        assert columns["replay_probe_gate", "opened_at"] == "statement_timestamp()"
        assert columns["replay_probe_pass", "valid_days"] == "7"
        sequences = {s["name"]: s for s in rows_of("probe_migrated", "sequences")}
        assert sequences["replay_probe_pass_id_seq"]["type"] == "bigint"
        assert sequences["replay_probe_pass_id_seq"]["ownership"] == "i"  # identity
        ticket = sequences["probe_gate_ticket_seq"]
        assert (ticket["type"], ticket["start"], ticket["increment"]) == ("integer", "1000", "5")
        assert (ticket["owner_table"], ticket["owner_column"], ticket["ownership"]) == (
            "replay_probe_gate",
            "capacity",
            "a",
        )

        assert_same_structure("probe_replayed", "probe_migrated")
        assert recorded_migrations("probe_replayed") == recorded_migrations("probe_migrated")


# 3. migrate_all ------------------------------------------------------------------------------


def unapply_app(schema: str, app_label: str) -> tuple[str, str]:
    """Undo all of ``app_label``'s migrations in ``schema`` (their DDL and django_migrations rows).

    All of them, not only the latest: a latest migration without DDL (a validator, a max_length
    on a text column) would leave nothing to see. Returns the latest migration, now unapplied.
    """
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    [latest] = graph.leaf_nodes(app_label)
    connection.set_schema(schema)
    try:
        MigrationExecutor(connection).migrate([(app_label, None)])
    finally:
        connection.set_schema_to_public()
    return latest


def test_migrate_all_migrates_only_the_compounds_with_pending_migrations(street_a):
    behind, current = (do_create_compound(street=street_a, name=name) for name in COMPOUND_NAMES)
    latest = unapply_app(behind.schema_name, "registry")
    assert latest not in recorded_migrations(behind.schema_name)
    assert "registry_person" not in {t["table_name"] for t in rows_of(behind.schema_name, "tables")}
    assert schemas_with_pending([behind.schema_name, current.schema_name]) == [behind.schema_name]

    out = io.StringIO()
    call_command("migrate_all", verbosity=0, stdout=out)

    # Compounds A, B and ``current`` had nothing pending: only ``behind`` was migrated.
    assert out.getvalue().strip() == f"compounds: 4, migrated: 1 ({behind.schema_name})"
    assert_same_structure(behind.schema_name, template_schema())
    assert recorded_migrations(behind.schema_name) == recorded_migrations(template_schema())
    assert schemas_with_pending([behind.schema_name, current.schema_name]) == []
