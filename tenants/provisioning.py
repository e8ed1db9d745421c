"""Schema provisioning: the migrated template schema that new compounds are cloned from.

Cloning (django-tenants' ``clone_schema``) copies the template's tables, indexes, constraints
and its ``django_migrations`` rows, so a new compound needs no migration run at all.
Figures are in docs/benchmarks.md (bench/provision.py).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_tenants.clone import CloneSchema
from django_tenants.utils import schema_exists


def template_schema() -> str:
    """Name of the template schema."""
    return settings.TENANT_BASE_SCHEMA


def ensure_template_schema(verbosity: int = 0) -> None:
    """Create the template schema if missing and apply any pending tenant migrations to it."""
    name = template_schema()
    connection.set_schema_to_public()
    if not schema_exists(name):
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{name}"')
    call_command("migrate_schemas", schema_name=name, tenant=True, interactive=False, verbosity=verbosity)
    connection.set_schema_to_public()


def clone_template_into(schema_name: str) -> None:
    """Create ``schema_name`` as a copy of the template schema (structure + migration records)."""
    if not schema_exists(template_schema()):
        ensure_template_schema()
    CloneSchema().clone_schema(template_schema(), schema_name, "DATA")
    connection.set_schema_to_public()
