"""Local hours for the alert models: night, quiet hours and days, in the compound's time zone.

Thresholds such as "night is 23 to 5" and "quiet hours 22 to 7" are whole local hours
(``settings.TIME_ZONE``, Asia/Shanghai). A window ``[start, end)`` with ``start > end`` wraps
past midnight (23 → 5 is 23:00–04:59); ``start == end`` is an empty window (no night, no quiet
hours), so a compound can switch quiet hours off.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

__all__ = ["awake_between", "in_hours", "local_day", "night_of", "quiet_between"]


def in_hours(at: datetime, start: int, end: int) -> bool:
    """Whether ``at`` falls in the local window ``[start:00, end:00)``."""
    if start == end:
        return False
    hour = timezone.localtime(at).hour
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def local_day(at: datetime) -> date:
    """The local calendar date of ``at``."""
    return timezone.localtime(at).date()


def night_of(at: datetime, night_end: int) -> date:
    """The night ``at`` belongs to, named by its evening's date (03:00 on the 2nd → the night of the 1st).

    Shifting by ``night_end`` hours puts the whole of one night on one date, whatever the
    window: 23:30 and 03:00 are the same night, 03:00 and 23:30 the next day are not.
    """
    return (timezone.localtime(at) - timedelta(hours=night_end)).date()


def quiet_between(start: datetime, end: datetime, quiet_start: int, quiet_end: int) -> timedelta:
    """How much of ``[start, end)`` falls in the local quiet hours ``[quiet_start, quiet_end)``."""
    if end <= start or quiet_start == quiet_end:
        return timedelta(0)
    tz = timezone.get_current_timezone()
    first = timezone.localtime(start).date() - timedelta(days=1)
    last = timezone.localtime(end).date()
    total = timedelta(0)
    day = first
    while day <= last:
        q_start = datetime.combine(day, time(quiet_start), tzinfo=tz)
        end_day = day if quiet_start < quiet_end else day + timedelta(days=1)
        q_end = datetime.combine(end_day, time(quiet_end), tzinfo=tz)
        overlap = min(end, q_end) - max(start, q_start)
        if overlap > timedelta(0):
            total += overlap
        day += timedelta(days=1)
    return total


def awake_between(start: datetime, end: datetime, quiet_start: int, quiet_end: int) -> timedelta:
    """The time between ``start`` and ``end`` outside the quiet hours (the night does not count)."""
    if end <= start:
        return timedelta(0)
    return (end - start) - quiet_between(start, end, quiet_start, quiet_end)
