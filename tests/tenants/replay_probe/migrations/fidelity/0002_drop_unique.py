"""Drop all three unique rules.

``AlterField(unique=False)`` and emptying ``unique_together`` find the constraint to drop by
looking at the database; only the named UniqueConstraint is dropped by name.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("replay_probe", "0001_initial")]

    operations = [
        migrations.AlterField(model_name="gate", name="code", field=models.CharField(max_length=20)),
        migrations.AlterUniqueTogether(name="gate", unique_together=set()),
        migrations.RemoveConstraint(model_name="gate", name="probe_gate_code_in_area"),
    ]
