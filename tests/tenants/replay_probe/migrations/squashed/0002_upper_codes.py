"""A data migration that only rewrites existing rows, so it is marked elidable: a squash drops it."""

from django.db import migrations
from django.db.models.functions import Upper


def upper_codes(apps, schema_editor):
    gates = apps.get_model("replay_probe", "Gate").objects.using(schema_editor.connection.alias)
    gates.update(code=Upper("code"))


class Migration(migrations.Migration):
    dependencies = [("replay_probe", "0001_initial")]

    operations = [migrations.RunPython(upper_codes, migrations.RunPython.noop, elidable=True)]
