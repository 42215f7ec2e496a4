"""Many new rows of one table in one statement, without the ORM's unit of work.

``core.writes.create_many`` (the bulk form of the write path) builds its rows and records
them like ``create`` does, then hands them here, and the unit of work's buffered audit
and outbox rows come here too. Through the ORM or a Core insert each row cost
SQLAlchemy's per-parameter bind processing (``construct_params``), several times the
insert itself. Each column gets its type's own bind processor once (the very function
SQLAlchemy would call, so the stored form is the same); SQLite takes the rows as tuples
through the driver's ``executemany``, PostgreSQL through ``COPY ... FROM STDIN`` (one
round trip instead of a statement per row; a few rows as one multi-row ``INSERT``, since
a COPY costs two round trips and formats each value in Python); another dialect a Core
multi-row insert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

Process = Callable[[Any], Any] | None
# Up to this many rows PostgreSQL gets one multi-row INSERT instead of a COPY: the rows of
# a one-op push (its audit entry, applied op and feed entry) are one each, and a COPY is
# two round trips, its values formatted in Python (docs/benchmarks.md, "Sync").
FEW_ROWS = 16


@cache
def _plan(
    table: Table, dialect: Dialect, names: tuple[str, ...]
) -> tuple[tuple[Process, ...], str] | None:
    """Processors and SQL for rows carrying ``names``; None when a column left out has
    a default computed in Python (a Core insert would fill it in: left to it)."""
    given = set(names)
    if any(c.name not in given and c.default is not None for c in table.c):
        return None
    columns = [table.c[n] for n in names]
    processors = tuple(c.type._cached_bind_processor(dialect) for c in columns)
    cols = ", ".join(f'"{n}"' for n in names)
    if dialect.name == "postgresql":
        return processors, f'"{table.name}" ({cols})'
    marks = ", ".join("?" for _ in names)
    return processors, f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})'


def insert_rows(session: Session, model: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (column name -> Python value; every row the same columns, as a
    Core multi-row insert wants them) into the model's table, in the session's
    transaction. A column left out gets what the database gives it (NULL, its
    autoincrement)."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)  # a declarative model's, never a join or alias
    conn = session.connection()
    names = tuple(rows[0])
    dialect = conn.dialect
    plan = _plan(table, dialect, names) if dialect.name in ("sqlite", "postgresql") else None
    if plan is None:
        session.execute(insert(table), list(rows))
        return
    processors, sql = plan
    steps = [(i, p) for i, p in enumerate(processors) if p is not None]
    wanted = rows[0].keys()
    tuples = []
    for row in rows:
        if row.keys() != wanted:
            raise ValueError(f"{table.name}: rows with different columns in one insert")
        values = [row[n] for n in names]
        for i, process in steps:
            values[i] = process(values[i])  # None too: a JSON column may store 'null'
        tuples.append(tuple(values))
    if dialect.name == "sqlite":
        conn.exec_driver_sql(sql, tuples)
        return
    # PostgreSQL: on the session's own connection (so in its transaction); the driver
    # adapts each processed value as it does an INSERT's parameters.
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        if len(tuples) <= FEW_ROWS:
            marks = "(" + ", ".join(["%s"] * len(names)) + ")"
            cur.execute(f"INSERT INTO {sql} VALUES " + ", ".join([marks] * len(tuples)),
                        [v for t in tuples for v in t])  # fmt: skip
            return
        with cur.copy(f"COPY {sql} FROM STDIN") as copy:
            for processed in tuples:
                copy.write_row(processed)
