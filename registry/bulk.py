"""Writing thousands of rows of one table in a few statements: COPY for new rows, one UPDATE for changed ones.

Used by the bulk actions (``registry.actions.do_bulk_save`` and friends), which validate,
audit and announce; this module only writes. Django's ``bulk_create`` and ``bulk_update`` build
statements of thousands of placeholders (``CASE WHEN`` per row and field for updates), which
psycopg then splits and quotes in Python: about 1 ms a row on this machine, 9 s for 10,000
persons. COPY writes them in a sixth of that; an update sends all the batch's new values as
one JSON parameter, turned into rows of the table's own type by PostgreSQL.

Values are written as Django would write them: ``auto_now``/``auto_now_add`` stamps set,
and ``get_db_prep_save`` for every field whose Python value is not already what psycopg
adapts itself (see :data:`PLAIN_FIELDS`). Errors arrive as Django's (``IntegrityError``...).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from district.audit import changed_fields

__all__ = ["BulkOutcome", "BulkRecord", "insert_rows", "stored_state", "update_rows", "write_records"]

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)

# Field classes whose validated Python values psycopg adapts as Django would store them (for
# PostgreSQL, Django's own adapt_*_value of these return the value unchanged). Exact classes:
# a subclass (DateTimeField is a DateField) may convert.
PLAIN_FIELDS: frozenset[type[models.Field[Any, Any]]] = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.BigIntegerField,
        models.BooleanField,
        models.CharField,
        models.DateField,
        models.DecimalField,
        models.ForeignKey,
        models.IntegerField,
        models.OneToOneField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.SmallIntegerField,
        models.TextField,
    }
)


def _name(field: models.Field[Any, Any]) -> str:
    """The column of a concrete field."""
    assert field.column is not None
    return field.column


def _column(field: models.Field[Any, Any], now: datetime, *, add: bool) -> Callable[[models.Model], Any]:
    """How to read one column's database value off an instance."""
    if getattr(field, "auto_now", False) or (add and getattr(field, "auto_now_add", False)):

        def stamp(obj: models.Model) -> datetime:
            setattr(obj, field.attname, now)  # as pre_save() does
            return now

        return stamp
    if type(field) in PLAIN_FIELDS:
        return attrgetter(field.attname)
    return lambda obj: field.get_db_prep_save(field.pre_save(obj, add), connection)


def insert_rows(model: type[M], objs: Sequence[M]) -> None:
    """INSERT ``objs`` into ``model``'s table with COPY; each gets its primary key first, from the table's sequence.

    Runs in the caller's transaction and schema (the table name is resolved by the search path).
    """
    if not objs:
        return
    meta = model._meta
    fields = list(meta.concrete_fields)
    now = timezone.now()
    columns = [_column(field, now, add=True) for field in fields]
    quote = connection.ops.quote_name
    for obj in objs:
        # As bulk_create does: a related object saved after it was assigned gives its id now.
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(
            "SELECT array_agg(nextval(pg_get_serial_sequence(%s, %s))) FROM generate_series(1, %s)",
            [meta.db_table, _name(meta.pk), len(objs)],
        )
        for obj, pk in zip(objs, cursor.fetchone()[0], strict=True):
            obj.pk = pk
        names = ", ".join(quote(_name(field)) for field in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({names}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([column(obj) for column in columns])
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


def update_rows(model: type[M], objs: Sequence[M], field_names: Sequence[str]) -> None:
    """UPDATE the columns of ``field_names`` (and ``auto_now`` stamps) of the stored ``objs``, in one statement."""
    if not objs:
        return
    meta = model._meta
    now = timezone.now()
    fields = [meta.get_field(name) for name in field_names]
    fields += [f for f in meta.concrete_fields if getattr(f, "auto_now", False) and f not in fields]
    concrete = [f for f in fields if isinstance(f, models.Field) and f.concrete and not f.primary_key]
    columns = [(_name(field), _column(field, now, add=False)) for field in concrete]
    rows = [{_name(meta.pk): obj.pk, **{name: column(obj) for name, column in columns}} for obj in objs]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    assignments = ", ".join(f"{quote(name)} = v.{quote(name)}" for name, _column_ in columns)
    pk = quote(_name(meta.pk))
    with connection.cursor() as cursor:
        # The rows' values as JSON, made rows of the table's own type: one parameter, any number of rows.
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) AS v "
            f"WHERE t.{pk} = v.{pk}",
            [json.dumps(rows, cls=DjangoJSONEncoder)],
        )


class BulkOutcome(StrEnum):
    """What a bulk save did with one record."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(eq=False)
class BulkRecord(Generic[M]):
    """One record of a bulk save (``registry.actions.do_bulk_save``): a new one, or a stored one with new values set.

    ``before`` holds the stored values of an existing record (:func:`stored_state` of the
    instance as read). ``pending`` names fields the caller's ``prepare`` fills in once the
    record is known to be written (a house not created yet): they count as changed.
    ``problems`` are errors the caller found itself, reported together with the model's own.
    After the call, ``outcome`` says what was done, or ``error`` why the record was refused.
    """

    obj: M
    before: dict[str, Any] | None = None
    pending: frozenset[str] = frozenset()
    problems: dict[str, list[str]] = field(default_factory=dict)
    outcome: BulkOutcome | None = None
    error: ValidationError | None = None
    fields: list[str] = field(default_factory=list)  # audited names of the fields written
    police_tags: list[str] = field(default_factory=list)  # police-only tags this write sets or clears

    def refuse(self, error: ValidationError) -> None:
        self.error, self.outcome = error, None


def stored_state(obj: models.Model) -> dict[str, Any]:
    """The column values of a record as just read from the database (a :class:`BulkRecord`'s ``before``)."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def write_records(model: type[M], writes: list[BulkRecord[M]]) -> None:
    """INSERT the new records and UPDATE the changed ones in a few statements; one by one if the database refuses.

    The records are valid (the caller validated them). If the database refuses a statement (a
    record saved meanwhile by someone else, a constraint only it checks), the batch's writes
    are rolled back to a savepoint and made again one by one, each in its own savepoint: the
    records refused get an ``error``, the others their ``outcome``.
    """
    creates = [record.obj for record in writes if record.before is None]
    updates = [record for record in writes if record.before is not None]
    # Derived columns too (a person's name in pinyin), which the audit does not name.
    columns = sorted({name for record in updates for name in changed_fields(record.before, record.obj)})
    columns = sorted(set(columns) | {name for record in updates for name in record.pending})
    try:
        with transaction.atomic():
            insert_rows(model, creates)
            update_rows(model, [record.obj for record in updates], columns)
    except (IntegrityError, DataError):
        logger.warning("bulk save of %d %s refused; saving them one by one", len(writes), model._meta.label)
        _write_one_by_one(writes, columns)
    for record in writes:
        if record.error is None:
            record.outcome = BulkOutcome.CREATED if record.before is None else BulkOutcome.UPDATED


def _write_one_by_one(writes: list[BulkRecord[Any]], columns: list[str]) -> None:
    for record in writes:
        if record.before is None:
            record.obj.pk = None  # the rolled-back batch numbered them
            record.obj._state.adding = True
        try:
            with transaction.atomic():
                if record.before is None:
                    record.obj.save(force_insert=True)
                else:
                    record.obj.save(update_fields=columns)
        except (IntegrityError, DataError):
            logger.warning("bulk save: %s refused by the database", record.obj._meta.label, exc_info=True)
            record.refuse(ValidationError(_("The database refused this row; please import it again.")))
