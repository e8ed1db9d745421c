"""Mediation jobs (thin: they call actions)."""

from __future__ import annotations

from district.jobs import app, in_compound
from mediation.actions import REFRESH_TASK
from mediation.figures import do_refresh_figures


@app.task(name=REFRESH_TASK)
def refresh_figures(schema_name: str) -> int:
    """Copy one compound's mediation figures into the public schema (street and city statistics)."""
    with in_compound(schema_name) as compound:
        return do_refresh_figures(compound)


@app.periodic(cron="5 0 * * *", periodic_id="mediation-overdue")
@app.task(name="mediation.refresh_all_figures", queueing_lock="mediation.refresh_all_figures")
def refresh_all_figures(timestamp: int) -> int:
    """Nightly: refresh every compound's figures, because a case becomes overdue without any write."""
    from tenants.models import Compound

    count = 0
    for schema_name in Compound.objects.exclude(schema_name="public").values_list("schema_name", flat=True):
        with in_compound(schema_name) as compound:
            do_refresh_figures(compound)
            count += 1
    return count
