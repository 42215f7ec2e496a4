"""The generic read path: list and get any registry entity with filters, search, sort,
offset or keyset (cursor) pagination. Used by the LAN API and the desktop alike, so it
takes plain values (strings from a query string are fine) and raises ``core.errors``.

Cursor pagination is keyset on (sort keys..., id): a page never repeats or skips a row
when rows are inserted before the cursor, unlike offsets. NULLs sort first ascending
and last descending on both SQLite and PostgreSQL (made explicit, the dialects differ).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Integer,
    and_,
    false,
    func,
    inspect,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from core.errors import Invalid, NotFound
from core.fields import OutOfDomain, decimal_in_domain, int_in_domain, parse_date, parse_utc
from core.orm.types import Fixed, UTCDateTime
from core.registry import EntitySpec
from core.serial import to_json

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_OFFSET = 10_000_000
# The longest one list query may run: a search over a big table with a leading
# wildcard is the worst a client can ask for, and it must not hold a worker for long.
QUERY_SECONDS = 5.0


class QueryTooSlow(Invalid):
    code = "query_too_slow"


@contextmanager
def time_bounded(session: Session, seconds: float | None = None) -> Iterator[None]:
    """Abort the statements run inside after ``seconds`` (SQLite: a progress handler
    checking the clock every few thousand VM steps; PostgreSQL: statement_timeout)."""
    limit = QUERY_SECONDS if seconds is None else seconds
    conn = session.connection()
    raw: Any = None
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        deadline = time.monotonic() + limit
        raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 5_000)
    elif conn.dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = {max(1, int(limit * 1000))}"))
    try:
        yield
    except OperationalError as exc:
        text_ = str(exc.orig).lower()
        if "interrupted" in text_ or "statement timeout" in text_:
            raise QueryTooSlow(
                f"the query ran longer than {limit:g} s; narrow the filters or search",
                details=[{"field": "q", "message": "query too slow"}],
            ) from None
        raise
    finally:
        if raw is not None:
            raw.set_progress_handler(None, 0)


OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull")
META_COLUMNS = (
    "id",
    "version",
    "sync_version",
    "created_at",
    "updated_at",
    "updated_by",
    "deleted_at",
)


@dataclass
class Page:
    items: list[Any]  # ORM rows
    total: int
    limit: int
    offset: int
    next_cursor: str | None


def _bad(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", details=[{"field": field, "message": message}])


# Specs are not hashable (they hold dicts); they live as long as the registry, so key
# these per-spec caches by name and model.
_FILTERABLE: dict[tuple[str, type], dict[str, Any]] = {}
_READ_COLUMNS: dict[tuple[str, type], tuple[str, ...]] = {}


def filterable(spec: EntitySpec) -> dict[str, Any]:
    """Columns a client may filter and sort on: stored scalar fields and row metadata
    (JSON columns and secret hashes excluded)."""
    key = (spec.name, spec.model)
    found = _FILTERABLE.get(key)
    if found is None:
        cols = {c.key: c for c in inspect(spec.model).columns}
        names = [*META_COLUMNS, *spec.stored_fields]
        found = {n: cols[n] for n in names if n in cols and not isinstance(cols[n].type, JSON)}
        _FILTERABLE[key] = found
    return found


def read_columns(spec: EntitySpec) -> tuple[str, ...]:
    """What a client sees of a row: metadata plus stored fields, never secret hashes."""
    key = (spec.name, spec.model)
    found = _READ_COLUMNS.get(key)
    if found is None:
        found = _READ_COLUMNS[key] = (*META_COLUMNS, *spec.stored_fields)
    return found


def row_json(spec: EntitySpec, row: Any) -> dict[str, Any]:
    return {k: to_json(getattr(row, k)) for k in read_columns(spec)}


def _convert(column: Any, name: str, raw: Any) -> Any:
    """A query-string value to the column's Python value, within the column's domain
    (core.fields), or Invalid."""
    if raw is None:
        return raw
    t = column.type
    try:
        if isinstance(t, Fixed):
            return decimal_in_domain(raw, scale=t.scale)
        if isinstance(t, Integer) and not isinstance(t, Boolean):
            return int_in_domain(raw)
        if not isinstance(raw, str):
            return raw
        if isinstance(t, UTCDateTime):
            return parse_utc(raw)
        if isinstance(t, Date):
            return parse_date(raw)
        if isinstance(t, Boolean):
            return _parse_bool(name, raw)
    except OutOfDomain as exc:
        shown = raw[:50] if isinstance(raw, str) else raw
        raise _bad(name, f"'{shown}' is not a valid value ({exc})") from None
    if len(raw) > 1000:
        raise _bad(name, "at most 1000 characters")
    return raw


def _clause(column: Any, name: str, op: str, raw: Any) -> ColumnElement[bool]:
    if op == "isnull":
        flag = _parse_bool(name, raw) if isinstance(raw, str) else bool(raw)
        return column.is_(None) if flag else column.is_not(None)
    if op == "in":
        parts = raw.split(",") if isinstance(raw, str) else list(raw)
        if len(parts) > MAX_LIMIT:
            raise _bad(name + "__in", f"at most {MAX_LIMIT} values")
        return column.in_([_convert(column, name, p) for p in parts])
    value = _convert(column, name, raw)
    if value is None:
        return column.is_(None) if op == "eq" else column.is_not(None)
    return {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }[op](value)


def _parse_bool(name: str, raw: str) -> bool:
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise _bad(name, f"'{raw}' is not true or false")


def filter_clauses(spec: EntitySpec, filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """``{"status": "RUNNING", "quantity__gte": "10", "id__in": "a,b"}`` to SQL."""
    cols = filterable(spec)
    out = []
    for key, raw in filters.items():
        name, _, op = key.partition("__")
        op = op or "eq"
        if name not in cols:
            raise _bad(key, f"unknown filter field '{name}' for {spec.name}")
        if op not in OPERATORS:
            raise _bad(key, f"unknown operator '{op}' (use one of {', '.join(OPERATORS)})")
        out.append(_clause(getattr(spec.model, name), name, op, raw))
    return out


def parse_sort(spec: EntitySpec, sort: str | None) -> list[tuple[str, bool]]:
    """``"-starts_at,city"`` to [(name, descending)], always ending with id."""
    text = sort or spec.default_sort
    cols = filterable(spec)
    keys: list[tuple[str, bool]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        desc = part.startswith("-")
        name = part.lstrip("-+")
        if name not in cols:
            raise _bad("sort", f"cannot sort {spec.name} by '{name}'")
        if name not in (k for k, _ in keys):
            keys.append((name, desc))
    if not any(k == "id" for k, _ in keys):
        keys.append(("id", keys[-1][1] if keys else False))
    return keys


def _order_by(spec: EntitySpec, keys: list[tuple[str, bool]]) -> list[Any]:
    cols = [getattr(spec.model, n) for n, _ in keys]
    return [
        c.desc().nulls_last() if d else c.asc().nulls_first()
        for c, (_, d) in zip(cols, keys, strict=True)
    ]


def _after(column: Any, desc: bool, value: Any) -> ColumnElement[bool]:
    """Rows strictly after ``value`` in this key's order (NULLs first asc, last desc)."""
    if desc:
        return false() if value is None else or_(column < value, column.is_(None))
    return column.is_not(None) if value is None else column > value


