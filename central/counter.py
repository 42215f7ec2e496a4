"""The feed's position counter, one row per organisation (``feed_counters``), and the
stamp in it that shows the central server it was restored.

Positions: see ``central.feed`` (the row is locked at the end of each writing
transaction, so positions become visible in commit order).

The stamp: each counter row keeps the counter table's own PostgreSQL object id. A
``pg_restore`` (with ``--clean``, or into a new database) re-creates the table, so the
rows it brings back carry the old table's id: the first transaction that touches the
counter after a restore finds it out, under the counter's row lock, before a single
position is handed out in the restored feed — so the new epoch begins exactly at the
dump's head (``central.epoch``). Restores that keep the table (a data-only load, a
point-in-time recovery of the whole cluster) are not seen this way; sites find those
out by their cursors, and ``structura central restore-epoch`` declares them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

TABLE_OID = "'feed_counters'::regclass::oid::bigint"  # the stamp a row should carry

_ALLOCATE_PG = text(
    f"INSERT INTO feed_counters (org_id, last_seq, stamp) VALUES (:org, :n, {TABLE_OID}) "
    "ON CONFLICT (org_id) DO UPDATE SET last_seq = feed_counters.last_seq + :n "
    f"RETURNING last_seq, stamp, {TABLE_OID}"
)
_ALLOCATE_NOTIFY_PG = text(
    f"{_ALLOCATE_PG.text}, pg_notify(:ch, :note || feed_counters.last_seq::text)"
)
# Elsewhere (a central server on SQLite, in tests and tools) there is no stamp.
_ALLOCATE = text(
    "INSERT INTO feed_counters (org_id, last_seq) VALUES (:org, :n) "
    "ON CONFLICT (org_id) DO UPDATE SET last_seq = feed_counters.last_seq + :n "
    "RETURNING last_seq, NULL, NULL"
)
_READ_PG = text(f"SELECT last_seq, stamp, {TABLE_OID} FROM feed_counters WHERE org_id = :org")
_READ = text("SELECT last_seq, NULL, NULL FROM feed_counters WHERE org_id = :org")
_SET_STAMP = text("UPDATE feed_counters SET stamp = :stamp WHERE org_id = :org")


@dataclass(frozen=True, slots=True)
class Counter:
    """The counter as a statement left it. ``restored``: the row came back from a
    restore (its stamp is another table's) — ``head`` is then the restored feed's head
    before this statement's positions."""

    last: int
    head: int
    restored: bool
    stamp: int | None
    stale: bool  # the stamp must be written (restored, or empty from before the stamp)


def seen(last: int, stamp: int | None, table: int | None) -> Counter:
    """The counter as a read of its row (``last_seq``, ``stamp``, the table's object id)
    found it, taking no positions."""
    return _counter(last, 0, stamp, table)


def _counter(last: int, n: int, seen: int | None, table: int | None) -> Counter:
    return Counter(
        last=last, head=last - n, restored=seen is not None and seen != table,
        stamp=table, stale=table is not None and seen != table,
    )  # fmt: skip


def on_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def allocate(
    session: Session, org_id: str, n: int, *, notify: tuple[str, str] | None = None
) -> Counter:
    """Take ``n`` positions (locking the organisation's row until the transaction ends).
    ``notify``: (channel, text) to ``NOTIFY`` with the last position taken appended,
    queued by the same statement (a statement of its own was a round trip per push)."""
    if on_pg(session):
        stmt = _ALLOCATE_NOTIFY_PG if notify is not None else _ALLOCATE_PG
        params: dict[str, object] = {"org": org_id, "n": n}
        if notify is not None:
            params |= {"ch": notify[0], "note": notify[1]}
        last, seen, table, *_ = session.execute(stmt, params).one()
        return _counter(int(last), n, seen, table)
    last, seen, table = session.execute(_ALLOCATE, {"org": org_id, "n": n}).one()
    if notify is not None:
        session.execute(text("SELECT pg_notify(:ch, :note)"),
                        {"ch": notify[0], "note": f"{notify[1]}{int(last)}"})  # fmt: skip
    return _counter(int(last), n, seen, table)


def read(session: Session, org_id: str, *, lock: bool = False) -> Counter | None:
    """The counter without taking positions (None before the organisation's first
    change); with ``lock`` the row stays locked until the transaction ends."""
    stmt = _READ_PG if on_pg(session) else _READ
    if lock:
        stmt = text(f"{stmt.text} FOR UPDATE") if on_pg(session) else stmt
    row = session.execute(stmt, {"org": org_id}).one_or_none()
    return None if row is None else seen(int(row[0]), row[1], row[2])


def set_stamp(session: Session, org_id: str, stamp: int) -> None:
    session.execute(_SET_STAMP, {"org": org_id, "stamp": stamp})


def feed_head(session: Session, org_id: str) -> int:
    value = session.execute(
        text("SELECT last_seq FROM feed_counters WHERE org_id = :org"), {"org": org_id}
    ).scalar_one_or_none()
    return int(value or 0)
