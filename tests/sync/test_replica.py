"""Pulls and snapshots from a streaming replica (a second PostgreSQL cluster made with
``pg_basebackup -R`` on this machine): reads go to it, the feed never skips while it
lags under 16 concurrent writers, and a pushing site reads its own writes."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy import text

from central.app import create_central_app
from central.context import CentralContext
from central.feed import read_feed
from central.replica import ReadRouter, primary_lsn
from central.settings import CentralSettings
from core import writes
from core.db import Store
from core.writes import Actor
from local_api.server import EmbeddedServer
from tests.pg_fixture import libpq_url
from tests.sync.conftest import new_org, open_central

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def replay(replica_url: str, on: bool) -> None:
    with psycopg.connect(libpq_url(replica_url), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()" if on else "SELECT pg_wal_replay_pause()")


@pytest.fixture
def pair(pg_replica_urls):
    primary_url, replica_url = pg_replica_urls
    central = open_central(primary_url)
    replica = Store(replica_url)
    # A commit with an xid flushes the WAL up to it. Without it the newest WAL could be a
    # record nobody flushes (a sequence's prefetch), which reaches the replica only with
    # the next standby snapshot, up to 15 s later: the wait below took 14-21 s a test.
    with central.write() as s:
        s.execute(text("SELECT txid_current()"))
    with central.read() as s:
        lsn = primary_lsn(s)
    assert ReadRouter(central, replica, wait_seconds=30).wait_replayed(lsn)  # the schema
    yield central, replica, replica_url
    replay(replica_url, True)
    replica.dispose()
    central.dispose()


def make_client(central: Store, org_id: str, name: str = "n") -> str:
    with central.write() as s:
        return writes.create(
            s, actor=Actor.system(org_id), entity="clients", data={"name": name}
        ).id


def test_feed_never_skips_under_16_writers_while_the_replica_lags(pair):
    central, replica, replica_url = pair
    org = new_org(central)
    per_writer, writers = 25, 16
    stop = threading.Event()
    seen: list[int] = []
    gaps: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for n in range(per_writer):
                make_client(central, org, f"w{i}-{n}")
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        cursor = 0
        while True:
            done = stop.is_set()
            with replica.read() as s:
                entries, _, _ = read_feed(s, org, after=cursor, limit=500)
            for e in entries:
                if e.seq != cursor + 1:
                    gaps.append((cursor, e.seq))
                cursor = e.seq
                seen.append(e.seq)
            if done and not entries:
                return
            time.sleep(0.002)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    replay(replica_url, False)  # the replica stops replaying: it lags behind the writers
    time.sleep(0.7)
    lag_seen = len(seen)
    replay(replica_url, True)
    for t in threads:
        t.join()
    # Wait until the replica has everything, then let the reader drain it.
    with central.read() as s:
        lsn = primary_lsn(s)
    assert ReadRouter(central, replica, wait_seconds=30).wait_replayed(lsn)
    stop.set()
    reader.join(60)
    assert not errors
    total = per_writer * writers
    assert not gaps, gaps[:5]
    assert seen == list(range(1, total + 1))
    assert lag_seen < total  # it did lag while paused


@pytest.fixture
def replica_server(pair):
    central, replica, replica_url = pair
    settings = CentralSettings(
        database_url=central.url,
        database_replica_url=replica.url,
        jwt_secret="k" * 48,
        replica_wait_seconds=0.3,
    )
    ctx = CentralContext(settings=settings, store=central)
    server = EmbeddedServer(create_central_app(ctx), "127.0.0.1", 0).start()
    yield server.url, ctx, central, replica_url
    server.stop()
    ctx.reads.dispose()


def _site(url: str, central: Store, org: str, tmp_path, name: str):
    from central.enroll import create_site, make_enrollment_code
    from core.db import sqlite_url
    from core.site import open_store
    from sync_agent.agent import SyncAgent, enroll_site

    with central.write() as s:
        site = create_site(s, org_id=org, name=name)
        code, _ = make_enrollment_code(s, org_id=org, site_id=site.id)
    store = open_store(sqlite_url(tmp_path / f"{name}.sqlite3"))
    enroll_site(store, url, code, device_name=name)
    return store, SyncAgent(store)


def test_pulls_and_snapshots_read_the_replica_and_a_site_reads_its_own_writes(
    replica_server, tmp_path
):
    url, ctx, central, replica_url = replica_server
    org = new_org(central)
    for n in range(5):
        make_client(central, org, f"pre-{n}")
    a_store, a = _site(url, central, org, tmp_path, "A")
    a.sync_once()  # snapshot then pull, both from the replica (it is caught up)
    assert ctx.reads.replica_reads >= 2 and ctx.reads.primary_reads == 0
    # Replica paused: A pushes and pulls at once; its own write must come back to it.
    replay(replica_url, False)
    try:
        from core.site import site_info

        with a_store.write() as s:
            cid = writes.create(
                s,
                actor=Actor(org_id=site_info(a_store).org_id, user_id=None, role="admin"),
                entity="clients",
                data={"name": "mine"},
            ).id
        before = ctx.reads.primary_reads
        out = a.sync_once()
        assert out["pushed"] == 1
        assert ctx.reads.primary_reads > before  # the replica could not show it: primary
        with central.read() as s:
            head = read_feed(s, org, after=0, limit=1000)[0][-1].seq
        from sync_agent import inbound

        with a_store.read() as s:
            assert int(inbound.get_key(s, inbound.CURSOR_KEY) or 0) == head
        assert cid
    finally:
        replay(replica_url, True)
    for agent, store in ((a, a_store),):
        agent.client.close()
        store.dispose()


def test_a_woken_long_poll_answers_with_the_entry_that_woke_it(replica_server, tmp_path):
    """B waits in a long poll; A's push wakes it. With the replica replaying, B's answer
    comes from the replica after it passed the primary's position; with replay paused,
    from the primary once the bounded wait is over. Either way B gets the entry at once,
    not after the 25 s long-poll timeout."""
    url, ctx, central, replica_url = replica_server
    org = new_org(central)
    _a_store, a = _site(url, central, org, tmp_path, "A")
    b_store, b = _site(url, central, org, tmp_path, "B")
    a.sync_once()
    b.sync_once()
    for paused in (False, True):
        if paused:
            replay(replica_url, False)
        got: list[int] = []
        waiter = threading.Thread(target=lambda out=got: out.append(b.pull_available(wait=20)))
        t0 = time.monotonic()
        waiter.start()
        time.sleep(0.5)  # B is parked in its long poll
        reads = (ctx.reads.replica_reads, ctx.reads.primary_reads)
        make_client(central, org, f"wake-{paused}")
        waiter.join(15)
        assert got and got[0] >= 1, got
        assert time.monotonic() - t0 < 5
        if paused:
            assert ctx.reads.primary_reads > reads[1]
            replay(replica_url, True)
        else:
            assert ctx.reads.replica_reads > reads[0]
    for agent, store in ((a, _a_store), (b, b_store)):
        agent.client.close()
        store.dispose()
