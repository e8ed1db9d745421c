"""What ``squashmigrations replay_probe 0002`` writes: the elidable data step is gone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [("replay_probe", "0001_initial"), ("replay_probe", "0002_upper_codes")]
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Gate",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("code", models.CharField(max_length=20, unique=True)),
            ],
        ),
    ]
