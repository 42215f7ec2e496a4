"""Write path throughput against plain inserts of the same rows into the same SQLite file.

Both sides commit one row per transaction through ``Store.write()`` (WAL, BEGIN
IMMEDIATE, acknowledged after a group-commit fsync): that is how the local API
acknowledges a write, so the ratio shows what validation, the version bump, the outbox
and the audit entry cost. A second pair does the same in batches of 100 rows per
transaction (the import and batch API shape), and a third with 8 concurrent writers (the
LAN API shape, where writers share fsyncs). Target (docs/benchmarks.md): the write path at least
40 % of plain-insert speed.

    python -m bench.bench_core [--rows 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import insert

from core import writes
from core.clock import utcnow, uuid7
from core.db import sqlite_url
from core.models import Job
from core.site import ensure_site, open_store
from core.writes import Actor


def _rows(n: int, machine_id: str) -> list[dict]:
    return [
        {"title": f"Perfil C150 lote {i}", "machine_id": machine_id, "quantity": "1250.5",
         "priority": "HIGH", "sequence": i, "operator_ids": []}
        for i in range(n)
    ]  # fmt: skip


def _plain(store, org_id: str, rows: list[dict], batch: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch):
        now = utcnow()
        chunk = [
            r | {"org_id": org_id, "id": uuid7(), "version": 1, "sync_version": 0,
                 "field_versions": {}, "created_at": now, "updated_at": now,
                 "status": "PENDING", "unit": "m"}
            for r in rows[start : start + batch]
        ]  # fmt: skip
        with store.write() as s:
            s.execute(insert(Job), chunk)
    return time.perf_counter() - t0


def _write_path(store, actor: Actor, rows: list[dict], batch: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch):
        with store.write() as s:
            for r in rows[start : start + batch]:
                writes.create(s, actor=actor, entity="jobs", data=r)
    return time.perf_counter() - t0


def _concurrent(run, rows: list[dict], threads: int = 8) -> float:
    """Split the rows over ``threads`` writers, each committing one row at a time."""
    parts = [rows[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=run, args=(p,)) for p in parts]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(sqlite_url(Path(tmp) / "bench.sqlite3"))
        site = ensure_site(store, org_name="Bench", site_name="Bench")
        actor = Actor(org_id=site.org_id, user_id=None, role="admin")
        with store.write() as s:
            machine = writes.create(s, actor=actor, entity="machines",
                                    data={"name": "C1", "type": "CONFORMADORA"})  # fmt: skip
        rows = _rows(args.rows, machine.id)
        print(f"rows per run: {args.rows}; SQLite WAL, BEGIN IMMEDIATE, durable (group commit)")
        print(f"{'shape':<28}{'plain rows/s':>14}{'write path rows/s':>20}{'ratio':>8}")
        for label, batch in (("1 row per transaction", 1), ("100 rows per transaction", 100)):
            plain = _plain(store, site.org_id, rows, batch)
            path = _write_path(store, actor, rows, batch)
            p, w = args.rows / plain, args.rows / path
            print(f"{label:<28}{p:>14.0f}{w:>20.0f}{w / p:>8.0%}")
        plain = _concurrent(lambda part: _plain(store, site.org_id, part, 1), rows)
        path = _concurrent(lambda part: _write_path(store, actor, part, 1), rows)
        p, w = args.rows / plain, args.rows / path
        print(f"{'8 writers, 1 row per txn':<28}{p:>14.0f}{w:>20.0f}{w / p:>8.0%}")
        assert store.group_commit is not None  # a file store commits in groups
        print(f"fsyncs that served all of the above: {store.group_commit.fsyncs}")
        print("target: write path >= 40 % of plain inserts (1 row per transaction)")
        store.dispose()


if __name__ == "__main__":
    main()
