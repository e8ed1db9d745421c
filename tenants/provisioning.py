"""Compound schema provisioning: replay the tenant apps' DDL instead of running migrations.

Measured (docs/benchmarks.md): running the migrations costs ~0.4 s per schema, and
django-tenants' ``clone_schema`` function starts at ~0.3 s but grows with every schema in
the database (12 s per compound once 200 exist: it scans the whole catalogue). Instead we
take the SQL of every tenant migration once per process, and a new compound costs one
``CREATE SCHEMA`` and one batch of DDL, plus the ``django_migrations`` rows that say the
schema is up to date.

The SQL is taken by running the migrations once, in a scratch schema that is rolled back, and
keeping the text of every statement (``sqlmigrate``'s collection, but executed as it goes).
Collecting without running is not enough: some operations ask the database what to drop.

A tenant migration with a step that is not SQL (``RunPython``) cannot be replayed. Then
provisioning refuses (``TenantMigrationsNotReplayableError``, whose message says how to make the
migration replayable) unless ``settings.COMPOUND_PROVISIONING_MIGRATE_FALLBACK`` is True, in
which case every new compound is migrated instead, ~8x slower, with a warning logged each time.
Refusing is deliberate: the slow path must never be taken unnoticed (DESIGN.md §2), and
tests/tenants/test_provisioning_guard.py fails on such a migration long before production does.

The template schema (``settings.COMPOUND_TEMPLATE_SCHEMA``) is still migrated the ordinary way by
``migrate_all``: it is the reference that tests compare every provisioned schema against.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django_tenants.utils import schema_context, schema_exists

from tenants.connection import tenant_connection

logger = logging.getLogger(__name__)

MIGRATE_FALLBACK_SETTING = "COMPOUND_PROVISIONING_MIGRATE_FALLBACK"
# Exists only inside tenant_ddl()'s rolled-back savepoint. A fixed name: two processes collecting
# at the same moment wait on it for each other (~0.4 s), and nothing can ever leak under new names.
SCRATCH_SCHEMA = "tenant_ddl_scratch"

MigrationKey = tuple[str, str]


class TenantMigrationsNotReplayableError(RuntimeError):
    """A tenant migration has a step that is not SQL, and the migrate fallback is not allowed."""


def template_schema() -> str:
    """Name of the reference schema migrated by ``migrate_all``."""
    return settings.COMPOUND_TEMPLATE_SCHEMA


def tenant_app_labels() -> set[str]:
    """Labels of the apps whose tables live in every compound schema."""
    return {cfg.label for cfg in apps.get_app_configs() if cfg.name in settings.TENANT_APPS}


def replay_advice(blockers: tuple[MigrationKey, ...]) -> str:
    """What to do about tenant migrations that cannot be replayed (for errors, logs and tests)."""
    names = ", ".join(f"{app}.{name}" for app, name in blockers)
    return (
        f"Tenant migrations with a step that is not SQL (RunPython): {names}. New compound schemas "
        "are built by replaying the tenant migrations' SQL (~0.05 s); such a step forces running every "
        "migration for every new compound instead (~0.4 s, DESIGN.md §2). Make it replayable: write the "
        "step as RunSQL; or, if it only rewrites existing rows (a new schema has none), mark it "
        "RunPython(..., elidable=True) and squash the app's migrations (manage.py squashmigrations), "
        "which leaves the step out of new schemas. Only if neither fits, set "
        f"settings.{MIGRATE_FALLBACK_SETTING} = True to migrate each new compound (logged as a warning)."
    )


@dataclass(frozen=True)
class TenantDDL:
    """The SQL that builds a compound schema from nothing, and the migrations it stands for."""

    sql: str  # empty when not replayable
    migrations: tuple[MigrationKey, ...]  # the django_migrations rows that ``migrate`` would leave
    blockers: tuple[MigrationKey, ...] = ()  # tenant migrations with a step that is not SQL

    @property
    def replayable(self) -> bool:
        return not self.blockers

    def advice(self) -> str:
        return replay_advice(self.blockers) if self.blockers else "All tenant migrations are replayable."


@functools.cache
def tenant_ddl() -> TenantDDL:
    """The DDL of every migration for a compound schema (cached for the process).

    The router decides per operation whether it runs in a compound schema, exactly as in
    ``migrate_schemas``: the SQL is taken with the connection on a non-public schema, so
    shared apps contribute nothing and tenant apps contribute their tables. The loader has
    no connection: a new schema has applied nothing, so a squash replaces its migrations.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan = _forwards_plan(loader)
    labels = tenant_app_labels()
    blockers = tuple(
        (m.app_label, m.name)
        for m in plan
        if m.app_label in labels and not all(op.reduces_to_sql for op in m.operations)
    )
    recorded = _recorded_keys(plan)
    if blockers:
        return TenantDDL(sql="", migrations=recorded, blockers=blockers)
    sql = "\n".join(s for s in _statements_by_running(loader, plan) if s.strip())
    if SCRATCH_SCHEMA in sql:  # replayed elsewhere, a statement naming the scratch schema would be wrong
        raise RuntimeError(f"A tenant migration's SQL names the schema it ran in ({SCRATCH_SCHEMA}).")
    return TenantDDL(sql=sql, migrations=recorded)


