"""Monthly partitions of ``events_accessevent`` (PostgreSQL declarative partitioning).

A month's partition is created ahead by the daily job and, should an event arrive for a month
that has none (a device uploading a backlog after weeks offline), by the writing action itself:
:func:`ensure_partition` is idempotent and remembered per process, so the check costs nothing
after the first event of a month. There is no default partition on purpose: rows parked there
would block creating their month's partition later.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import connection, transaction

__all__ = ["TABLE", "ensure_partition", "ensure_partitions_around", "partition_name", "partitions"]

TABLE = "events_accessevent"
_known: set[str] = set()


def _month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def partition_name(day: date) -> str:
    return f"{TABLE}_y{day.year:04d}m{day.month:02d}"


def ensure_partition(moment: date | datetime) -> str:
    """Create the partition holding ``moment``'s month if it does not exist; return its name.

    Bounds are midnight UTC of the first of the month (timestamptz compares instants, so the
    zone of ``moment`` does not matter beyond choosing the month).
    """
    day = moment.date() if isinstance(moment, datetime) else moment
    start = _month_start(day)
    name = partition_name(start)
    if name in _known:
        return name
    with transaction.atomic(), connection.cursor() as cursor:
        # Two transactions creating one month's partition at once: the second would fail on the
        # catalogue's unique index instead of finding the table. The lock makes it wait and find it.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
        cursor.execute(
            f'CREATE TABLE IF NOT EXISTS public."{name}" PARTITION OF public."{TABLE}" '
            f"FOR VALUES FROM ('{start.isoformat()} 00:00:00+00') TO ('{_next_month(start).isoformat()} 00:00:00+00')"
        )
    # Remembered once committed: a partition made in a transaction that rolls back (a delivery
    # that lost its idempotency race, a rolled-back test) is gone, and the next event makes it anew.
    transaction.on_commit(lambda: _known.add(name))
    return name


def ensure_partitions_around(today: date, *, before: int = 1, ahead: int = 2) -> list[str]:
    """The partitions of ``before`` months back to ``ahead`` months ahead of ``today``."""
    month = _month_start(today)
    for _ in range(before):
        month = _month_start(date.fromordinal(month.toordinal() - 1))
    names = []
    for _ in range(before + ahead + 1):
        names.append(ensure_partition(month))
        month = _next_month(month)
    return names


def partitions() -> list[str]:
    """The names of the existing monthly partitions, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
            [TABLE],
        )
        return [row[0] for row in cursor.fetchall()]


def forget() -> None:
    """Forget the partitions this process has seen (tests that drop and recreate the database)."""
    _known.clear()
