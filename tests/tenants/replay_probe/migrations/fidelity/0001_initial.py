"""Gates with three unique rules (a unique field, unique_together, a UniqueConstraint) and passes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Gate",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("code", models.CharField(max_length=20, unique=True)),
                ("name", models.CharField(max_length=50)),
                ("area_code", models.CharField(max_length=12)),
            ],
            options={"unique_together": {("name", "area_code")}},
        ),
        migrations.AddConstraint(
            model_name="gate",
            constraint=models.UniqueConstraint(fields=("area_code", "code"), name="probe_gate_code_in_area"),
        ),
        migrations.CreateModel(
            name="Pass",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("holder", models.CharField(max_length=50)),
                (
                    "gate",
                    models.ForeignKey(on_delete=models.CASCADE, related_name="passes", to="replay_probe.gate"),
                ),
            ],
        ),
    ]
