"""Add columns with defaults: a plain ``default`` (Django fills existing rows, then drops the
database default) and Django 5's ``db_default`` (the default stays in the database)."""

from django.db import migrations, models
from django.db.models.functions import Now


class Migration(migrations.Migration):
    dependencies = [("replay_probe", "0002_drop_unique")]

    operations = [
        migrations.AddField(model_name="gate", name="capacity", field=models.PositiveIntegerField(default=100)),
        migrations.AddField(model_name="gate", name="kind", field=models.CharField(max_length=10, db_default="main")),
        migrations.AddField(model_name="gate", name="opened_at", field=models.DateTimeField(db_default=Now())),
        migrations.AddField(
            model_name="pass", name="valid_days", field=models.PositiveSmallIntegerField(default=1, db_default=7)
        ),
    ]
