"""Snapshot rows into SQLite as plain tuples (the bootstrap's bulk insert).

A snapshot row arrives as wire JSON (decimals as strings, times in ISO 8601, JSON columns
as values). Going through SQLAlchemy meant a Python object per value (Decimal, datetime)
and then the column types' bind processors turning them into what SQLite stores; most of
a bootstrap went there. Here each column gets one function from the wire value straight to
SQLite's stored form (the same one SQLAlchemy's types produce: scaled integers for
``Fixed``, ``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text for ``UTCDateTime``, ISO dates, 0/1,
JSON text), and the rows go to the driver's ``executemany`` in one statement per batch.

The statement keeps the bootstrap's rule: a row already here is replaced only by a newer
version (``sync_version``). A batch whose rows do not carry exactly the table's columns
(a central server of another release) is left to the general path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Date
from sqlalchemy.orm import Session

from core.db import json_text
from core.orm.types import Fixed, UTCDateTime

Convert = Callable[[Any], Any]


def _fixed(scale: int) -> Convert:
    factor = Decimal(10) ** scale

    def convert(v: Any) -> int | None:
        if v is None:
            return None
        if type(v) is str:
            # Plain decimal text with no more places than the column keeps (what the
            # central server writes): the digits are the scaled integer, no Decimal.
            whole, _, frac = v.partition(".")
            if len(frac) <= scale and whole.lstrip("-").isdigit() and (frac.isdigit() or not frac):
                return int(whole + frac.ljust(scale, "0"))
        return int((Decimal(str(v)) * factor).to_integral_value(rounding=ROUND_HALF_EVEN))

    return convert


def _utc(v: Any) -> str | None:
    if v is None:
        return None
    if len(v) >= 25 and v[10] == "T" and v[19] in ".+" and v.endswith("+00:00"):
        # Already UTC (what both encoders of the snapshot write): rearranged as text, a
        # third of the cost of parsing and formatting. PostgreSQL trims the fraction's
        # trailing zeros; SQLite's stored form has six digits.
        frac = v[20:-6] if v[19] == "." else ""
        if len(frac) <= 6 and (frac.isdigit() or not frac):
            return f"{v[:10]} {v[11:19]}.{frac:0<6}"
    t = datetime.fromisoformat(v)
    if t.tzinfo is None:
        raise ValueError(f"time without a zone: {v!r}")
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _date(v: Any) -> str | None:
    return None if v is None else date.fromisoformat(v).isoformat()


def _bool(v: Any) -> int | None:
    return None if v is None else int(bool(v))


def _json(none_as_null: bool) -> Convert:
    def convert(v: Any) -> str | None:
        if v is None:
            return None if none_as_null else "null"
        return json_text(v)  # the text the store's engine writes

    return convert


def _same(v: Any) -> Any:
    return v


def _converter(coltype: Any) -> Convert:
    if isinstance(coltype, Fixed):
        return _fixed(coltype.scale)
    if isinstance(coltype, UTCDateTime):
        return _utc
    if isinstance(coltype, Date):
        return _date
    if isinstance(coltype, Boolean):
        return _bool
    if isinstance(coltype, JSON):
        return _json(coltype.none_as_null)
    return _same


@cache
def _plan(table: Any) -> tuple[tuple[str, ...], tuple[Convert, ...], str]:
    names = tuple(c.name for c in table.c)
    convert = tuple(_converter(c.type) for c in table.c)
    cols = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    updates = ", ".join(f'"{n}" = excluded."{n}"' for n in names if n not in ("org_id", "id"))
    sql = (
        f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks}) '
        f"ON CONFLICT (org_id, id) DO UPDATE SET {updates} "
        f'WHERE excluded.sync_version > "{table.name}".sync_version'
    )
    return names, convert, sql


def load(session: Session, model: Any, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Insert or update ``rows`` (wire JSON) into the model's table; False (nothing done)
    when a row does not carry exactly the table's columns."""
    table = model.__table__
    names, convert, sql = _plan(table)
    wanted = set(names)
    pick = itemgetter(*names)
    # Snapshot rows keep the central server's version as the sync version; the local
    # version starts again at 1 (as the general path does).
    iv, isv = names.index("version"), names.index("sync_version")
    changing = [(i, f) for i, f in enumerate(convert) if f is not _same and i not in (iv, isv)]
    tuples = []
    for data in rows:
        if data.keys() != wanted:
            return False
        values = list(pick(data))
        for i, f in changing:
            values[i] = f(values[i])
        values[isv] = int(data["version"])
        values[iv] = 1
        tuples.append(tuple(values))
    if tuples:
        session.connection().exec_driver_sql(sql, tuples)
    return True


@contextmanager
def indexes_after(session: Session, model: Any) -> Iterator[None]:
    """Into an empty SQLite table, load without its secondary indexes and build them
    once at the end (a sorted build instead of one index update per row and index).
    Only inside the caller's write transaction: SQLite's DDL is transactional, so a
    load that fails or is interrupted rolls the indexes back with the rows. A table
    that already holds rows (a resumed or repeated load) keeps its indexes."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    table = model.__table__.name
    if conn.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first() is not None:
        yield
        return
    # Indexes SQLite made itself (primary key, unique constraints) have no SQL: kept.
    made = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    ).all()
    for name, _sql in made:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    for _name, sql in made:
        conn.exec_driver_sql(sql)
