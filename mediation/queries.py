"""Reads of cases shared by the pages and the API."""

from __future__ import annotations

from django.db import models
from django.db.models import Q, QuerySet

from mediation.actions import OPEN_STATUSES
from mediation.models import Case

__all__ = ["open_first"]


def open_first(qs: QuerySet[Case]) -> QuerySet[Case]:
    """Open cases first, nearest deadline first; then the others, newest first."""
    is_open = Q(status__in=OPEN_STATUSES)
    return qs.annotate(
        open_rank=models.Case(models.When(is_open, then=0), default=1, output_field=models.IntegerField()),
        open_deadline=models.Case(models.When(is_open, then="deadline"), default=None),
    ).order_by("open_rank", models.F("open_deadline").asc(nulls_last=True), "-registered_at", "-id")