def _forwards_plan(loader: MigrationLoader) -> list[Migration]:
    """Every migration in the graph, dependencies first, as migrating an empty schema applies them."""
    graph = loader.graph
    plan: list[Migration] = []
    seen: set[MigrationKey] = set()
    for leaf in sorted(graph.leaf_nodes()):
        for node in graph.forwards_plan(leaf):
            if node not in seen:
                seen.add(node)
                plan.append(loader.get_migration(*node))
    return plan


def _recorded_keys(plan: list[Migration]) -> tuple[MigrationKey, ...]:
    """The django_migrations rows ``migrate`` leaves: a squash records what it replaces, then itself.

    ``migrate_all`` compares these rows with the migrations on disk, replaced ones included,
    so without them a schema provisioned from a squash would count as pending forever.
    """
    keys: list[MigrationKey] = []
    for migration in plan:
        keys.extend((app, name) for app, name in migration.replaces or ())
        keys.append((migration.app_label, migration.name))
    return tuple(dict.fromkeys(keys))


def _statements_by_running(loader: MigrationLoader, plan: list[Migration]) -> list[str]:
    """Run ``plan`` in a scratch schema, rolled back afterwards, keeping the text of every statement.

    Why run rather than only collect, as ``sqlmigrate`` does: some operations ask the database
    what to drop. ``AlterField(..., unique=False)`` looks up the unique constraint's name and,
    collected against a schema not at that migration's state, drops nothing, silently; emptying
    ``unique_together`` fails outright. Running each statement where it is collected also proves
    that the text replays.
    """
    editor_class = _replaying_editor_class(connection.SchemaEditorClass)
    state = loader.project_state((plan[0].app_label, plan[0].name), at_end=False)
    statements: list[str] = []
    with transaction.atomic():
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{SCRATCH_SCHEMA}"')
            with schema_context(SCRATCH_SCHEMA):
                for migration in plan:
                    with editor_class(connection, collect_sql=True, atomic=migration.atomic) as editor:
                        state = migration.apply(state, editor)
                    statements.extend(editor.collected_sql)
        finally:
            transaction.set_rollback(True)  # the scratch schema was only there to be looked at
    return statements


@functools.cache
def _replaying_editor_class(base: type[BaseDatabaseSchemaEditor]) -> type[BaseDatabaseSchemaEditor]:
    """The connection's schema editor, made to run every statement it collects."""

    class ReplayingSchemaEditor(base):  # type: ignore[valid-type,misc]
        def execute(self, sql: Any, params: Any = ()) -> None:
            super().execute(sql, params)  # collect_sql=True: appends the text, parameters merged in
            with self.connection.cursor() as cursor:
                cursor.execute(self.collected_sql[-1])  # exactly the text that will be replayed

    return ReplayingSchemaEditor


def ensure_template_schema(verbosity: int = 0) -> None:
    """Create the reference schema if missing and apply any pending tenant migrations to it."""
    name = template_schema()
    tenant_connection().set_schema_to_public()
    if not schema_exists(name):
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{name}"')
    call_command("migrate_schemas", schema_name=name, tenant=True, interactive=False, verbosity=verbosity)
    tenant_connection().set_schema_to_public()


@transaction.atomic
def provision_schema(schema_name: str) -> None:
    """Create ``schema_name`` with every compound table, up to date with the migrations on disk.

    Raises ``TenantMigrationsNotReplayableError`` when a tenant migration cannot be replayed and
    the migrate fallback is not allowed (see the module docstring).
    """
    ddl = tenant_ddl()
    if not ddl.replayable:
        _provision_by_migrating(schema_name, ddl)
        return
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema_name}"')
    tenant_connection().set_schema(schema_name)  # search path "<schema>, public" for the DDL below
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE django_migrations (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                "app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied timestamptz NOT NULL)"
            )
            cursor.execute(ddl.sql)
            cursor.executemany(
                "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", ddl.migrations
            )
    finally:
        tenant_connection().set_schema_to_public()


def _provision_by_migrating(schema_name: str, ddl: TenantDDL) -> None:
    """The slow path: taken only when settings allow it, and never silently."""
    if not getattr(settings, MIGRATE_FALLBACK_SETTING, False):
        raise TenantMigrationsNotReplayableError(ddl.advice())
    logger.warning("Provisioning %s by running its migrations, not by replay. %s", schema_name, ddl.advice())
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema_name}"')
    call_command("migrate_schemas", schema_name=schema_name, tenant=True, interactive=False, verbosity=0)
    tenant_connection().set_schema_to_public()
