"""The on-demand recompute through a real worker (committed data: the worker has its own connections)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from district.jobs import defer_in_compound
from safety.models import AreaIndexSnapshot, CompoundIndexSnapshot
from safety.tasks import RECOMPUTE_TASK


@pytest.fixture
def db(committed_db: None) -> None:
    """Here ``db`` commits, so the worker's connections see the job."""


def test_recompute_job_runs_in_a_worker(run_jobs, fresh_compound):
    today = timezone.localdate()
    defer_in_compound(RECOMPUTE_TASK, fresh_compound, day=today.isoformat())
    try:
        run_jobs()
        snapshot = CompoundIndexSnapshot.objects.get(compound=fresh_compound, day=today)
        # An empty compound: no incidents, alerts or disputes; no devices or persons (prevention 20).
        assert snapshot.components["prevention"]["score"] == 20.0
        assert float(snapshot.score) == 0.4 * 100 + 0.2 * 100 + 0.15 * 100 + 0.25 * 20
        assert AreaIndexSnapshot.objects.filter(area_id=fresh_compound.street_id, day=today).exists()
    finally:
        # The compound's snapshots go with it (cascade); the area rows must go by hand.
        AreaIndexSnapshot.objects.filter(day=today).delete()
