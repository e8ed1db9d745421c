"""Sequences: widen an identity primary key (its sequence changes type) and add a sequence of
our own with an increment, owned by a column."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("replay_probe", "0003_add_defaults")]

    operations = [
        migrations.AlterField(
            model_name="pass", name="id", field=models.BigAutoField(primary_key=True, serialize=False)
        ),
        migrations.RunSQL(
            "CREATE SEQUENCE probe_gate_ticket_seq AS integer INCREMENT BY 5 START 1000 "
            "OWNED BY replay_probe_gate.capacity",
            "DROP SEQUENCE probe_gate_ticket_seq",
        ),
    ]
