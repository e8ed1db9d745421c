"""A data migration: Python code, which no SQL replay can stand for."""

from django.db import migrations


def seed_main_gate(apps, schema_editor):
    apps.get_model("replay_probe", "Gate").objects.using(schema_editor.connection.alias).create(code="main")


class Migration(migrations.Migration):
    dependencies = [("replay_probe", "0001_initial")]

    operations = [migrations.RunPython(seed_main_gate, migrations.RunPython.noop)]
