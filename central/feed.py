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

from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import Table, event, select, text
from sqlalchemy.orm import Session

from central import counter
from central import epoch as epochs
from core.clock import HybridClock, utcnow
from core.db import Store
from core.models import FeedEntry
from core.orm.base import Synced
from core.orm.types import Fixed
from core.registry import registry
from core.rowload import insert_rows
from core.serial import converters, row_to_json, to_json
from core.sync import wire
from core.sync.conflicts import WRITERS_KEY
from core.sync.recorders import Change
from core.sync.unit import unit_of

CHANNEL = "structura_feed"
# session.info key: the feed rows a transaction wrote (dicts, with their positions).
WRITTEN = "structura.feed_written"


def notify_prefix(org_id: str, device_id: str | None) -> str:
    """What a feed commit notifies, up to the last position it wrote (which the counter's
    statement appends): the organisation and the device whose push made every entry of
    it ("-": none); ids never hold a space (``core.fields.ID_PATTERN``)."""
    return f"{org_id} {device_id or '-'} "


def parse_notify_payload(note: str) -> tuple[str, str | None, int | None]:
    """(organisation, device or None, last position or None); a shorter note (a worker
    of an earlier version) names only what it has."""
    parts = note.split(" ")
    device = parts[1] if len(parts) > 1 and parts[1] != "-" else None
    try:
        head = int(parts[2]) if len(parts) > 2 else None
    except ValueError:
        head = None
    return parts[0], device, head


