"""The central change feed: the recorder the write path calls on the central server,
reading the feed after a cursor, and a consistent snapshot for bootstrapping a site.

Why positions never skip (guarantee 3): positions are handed out from one counter row
per organisation, locked (``INSERT .. ON CONFLICT DO UPDATE``) at the very end of the
writing transaction and held until it commits. A transaction that takes position N+1
waits for the one holding N to commit or roll back, so positions become visible in
commit order: once a reader has seen position N, nothing at or below N can appear later.
The lock is taken as late as possible (after every op of a push batch is applied) so the
serialised part of a transaction is a handful of inserts.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session

from core.clock import HybridClock, utcnow
from core.db import Store
from core.models import FeedEntry
from core.registry import registry
from core.serial import converters, row_to_json, to_json
from core.services.recorders import Change
from core.services.sync_apply import WRITERS_KEY

CHANNEL = "structura_feed"
_QUEUE = "feed_queue"

_ALLOCATE = text(
    "INSERT INTO feed_counters (org_id, last_seq) VALUES (:org, :n) "
    "ON CONFLICT (org_id) DO UPDATE SET last_seq = feed_counters.last_seq + :n "
    "RETURNING last_seq"
)


class FeedRecorder:
    """What the one write path does with a change on the central server.

    It stamps the row (``sync_version = version``; ``field_versions[f] = version`` for each
    changed field, and which device made that version) and queues a feed entry carrying
    the whole row as of this change. The queue becomes feed rows in ``finalize`` — called
    by the push handler, or by a ``before_commit`` hook for any other write transaction.
    """

    def __init__(self) -> None:
        self.clock = HybridClock()

    def record(self, session: Session, change: Change) -> None:
        row = change.row
        version = row.version
        row.sync_version = version
        fv = dict(row.field_versions or {})
        writers = dict(fv.pop(WRITERS_KEY, None) or {})
        names = ("deleted_at",) if change.kind == "delete" else tuple(change.fields)
        for name in names:
            fv[name] = version
        if change.device_id:
            writers[str(version)] = change.device_id
        live = {str(v) for v in fv.values()}
        writers = {v: d for v, d in writers.items() if v in live}
        if writers:
            fv[WRITERS_KEY] = writers
        # A new dict, so that SQLAlchemy sees the JSON column change.
        row.field_versions = fv
        queue = session.info.get(_QUEUE)
        if queue is None:
            queue = session.info[_QUEUE] = []
            event.listen(session, "before_commit", self.finalize)
        queue.append(
            {
                "org_id": change.org_id,
                "entity": change.entity,
                "entity_id": change.entity_id,
                "version": version,
                "op_id": change.op_id,
                "device_id": change.device_id,
                "deleted": row.deleted_at is not None,
                "row": row_to_json(row),
            }
        )

    @staticmethod
    def mark(session: Session) -> int:
        """Where the queue stands, to drop what a rolled-back savepoint queued."""
        return len(session.info.get(_QUEUE) or ())

    @staticmethod
    def rollback_to(session: Session, mark: int) -> None:
        queue = session.info.get(_QUEUE)
        if queue is not None:
            del queue[mark:]

    def finalize(self, session: Session) -> None:
        """Allocate positions and write the queued entries. Locks each organisation's
        counter row until the transaction ends; organisations in sorted order so two
        transactions never wait on each other in a cycle."""
        queue = session.info.get(_QUEUE)
        if not queue:
            return
        session.info[_QUEUE] = []
        by_org: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in queue:
            by_org[entry["org_id"]].append(entry)
        now = utcnow()
        for org_id in sorted(by_org):
            entries = by_org[org_id]
            last = session.execute(_ALLOCATE, {"org": org_id, "n": len(entries)}).scalar_one()
            first = last - len(entries) + 1
            for i, entry in enumerate(entries):
                entry["seq"] = first + i
                entry["committed_at"] = now
            session.execute(insert(FeedEntry), entries)
            # Delivered by PostgreSQL only when (and if) this transaction commits.
            session.execute(text("SELECT pg_notify(:ch, :org)"), {"ch": CHANNEL, "org": org_id})


def entry_json(e: Any) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "entity": e.entity,
        "id": e.entity_id,
        "version": e.version,
        "deleted": e.deleted,
        "op_id": e.op_id,
        "device_id": e.device_id,
        "row": e.row,
    }


def read_feed(
    session: Session, org_id: str, *, after: int, limit: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """Entries of one organisation after ``after``, in position order, at most ``limit``.

    Returns (entries, next cursor, whether more wait)."""
    f = FeedEntry
    stmt = (
        select(f.seq, f.entity, f.entity_id, f.version, f.deleted, f.op_id, f.device_id, f.row)
        .where(f.org_id == org_id, f.seq > after)
        .order_by(f.seq)
        .limit(limit + 1)
    )
    rows = session.execute(stmt).all()
    more = len(rows) > limit
    entries = [entry_json(r) for r in rows[:limit]]
    return entries, (entries[-1]["seq"] if entries else after), more


def feed_head(session: Session, org_id: str) -> int:
    value = session.execute(
        text("SELECT last_seq FROM feed_counters WHERE org_id = :org"), {"org": org_id}
    ).scalar_one_or_none()
    return int(value or 0)


def _json_row_maker(model: type) -> tuple[tuple[str, ...], Any]:
    """A fast Core-row -> JSON dict (what row_to_json gives for ORM rows)."""
    names = tuple(converters(model))

    def make(values: tuple[Any, ...]) -> dict[str, Any]:
        return {n: to_json(v) for n, v in zip(names, values, strict=True)}

    return names, make


def snapshot_lines(store: Store, org_id: str, *, batch: int = 2000) -> Iterator[bytes]:
    """NDJSON of every row of the organisation, consistent with one feed position.

    First line ``{"cursor": C}``; then per entity (in reference order, so a site can
    insert them as they come) ``{"entity": name}`` and one line per row; last line
    ``{"end": true, "rows": n}``. A REPEATABLE READ transaction makes every table and the
    counter one snapshot: positions are handed out under the counter lock, so everything
    up to C is in it and nothing after C is.
    """
    with store.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            cursor = conn.execute(
                text("SELECT last_seq FROM feed_counters WHERE org_id = :org"), {"org": org_id}
            ).scalar_one_or_none()
            yield (json.dumps({"cursor": int(cursor or 0)}) + "\n").encode()
            total = 0
            for spec in registry().values():
                model = spec.model
                names, make = _json_row_maker(model)
                cols = [model.__table__.c[n] for n in names]
                yield (json.dumps({"entity": spec.name}) + "\n").encode()
                result = conn.execute(
                    select(*cols).where(model.__table__.c.org_id == org_id),
                    execution_options={"yield_per": batch},  # server-side cursor
                )
                dumps = json.dumps
                for chunk in result.partitions(batch):
                    total += len(chunk)
                    yield ("\n".join(dumps(make(tuple(r))) for r in chunk) + "\n").encode()
            yield (json.dumps({"end": True, "rows": total}) + "\n").encode()
