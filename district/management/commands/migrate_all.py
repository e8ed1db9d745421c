"""Migrate the public schema, the compound template, and only the compounds that need it."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from tenants.models import Compound
from tenants.provisioning import ensure_template_schema, template_schema, tenant_app_labels


def tenant_migration_keys() -> set[tuple[str, str]]:
    """(app, name) of every migration of the tenant apps on disk (replaced ones of a squash too)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    labels = tenant_app_labels()  # labels, not the last part of the app's path: they can differ
    return {key for key in loader.disk_migrations if key[0] in labels}


def schemas_with_pending(schemas: list[str]) -> list[str]:
    """The schemas whose django_migrations lacks a tenant migration found on disk."""
    wanted = tenant_migration_keys()
    pending = []
    with connection.cursor() as cursor:
        for schema in schemas:
            cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')
            if not wanted <= set(cursor.fetchall()):
                pending.append(schema)
    return pending


class Command(BaseCommand):
    help = "Migrate public, the compound template and every compound with pending migrations."

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        ensure_template_schema(verbosity=verbosity)
        schemas = list(
            Compound.objects.exclude(schema_name=template_schema())
            .order_by("schema_name")
            .values_list("schema_name", flat=True)
        )
        pending = schemas_with_pending(schemas)
        for schema in pending:
            call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=verbosity)
        # The names say which compounds were touched; the others had nothing pending and were skipped.
        migrated = f" ({', '.join(pending)})" if pending else ""
        self.stdout.write(f"compounds: {len(schemas)}, migrated: {len(pending)}{migrated}")
