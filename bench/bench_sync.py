"""Sync benchmark against ``structura central serve`` on PostgreSQL over real HTTP.

    python -m bench.bench_sync [--jobs 100000] [--ops 10000] [--samples 200]
    python -m bench.bench_sync --property 200   # the long run of the stateful test

Uses STRUCTURA_TEST_PG_URL when set, else a throwaway cluster (bench/harness/pg.py).
Prints: bootstrap of a new site with N job rows (target < 5 s), push of M queued ops with
conflict checks (target < 3 s), and propagation latency site A -> central -> site B with
both online (target p95 < 100 ms), each with where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.pg import fresh_database, server_from_env  # noqa: E402
from central.context import open_central_store  # noqa: E402
from central.enroll import create_org, create_site, make_enrollment_code  # noqa: E402
from core import writes  # noqa: E402
from core.clock import utcnow, uuid7  # noqa: E402
from core.db import sqlite_url  # noqa: E402
from core.models import FeedEntry, Job  # noqa: E402
from core.serial import row_to_json, values_from_json  # noqa: E402
from core.site import open_store, site_info  # noqa: E402
from core.writes import Actor  # noqa: E402
from sync_agent.agent import SyncAgent, enroll_site  # noqa: E402

# The benchmarks' PostgreSQL: STRUCTURA_TEST_PG_URL or a throwaway cluster.
pg_server = server_from_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def central_server(url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "STRUCTURA_CENTRAL_JWT_SECRET": "b" * 48}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "central", "serve", "--host", "127.0.0.1",
         "--port", str(port)], cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("central server did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def seed_jobs(store, org_id: str, n: int) -> str:
    """N job rows as the write path makes them (one machine). The rows go in through the
    write path for the first few and in bulk for the rest, with the same shape (version,
    field_versions, feed entries), so seeding 100k does not dominate the benchmark run."""
    actor = Actor.system(org_id)
    with store.write() as s:
        m = writes.create(s, actor=actor, entity="machines",
                          data={"name": "Roll former 1", "type": "CONFORMADORA"})  # fmt: skip
        sample = writes.create(s, actor=actor, entity="jobs", data={
            "machine_id": m.id, "title": "Job 0", "status": "PENDING", "priority": "NORMAL",
            "quantity": "120.5", "sequence": 0})  # fmt: skip
        template = row_to_json(sample)
        machine_id = m.id
    now = utcnow()
    chunk = 10_000
    seq = 3
    for start in range(1, n, chunk):
        rows, feed = [], []
        for i in range(start, min(n, start + chunk)):
            rid = uuid7()
            data = dict(template, id=rid, title=f"Job {i}", sequence=i)
            vals = values_from_json(Job, data)
            rows.append(vals)
            feed.append({"org_id": org_id, "seq": seq, "entity": "jobs", "entity_id": rid,
                         "version": 1, "op_id": uuid7(), "device_id": None, "deleted": False,
                         "row": data, "committed_at": now})  # fmt: skip
            seq += 1
        with store.write() as s:
            s.execute(insert(Job), rows)
            s.execute(insert(FeedEntry), feed)
    with store.write() as s:
        from sqlalchemy import text

        s.execute(text("UPDATE feed_counters SET last_seq = :n WHERE org_id = :o"),
                  {"n": seq - 1, "o": org_id})  # fmt: skip
    return machine_id


def new_site(central_store, base: str, org_id: str, name: str, tmp: Path) -> tuple:
    with central_store.write() as s:
        site = create_site(s, org_id=org_id, name=name)
        code, _ = make_enrollment_code(s, org_id=org_id, site_id=site.id)
    store = open_store(sqlite_url(tmp / f"{name}.sqlite3"))
    enroll_site(store, base, code, device_name=name)
    return store, SyncAgent(store, batch_size=1000, pull_limit=5000, long_poll=25)


def bench_bootstrap(central_store, base, org_id, tmp, n) -> tuple:
    store, agent = new_site(central_store, base, org_id, "fresh", tmp)
    agent.client._access_token()
    t0 = time.perf_counter()
    lines = sum(1 for _ in agent.client.snapshot())
    t_download = time.perf_counter() - t0
    t0 = time.perf_counter()
    agent.bootstrap()
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    pulled = agent.pull_available()
    t_pull = time.perf_counter() - t0
    with store.read() as s:
        count = s.query(Job).count()
    print(f"bootstrap: {count} job rows in {t_boot:.2f} s (target < 5 s) "
          f"[snapshot download+parse alone {t_download:.2f} s for {lines} lines; "
          f"apply {max(0.0, t_boot - t_download):.2f} s; catch-up pull {t_pull:.2f} s, "
          f"{pulled} entries]")  # fmt: skip
    t_floor = bootstrap_floor(central_store, org_id, tmp)
    print(f"  floor (PostgreSQL COPY out of the jobs + SQLite executemany into an empty "
          f"table, index after, one commit): {t_floor:.2f} s; bootstrap = "
          f"{t_boot / t_floor:.1f}x the floor (target <= 2x: "
          f"{'met' if t_boot <= 2 * t_floor else 'NOT met'})")  # fmt: skip
    return store, agent, t_boot


def bootstrap_floor(central_store, org_id, tmp) -> float:
    """The least a bootstrap of the jobs could cost here: PostgreSQL's COPY of the rows
    as text, and SQLite inserting the tuples with executemany into an empty table with
    the same columns (index built after, one commit, one fsync)."""
    import sqlite3

    cols = [c.name for c in Job.__table__.c]
    path = tmp / "floor.sqlite3"
    t0 = time.perf_counter()
    raw = central_store.engine.raw_connection()
    try:
        cur = raw.cursor()
        names = ", ".join(cols)
        query = f"COPY (SELECT {names} FROM jobs WHERE org_id = %s) TO STDOUT"
        with cur.copy(query, (org_id,)) as copy:
            rows = list(copy.rows())
    finally:
        raw.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"CREATE TABLE jobs ({', '.join(cols)}, PRIMARY KEY (org_id, id))")
    with db:
        db.executemany(f"INSERT INTO jobs VALUES ({', '.join('?' for _ in cols)})", rows)
        db.execute("CREATE INDEX ix_queue ON jobs (org_id, machine_id, status, sequence)")
    db.close()
    return time.perf_counter() - t0


def bench_push(central_store, store, agent, org_id, n_ops) -> float:
    info = site_info(store)
    assert info is not None  # new_site made it
    actor = Actor(org_id=info.org_id, user_id=None, role="admin")
    with store.read() as s:
        ids = [r for (r,) in s.execute(select(Job.id).order_by(Job.sequence).limit(n_ops))]
    # Make every tenth row also change centrally on the same field: real conflict checks.
    with central_store.write() as s:
        for rid in ids[::10]:
            writes.update(s, actor=Actor.system(org_id), entity="jobs", id=rid,
                          data={"title": "central edit"})  # fmt: skip
    with store.write() as s:
        for i, rid in enumerate(ids):
            writes.update(s, actor=actor, entity="jobs", id=rid,
                          data={"title": f"site edit {i}", "priority": "HIGH"})  # fmt: skip
    calls: list[float] = []
    real = agent.client.push

    def timed(ops):
        t = time.perf_counter()
        try:
            return real(ops)
        finally:
            calls.append(time.perf_counter() - t)

    agent.client.push = timed
    t0 = time.perf_counter()
    pushed = agent.push_pending()
    total = time.perf_counter() - t0
    agent.client.push = real
    with store.read() as s:
        from core.models import ConflictRecord

        conflicts = s.query(ConflictRecord).count()
    http = sum(calls)
    print(f"push: {pushed} ops in {total:.2f} s (target < 3 s) [{len(calls)} batches; "
          f"HTTP round trips incl. central apply {http:.2f} s; site outbox read + result "
          f"recording {total - http:.2f} s; {conflicts} conflicts recorded]")  # fmt: skip
    return total


def bench_latency(central_store, base, org_id, tmp, samples) -> list[float]:
    a_store, a = new_site(central_store, base, org_id, "A", tmp)
    b_store, b = new_site(central_store, base, org_id, "B", tmp)
    for ag in (a, b):
        ag.sync_once()
    info = site_info(a_store)
    assert info is not None  # new_site made it
    actor = Actor(org_id=info.org_id, user_id=None, role="admin")
    with a_store.write() as s:
        cid = writes.create(s, actor=actor, entity="clients", data={"name": "latency"}).id
    a.sync_once()
    b.sync_once()
    arrived = threading.Event()
    expected: dict[str, str] = {}

    def on_b(changes):
        for c in changes:
            if c.id == cid and c.source == "sync":
                with b_store.read() as s:
                    from core.models import Client

                    row = s.get(Client, (info.org_id, cid))
                    if row is not None and row.phone == expected.get("phone"):
                        arrived.set()

    b_store.changes.subscribe(on_b)
    a.start()
    b.start()
    time.sleep(0.5)
    lat = []
    try:
        for i in range(samples):
            arrived.clear()
            expected["phone"] = str(i)
            t0 = time.perf_counter()
            with a_store.write() as s:
                writes.update(s, actor=actor, entity="clients", id=cid, data={"phone": str(i)})
            if not arrived.wait(5):
                print(f"  sample {i} did not arrive within 5 s")
                continue
            lat.append((time.perf_counter() - t0) * 1000)
    finally:
        a.stop(2)
        b.stop(2)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"propagation A -> central -> B: n={len(lat)} p50 {p(0.5):.1f} ms, "
          f"p95 {p(0.95):.1f} ms (target < 100 ms), p99 {p(0.99):.1f} ms, "
          f"max {lat[-1]:.1f} ms, mean {statistics.mean(lat):.1f} ms")  # fmt: skip
    return lat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--ops", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--parts", default="bootstrap,push,latency", help="which measurements")
    ap.add_argument(
        "--property",
        type=int,
        metavar="EXAMPLES",
        help="run the stateful property test with this many examples instead",
    )
    args = ap.parse_args(argv)
    if args.property:
        env = {**os.environ, "STRUCTURA_SYNC_EXAMPLES": str(args.property)}
        return subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "tests/sync/test_property.py",
             "-o", "timeout=0"], cwd=ROOT, env=env)  # fmt: skip
    with pg_server() as server, fresh_database(server, "bench_sync") as url, \
            tempfile.TemporaryDirectory() as tmpdir:  # fmt: skip
        tmp = Path(tmpdir)
        central_store = open_central_store(url)
        with central_store.write() as s:
            org_id = create_org(s, name="Bench", modules=["factory", "tour"]).id
        t0 = time.perf_counter()
        seed_jobs(central_store, org_id, args.jobs)
        print(f"(seeded {args.jobs} jobs on central in {time.perf_counter() - t0:.1f} s)")
        with central_server(url) as base:
            parts = set(args.parts.split(","))
            store, agent, _ = bench_bootstrap(central_store, base, org_id, tmp, args.jobs)
            if "push" in parts:
                bench_push(central_store, store, agent, org_id, min(args.ops, args.jobs))
            agent.client.close()
            store.dispose()
            if "latency" in parts:
                bench_latency(central_store, base, org_id, tmp, args.samples)
        central_store.dispose()
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
