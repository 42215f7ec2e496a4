"""Bringing a database's schema up to date with the one Alembic history (``migrations/``).

The migrations run on the store's own engine, so on SQLite the connection has the same
pragmas as every other and the whole upgrade is one ``BEGIN IMMEDIATE`` transaction:
two processes opening the same file at once migrate one after the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from core.db import WRITE_OPTION, Store

# Any constant: central servers started together must not run the same DDL twice.
_PG_LOCK_KEY = 0x5374_7275_6374  # "Struct"


@cache
def _script() -> ScriptDirectory:
    from migrations import alembic_config

    # Parsing the revision files is most of the cost of a no-op upgrade; they do not
    # change while the process runs.
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    return _script().get_current_head()


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_connection(store: Store) -> Iterator[Connection]:
    """A connection in a write transaction, foreign key enforcement off on SQLite.

    Batch mode rebuilds a SQLite table by copy, drop and rename; with enforcement on,
    dropping a referenced table fails or cascades. The pragma is ignored inside a
    transaction, so it is set before BEGIN and ``foreign_key_check`` stands in for it.
    """
    engine = store.engine.execution_options(**{WRITE_OPTION: True})
    with engine.connect() as conn:
        if not store.is_sqlite:
            with conn.begin():
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
                yield conn
            return
        raw: Any = conn.connection.driver_connection
        raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken references: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys = ON")


def _run(store: Store, fn: Any, target: str) -> None:
    from migrations import alembic_config

    with _migration_connection(store) as conn:
        fn(alembic_config(connection=conn), target)


def upgrade(store: Store, target: str = "head") -> None:
    """Migrate to ``target`` (default: the newest revision). Cheap when already there."""
    if target == "head" and current_revision(store) == head_revision():
        return
    _run(store, command.upgrade, target)


def downgrade(store: Store, target: str = "base") -> None:
    _run(store, command.downgrade, target)