def _same(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _keyset(
    spec: EntitySpec, keys: list[tuple[str, bool]], values: list[Any]
) -> ColumnElement[bool]:
    cols = [getattr(spec.model, n) for n, _ in keys]
    ors = []
    for i, (col, (_, desc)) in enumerate(zip(cols, keys, strict=True)):
        prefix = [_same(cols[j], values[j]) for j in range(i)]
        ors.append(and_(*prefix, _after(col, desc, values[i])))
    return or_(*ors)


def encode_cursor(spec: EntitySpec, keys: list[tuple[str, bool]], row: Any) -> str:
    payload = {
        "s": [("-" if d else "") + n for n, d in keys],
        "v": [to_json(getattr(row, n)) for n, _ in keys],
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(spec: EntitySpec, keys: list[tuple[str, bool]], cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        order, values = payload["s"], payload["v"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _bad("cursor", "not a cursor this server issued") from None
    if order != [("-" if d else "") + n for n, d in keys] or len(values) != len(keys):
        raise _bad("cursor", "the cursor belongs to another sort order")
    cols = filterable(spec)
    return [_convert(cols[n], "cursor", v) for (n, _), v in zip(keys, values, strict=True)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def base_query(
    spec: EntitySpec,
    org_id: str,
    *,
    filters: Mapping[str, Any] | None = None,
    q: str | None = None,
    include_deleted: bool = False,
    scope: Any | None = None,
) -> Any:
    model = spec.model
    where: list[Any] = [model.org_id == org_id]
    if not include_deleted:
        where.append(model.deleted_at.is_(None))
    if scope is not None:
        where.append(scope)
    where += filter_clauses(spec, filters or {})
    if q:
        if not spec.search:
            raise _bad("q", f"{spec.name} has no searchable fields")
        pattern = f"%{_escape_like(q.strip())}%"
        where.append(or_(*[getattr(model, f).ilike(pattern, escape="\\") for f in spec.search]))
    return select(model).where(*where)


def list_rows(
    session: Session,
    spec: EntitySpec,
    org_id: str,
    *,
    filters: Mapping[str, Any] | None = None,
    q: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    cursor: str | None = None,
    include_deleted: bool = False,
    scope: Any | None = None,
    with_total: bool = True,
) -> Page:
    """One page of rows. ``scope`` is an extra WHERE clause (row visibility per role)."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", f"must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise _bad("offset", f"must be between 0 and {MAX_OFFSET}")
    keys = parse_sort(spec, sort)
    stmt = base_query(
        spec, org_id, filters=filters, q=q, include_deleted=include_deleted, scope=scope
    )
    page_stmt = stmt.order_by(*_order_by(spec, keys))
    if cursor:
        page_stmt = page_stmt.where(_keyset(spec, keys, decode_cursor(spec, keys, cursor)))
        offset = 0
    with time_bounded(session):
        total = (
            session.scalar(select(func.count()).select_from(stmt.subquery())) if with_total else -1
        )
        rows = list(session.scalars(page_stmt.offset(offset).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(spec, keys, rows[-1]) if more and rows else None
    return Page(items=rows, total=total or 0, limit=limit, offset=offset, next_cursor=next_cursor)


def iter_rows(
    session: Session, spec: EntitySpec, org_id: str, *, batch: int = MAX_LIMIT, **kwargs: Any
) -> Iterator[Any]:
    """All matching rows in sort order, fetched a keyset page at a time (CSV export)."""
    cursor = None
    while True:
        page = list_rows(
            session, spec, org_id, limit=batch, cursor=cursor, with_total=False, **kwargs
        )
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def get_row(
    session: Session,
    spec: EntitySpec,
    org_id: str,
    id: str,
    *,
    include_deleted: bool = False,
    scope: Any | None = None,
) -> Any:
    row = session.get(spec.model, (org_id, id))
    if row is None or (row.deleted_at is not None and not include_deleted):
        raise NotFound(f"{spec.name} '{id}' not found")
    if scope is not None:
        visible = session.scalar(
            select(true()).where(spec.model.org_id == org_id, spec.model.id == id, scope)
        )
        if not visible:
            raise NotFound(f"{spec.name} '{id}' not found")
    return row
