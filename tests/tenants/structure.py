"""What a schema is made of, to compare schemas built different ways (replayed DDL, migrations).

One description for every test that compares schemas: if a kind of object is missing here, no
test notices when provisioning gets it wrong.
"""

from __future__ import annotations

from django.db import connection

Structure = dict[str, set[tuple[str, ...]]]

_QUERIES = {
    "tables": "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
    # Defaults included: a plain ``default`` must leave none behind, a ``db_default`` must stay.
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, udt_name, is_nullable, column_default,
               is_identity, identity_generation, character_maximum_length, numeric_precision, numeric_scale
        FROM information_schema.columns WHERE table_schema = %s""",
    # Names included: a later migration drops a constraint by the name the first one gave it.
    "constraints": """
        SELECT c.conrelid::regclass::text AS table_name, c.conname AS name, c.contype AS kind,
               pg_get_constraintdef(c.oid) AS definition
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s""",
    "indexes": "SELECT tablename AS table_name, indexname AS name, indexdef AS definition FROM pg_indexes "
    "WHERE schemaname = %s",
    # Identity ('i') and serial or OWNED BY ('a') sequences, with the column that owns them.
    "sequences": """
        SELECT s.relname AS name, q.seqtypid::regtype::text AS type, q.seqstart AS start,
               q.seqincrement AS increment, q.seqmin AS min, q.seqmax AS max, q.seqcache AS cache,
               q.seqcycle AS cycle, t.relname AS owner_table, a.attname AS owner_column, d.deptype AS ownership
        FROM pg_class s
        JOIN pg_namespace n ON n.oid = s.relnamespace
        JOIN pg_sequence q ON q.seqrelid = s.oid
        LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_class t ON t.oid = d.refobjid
        LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE s.relkind = 'S' AND n.nspname = %s""",
}


def rows_of(schema: str, kind: str) -> list[dict[str, str]]:
    """The rows of one kind (a key of ``structure_of``), by column name, every value as text.

    The schema's own name is taken out of every value (``"c3701…".registry_person`` →
    ``registry_person``) so that two schemas built alike give the same rows.
    """
    with connection.cursor() as cursor:
        cursor.execute(_QUERIES[kind], [schema])
        names = [column.name for column in cursor.description]
        return [
            {
                name: str(v).replace(f'"{schema}".', "").replace(f"{schema}.", "")
                for name, v in zip(names, row, strict=True)
            }
            for row in cursor.fetchall()
        ]


def structure_of(schema: str) -> Structure:
    """Tables, columns (with defaults), constraints, indexes and sequences of ``schema``."""
    return {kind: {tuple(row.values()) for row in rows_of(schema, kind)} for kind in _QUERIES}


def structure_differences(schema: str, reference: str) -> dict[str, dict[str, set[tuple[str, ...]]]]:
    """What ``schema`` has that ``reference`` lacks and the reverse, per kind; empty when alike."""
    mine, theirs = structure_of(schema), structure_of(reference)
    return {
        key: {f"only in {schema}": mine[key] - theirs[key], f"only in {reference}": theirs[key] - mine[key]}
        for key in _QUERIES
        if mine[key] != theirs[key]
    }


def assert_same_structure(schema: str, reference: str) -> None:
    """Fail with only the differing rows when ``schema`` is not built like ``reference``."""
    differences = structure_differences(schema, reference)
    assert not differences, f"{schema} differs from {reference}: {differences}"
