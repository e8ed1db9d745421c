"""The database every bench script works in, and the environment that points Django at it.

Each bench has a database of its own (``smartpolice_<bench>``) on the server of
``$DATABASE_URL`` (127.0.0.1:5432 when unset), never the database named there: it is dropped
and created at the start and, unless the bench is told ``--keep``, dropped at the end.
``CREATE``/``DROP DATABASE`` run from the server's ``postgres`` database (the maintenance URL).

Imported by the scripts beside it as ``benchdb`` (bench/ is not a package: a script run as
``python bench/<name>.py`` has its own folder first on ``sys.path``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DEFAULT_SERVER", "ROOT", "database_urls", "drop_database", "recreate_database", "use_bench_database"]

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent


def with_database(url: str, name: str) -> str:
    """``url`` with its database replaced; host, port, credentials and query (socket dir) kept."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_urls(name: str) -> tuple[str, str]:
    """(maintenance URL, bench URL of database ``name``) on the server of $DATABASE_URL, never its database."""
    server = os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    return with_database(server, "postgres"), with_database(server, name)


def use_bench_database(bench_url: str) -> dict[str, str]:
    """Point Django in this process at ``bench_url``; the environment for its subprocesses.

    Settings read the environment when Django starts, so this comes before anything imports
    them. DEBUG is off: no query log grows over a long run, and errors are production's.
    """
    os.environ.update({"DATABASE_URL": bench_url, "DJANGO_SETTINGS_MODULE": "district.settings", "DEBUG": "0"})
    sys.path.insert(0, str(ROOT))
    return dict(os.environ)


def _execute(maintenance_url: str, *statements: str) -> None:
    import psycopg

    # CREATE/DROP DATABASE cannot run inside a transaction.
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def recreate_database(maintenance_url: str, name: str) -> None:
    """Say where, drop database ``name`` (closing leftover sessions of an aborted run), create it anew."""
    where = urlsplit(with_database(maintenance_url, name))
    # A socket directory travels in the query (?host=/run/postgresql) and leaves no hostname.
    print(f"Recreating database {name} on {where.hostname or where.query}:{where.port or ''}", flush=True)
    _execute(maintenance_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')


def drop_database(maintenance_url: str, name: str) -> None:
    """Drop database ``name`` at the end of a run, whatever sessions it still has."""
    _execute(maintenance_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
