"""Compound provisioning: one action creates the row, the route and the schema."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django_tenants.utils import schema_context, tenant_context

from district.models import Area
from registry.models import Person
from tenants.actions import do_create_compound, next_compound_code
from tenants.models import Compound, Domain
from tests.factories import PersonFactory
from tests.tenants.structure import assert_same_structure


def tables_of(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])
        return {row[0] for row in cursor.fetchall()}


def test_create_compound_provisions_a_schema_like_the_migrated_template(street_a):
    compound = do_create_compound(street=street_a, name="新建小区", address="解放路1号", plan="enhanced")
    assert compound.code.startswith(street_a.code) and len(compound.code) == 12
    assert compound.schema_name == f"c{compound.code}"
    assert Domain.objects.get(tenant=compound).domain == compound.code
    template = tables_of("compound_template")
    assert "registry_person" in template
    assert tables_of(compound.schema_name) == template
    # Replayed DDL gives exactly what running the migrations gave the template.
    assert_same_structure(compound.schema_name, "compound_template")
    # The migration records say the same: nothing is pending for the new schema.
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{compound.schema_name}".django_migrations')
        recorded = set(cursor.fetchall())
        cursor.execute('SELECT app, name FROM "compound_template".django_migrations')
        assert recorded == set(cursor.fetchall())
    from district.management.commands.migrate_all import schemas_with_pending

    assert schemas_with_pending([compound.schema_name]) == []
    # And the new schema works: a person can be saved there.
    with tenant_context(compound):
        PersonFactory()
        assert Person.objects.count() == 1


def test_compound_codes_follow_the_street_sequence(street_a, compound_a):
    assert compound_a.code == "370102001001"
    assert next_compound_code(street_a) == "370102001002"


def test_compound_must_belong_to_a_street(db):
    district = Area.objects.get(code="370102")
    with pytest.raises(ValidationError):
        do_create_compound(street=district, name="错误")
    assert not Compound.objects.filter(name="错误").exists()


def test_registry_rows_are_invisible_from_another_compound(compound_a, compound_b):
    with tenant_context(compound_a):
        PersonFactory(name="只在A")
    with tenant_context(compound_b):
        assert not Person.objects.filter(name="只在A").exists()
        assert Person.objects.count() == 0
    with tenant_context(compound_a):
        assert Person.objects.filter(name="只在A").count() == 1
    # The public schema has no registry table at all.
    with schema_context("public"):
        assert "registry_person" not in tables_of("public")


def test_create_compound_command(street_a, capsys):
    from django.core.management import CommandError, call_command

    call_command("create_compound", street=street_a.code, name="命令小区", plan="enhanced")
    compound = Compound.objects.get(name="命令小区")
    assert compound.plan == "enhanced"
    assert f"/c/{compound.code}/" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("create_compound", street="370102", name="不是街道")
