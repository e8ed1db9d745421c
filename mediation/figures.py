"""A compound's mediation figures, copied into the public schema for street and city statistics.

``do_refresh_figures`` recomputes one compound's figures from its schema (one grouped query)
and replaces its ``mediators.CaseFigures`` rows in one transaction. It runs as the job
``mediation.refresh_figures``, deferred by every case action, so the figures trail a change by
the time the worker takes to pick the job up, and a lost refresh is redone by the next one.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from mediation.models import Case
from mediators.models import CaseFigures
from tenants.models import Compound

__all__ = ["do_refresh_figures"]

OPEN = ("registered", "accepted", "mediating")


def do_refresh_figures(compound: Compound, *, now: datetime.datetime | None = None) -> int:
    """Replace ``compound``'s public figures with what its schema holds now; the number of rows."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    rows = (
        Case.objects.values("category", "status")
        .annotate(
            cases=Count("pk"),
            overdue=Count("pk", filter=Q(status__in=OPEN, deadline__lt=today)),
            concluded=Count("pk", filter=Q(concluded_at__isnull=False)),
            duration=Sum(
                ExpressionWrapper(F("concluded_at") - F("registered_at"), output_field=DurationField()),
                filter=Q(concluded_at__isnull=False),
            ),
        )
        .order_by()
    )
    figures = [
        CaseFigures(
            compound=compound,
            category=row["category"],
            status=row["status"],
            cases=row["cases"],
            overdue=row["overdue"],
            concluded=row["concluded"],
            days_to_conclude=round(row["duration"].total_seconds() / 86400) if row["duration"] else 0,
            refreshed_at=now,
        )
        for row in rows
    ]
    with transaction.atomic():
        CaseFigures.objects.filter(compound=compound).delete()
        CaseFigures.objects.bulk_create(figures)
    return len(figures)