class FeedRecorder:
    """What the one write path does with a change on the central server.

    It stamps the row (``sync_version = version``; ``field_versions[f] = version`` for each
    changed field, and which device made that version) and queues a feed entry carrying
    the whole row as of this change on the unit of work (a rolled-back savepoint drops
    its entries there). The queue becomes feed rows in ``finalize`` — called by the push
    handler, or by a ``before_commit`` hook for any other write transaction.
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
        unit = unit_of(session)
        if not event.contains(session, "before_commit", self.finalize):
            event.listen(session, "before_commit", self.finalize)
        unit.feed.append(
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

    def finalize(self, session: Session) -> None:
        """Allocate positions and write the queued entries. Locks each organisation's
        counter row until the transaction ends; organisations in sorted order so two
        transactions never wait on each other in a cycle."""
        unit = unit_of(session)
        queue, unit.feed = unit.feed, []
        if not queue:
            return
        by_org: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in queue:
            by_org[entry["org_id"]].append(entry)
        now = utcnow()
        for org_id in sorted(by_org):
            entries = by_org[org_id]
            # Delivered by PostgreSQL only when (and if) this transaction commits; names
            # the device when one push made every entry (central.notify: its echo waits).
            # Queued by the statement that takes the positions: it knows the last one.
            devices = {entry["device_id"] for entry in entries}
            origin = devices.pop() if len(devices) == 1 else None
            note = (CHANNEL, notify_prefix(org_id, origin))
            taken = counter.allocate(session, org_id, len(entries), notify=note)
            if taken.stale:
                # The first write after a restore: the new epoch begins at the restored
                # feed's head, before these entries (central.counter).
                epochs.note_counter(session, org_id, taken)
            first = taken.head + 1
            for i, entry in enumerate(entries):
                entry["seq"] = first + i
                entry["committed_at"] = now
            insert_rows(session, FeedEntry, entries)
            # For the pushing worker's waiting pulls, once committed (central.notify).
            session.info.setdefault(WRITTEN, []).extend(entries)


def written_entries(session: Session) -> list[wire.FeedEntry]:
    """The feed entries the session's (committed) transaction wrote, as a pull sends them
    (built by ``feed_entry``, as ``read_feed`` builds them from the table's rows)."""
    return [feed_entry(SimpleNamespace(**e)) for e in session.info.get(WRITTEN, ())]


def feed_entry(e: Any) -> wire.FeedEntry:
    return wire.FeedEntry(
        seq=e.seq, entity=e.entity, id=e.entity_id, version=e.version, deleted=e.deleted,
        op_id=e.op_id, device_id=e.device_id, row=e.row,
    )  # fmt: skip


def read_feed(
    session: Session, org_id: str, *, after: int, limit: int
) -> tuple[list[wire.FeedEntry], int, bool]:
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
    entries = [feed_entry(r) for r in rows[:limit]]
    return entries, (entries[-1].seq if entries else after), more


def _json_row_maker(model: type) -> tuple[tuple[str, ...], Any]:
    """A fast Core-row -> JSON dict (what row_to_json gives for ORM rows)."""
    names = tuple(converters(model))

    def make(values: tuple[Any, ...]) -> dict[str, Any]:
        return {n: to_json(v) for n, v in zip(names, values, strict=True)}

    return names, make


def snapshot_lines(store: Store, org_id: str, *, batch: int = 2000) -> Iterator[bytes]:
    """NDJSON of every row of the organisation, consistent with one feed position.

    First line ``wire.SnapshotCursor`` ``{"cursor": C}``; then per entity (in reference
    order, so a site can insert them as they come) ``wire.SnapshotEntity``
    ``{"entity": name}`` and one line per row; last line ``wire.SnapshotEnd``
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
            yield _line(wire.SnapshotCursor(cursor=int(cursor or 0)))
            on_pg = conn.dialect.name == "postgresql"
            if on_pg:
                # row_to_json writes times in ISO 8601 in the session's zone: make it UTC.
                conn.exec_driver_sql("SET LOCAL TimeZone TO 'UTC'")
            total = 0
            for spec in registry().values():
                yield _line(wire.SnapshotEntity(entity=spec.name))
                rows = _pg_rows if on_pg else _python_rows
                for chunk in rows(conn, spec.model, org_id, batch):
                    total += chunk.count(b"\n")
                    yield chunk
            yield _line(wire.SnapshotEnd(end=True, rows=total))


def _python_rows(conn: Any, model: type[Synced], org_id: str, batch: int) -> Iterator[bytes]:
    """Snapshot lines encoded here (any dialect)."""
    names, make = _json_row_maker(model)
    table = model.__table__
    cols = [table.c[n] for n in names]
    result = conn.execute(
        select(*cols).where(table.c.org_id == org_id),
        execution_options={"yield_per": batch},  # server-side cursor
    )
    dumps = orjson.dumps
    for chunk in result.partitions(batch):
        yield b"".join(dumps(make(tuple(r))) + b"\n" for r in chunk)


def _pg_rows(conn: Any, model: type[Synced], org_id: str, batch: int) -> Iterator[bytes]:
    """Snapshot lines that PostgreSQL encodes itself (``row_to_json``): no Python value
    per column here, JSON columns passed through as they are stored."""
    table = model.__table__
    assert isinstance(table, Table)  # a declarative model's, never a join or alias
    result = conn.execute(
        text(_pg_json_query(table)).bindparams(org=org_id),
        execution_options={"yield_per": batch},
    )
    for chunk in result.partitions(batch):
        yield "".join(r[0] + "\n" for r in chunk).encode()


@cache
def _pg_json_query(table: Table) -> str:
    """``SELECT row_to_json(r)`` with every column under its wire name; ``Fixed`` columns
    (stored as scaled integers) as decimal strings with their scale, like
    ``core.serial.to_json`` writes them."""
    parts = []
    for c in table.c:
        col = f'"{c.name}"'
        if isinstance(c.type, Fixed):
            scale = c.type.scale
            col = f"(({col})::numeric / {10**scale})::numeric(38, {scale})::text"
        parts.append(f'{col} AS "{c.key}"')
    return (
        f"SELECT row_to_json(r)::text FROM (SELECT {', '.join(parts)} "
        f'FROM "{table.name}" WHERE org_id = :org) AS r'
    )


def _line(message: wire.SnapshotCursor | wire.SnapshotEntity | wire.SnapshotEnd) -> bytes:
    return message.model_dump_json().encode() + b"\n"
