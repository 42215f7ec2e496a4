"""The store as a real database, and the one write path for every registered entity.

SQLite behaviour (architecture example 7) is checked on the ``store`` fixture; the write
path runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import create_model
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from core import writes
from core.clock import utcnow, uuid7
from core.db import BUSY_TIMEOUT_MS, Committed, Store, WriteBusy, integrity_check, sqlite_url
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.identity.security import verify_secret
from core.models import AuditEntry, Client, Organisation, OutboxEntry, SyncState
from core.registry import registry
from core.serial import to_json
from core.site import SiteInfo, open_store, site_info
from core.sync.notices import ChangeNotice
from core.sync.unit import unit_of
from core.writes import MASK, Actor
from tests.pg_fixture import fresh_database

ROOT = Path(__file__).resolve().parent.parent

# Marks a reference to fill by creating the referenced row first. Required references
# are filled without it.
REF = "<ref>"
T0 = "2026-05-01T18:00:00+02:00"

# One valid minimal payload per entity. A new entity needs an entry here (and in
# UPDATES unless it is append-only): test_samples_cover_the_registry says so.
SAMPLES: dict[str, dict[str, Any]] = {
    "users": {"name": "Ana", "role": "operator", "pin": "583920"},
    "clients": {"name": "Acme", "email": "Office@Acme.example"},
    "projects": {"name": "Hall 3", "client_id": REF, "start_date": "2026-05-01"},
    "machines": {"name": "Conformadora 1", "type": "CONFORMADORA", "ideal_rate": "40.5"},
    "jobs": {"title": "Roof panels", "quantity": "120.5"},
    "inventory": {"sku": "SKU-1", "name": "Steel coil", "quantity": "3.25"},
    "alerts": {"message": "Check oil", "machine_id": REF, "severity": "WARNING"},
    # from_user_id is optional in the schema but NOT NULL in the table; see the report.
    "messages": {"from_user_id": REF, "body": "Hola"},
    "events": {"type": "JOB_STARTED", "payload": {"note": "n1"}},
    "downtimes": {"started_at": T0, "reason": "SETUP"},
    # An opening balance: a plain report needs a started job (core.factory.rules).
    "production_reports": {"job_id": REF, "kind": "opening", "good_qty": "5"},
    "shows": {
        "city": "Madrid",
        "country": "es",
        "starts_at": T0,
        "fee": "1500.5",
        "currency": "eur",
    },
    "show_costs": {"type": "sound", "amount": "200", "currency": "EUR"},
    "travel": {"kind": "train", "origin": "Madrid", "destination": "Sevilla", "departs_at": T0},
    "calendar_entries": {"kind": "day_off", "title": "Rest", "starts_on": "2026-05-02"},
    "finance_rules": {"home_currency": "EUR", "user_id": REF},
}

UPDATES: dict[str, dict[str, Any]] = {
    "users": {"name": "Ana B."},
    "clients": {"phone": "+34 600 000 000"},
    "projects": {"status": "ACTIVE"},
    "machines": {"status": "RUNNING", "efficiency": "87.5"},
    "jobs": {"priority": "HIGH", "title": "Roof panels, lot 2"},
    "inventory": {"quantity": "2.5"},
    "alerts": {"severity": "CRITICAL"},
    "messages": {"body": "Adiós"},
    "downtimes": {"notes": "coil change"},
    "shows": {"fee": "1600"},
    "show_costs": {"amount": "250.25"},
    "travel": {"reference": "AVE 123"},
    "calendar_entries": {"title": "Rest day"},
    "finance_rules": {"mgmt_base": "gross_less_production"},
}

ENTITIES = sorted(SAMPLES)


def make(s: Session, actor: Actor, entity: str, **overrides: Any) -> Any:
    """Create a valid row of ``entity`` (and the rows it must reference) via the write path."""
    spec = registry()[entity]
    data = {**SAMPLES[entity], **overrides}
    for field, target in spec.refs.items():
        required = spec.fields.model_fields[field].is_required()
        if data.get(field) == REF or (required and field not in data):
            data[field] = make(s, actor, target).id
    return writes.create(s, actor=actor, entity=entity, data=data)


def count(s: Session, model: type, **where: Any) -> int:
    stmt = select(func.count()).select_from(model).filter_by(**where)
    return int(s.scalar(stmt) or 0)


def trail(store: Store, entity_id: str) -> tuple[list[OutboxEntry], list[AuditEntry]]:
    with store.read() as s:
        outbox = s.scalars(select(OutboxEntry).filter_by(entity_id=entity_id).order_by("seq"))
        audit = s.scalars(select(AuditEntry).filter_by(entity_id=entity_id).order_by("seq"))
        return list(outbox), list(audit)


@pytest.fixture(scope="module")
def shared_pg_store(pg_server_url: str) -> Iterator[Store]:
    """One migrated PostgreSQL database for this module's write-path matrix.

    Migrating a database per test costs most of a second on PostgreSQL; the write-path
    tests share one and each works in an organisation of its own (``org_admin``), which
    the org-scoped keys, references and uniqueness keep apart. Tests that need a whole
    database to themselves use ``pg_store``.
    """
    with fresh_database(pg_server_url, "test_store") as url:
        s = open_store(url)
        try:
            yield s
        finally:
            s.dispose()


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def any_store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue("store" if request.param == "sqlite" else "shared_pg_store")


@pytest.fixture
def org_admin(any_store: Store) -> Actor:
    """An admin of a new organisation: isolates tests that share a database."""
    org_id = uuid7()
    with any_store.write() as s:
        s.add(
            Organisation(
                id=org_id, name=f"Org {org_id}", modules=["factory", "tour"], created_at=utcnow()
            )
        )
    return Actor(org_id=org_id, user_id=None, role="admin")


# ---------------------------------------------------------------------------
# SQLite as a real database


def test_pragmas_in_effect_on_reads_and_writes(store: Store) -> None:
    for ctx in (store.read, store.write):
        with ctx() as s:
            pragma = {
                name: s.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragma == {
            "journal_mode": "wal",
            # NORMAL: durability comes from GroupCommit's fsync before a write is
            # acknowledged (see core.db and the group-commit tests below).
            "synchronous": 1,
            "foreign_keys": 1,
            "busy_timeout": BUSY_TIMEOUT_MS,
        }


def test_a_write_is_acknowledged_only_after_an_fsync_that_began_after_its_commit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: every store.write() returns only once a WAL fsync that started after
    its commit has finished; concurrent writers share fsyncs."""
    gc = store.group_commit
    assert gc is not None
    lock = threading.Lock()
    mine = threading.local()  # the ordinal of this thread's last commit
    commits = 0
    fsync_starts: list[int] = []  # how many commits had happened when each fsync began
    real_fsync = gc._fsync

    @event.listens_for(store.engine, "commit")
    def _count(_conn: Any) -> None:
        nonlocal commits
        with lock:
            commits += 1
            mine.ordinal = commits

    def recording_fsync() -> None:
        with lock:
            fsync_starts.append(commits)
        time.sleep(0.002)  # a slow disk makes writers pile up behind one fsync
        real_fsync()

    monkeypatch.setattr(gc, "_fsync", recording_fsync)
    late: list[str] = []

    def writer(n: int) -> None:
        for i in range(25):
            with store.write() as s:
                s.add(SyncState(key=f"w{n}-{i}", value=i))
            with lock:
                covered = max(fsync_starts, default=0)
            if covered < mine.ordinal:
                late.append(f"w{n}-{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    event.remove(store.engine, "commit", _count)
    assert not late
    with store.read() as s:
        written = select(func.count()).select_from(SyncState).where(SyncState.key.like("w%"))
        assert s.scalar(written) == 200
    assert 0 < len(fsync_starts) < 200, "concurrent writers should share fsyncs"


def test_deferred_read_then_write_fails_at_once(store: Store) -> None:
    # Why store.write() uses BEGIN IMMEDIATE: two deferred transactions that read and
    # then write cannot both commit, and SQLite says so without waiting for busy_timeout.
    started = time.monotonic()
    with store.engine.connect() as a, store.engine.connect() as b:
        a.execute(text("SELECT count(*) FROM sync_state")).scalar()
        b.execute(text("SELECT count(*) FROM sync_state")).scalar()
        a.execute(text("INSERT INTO sync_state (key, value) VALUES ('a', '1')"))
        a.commit()
        with pytest.raises(OperationalError, match="database is locked"):
            b.execute(text("INSERT INTO sync_state (key, value) VALUES ('b', '1')"))
        b.rollback()
    assert time.monotonic() - started < BUSY_TIMEOUT_MS / 1000 / 2


def test_a_second_writer_waits_its_turn_without_sleeping_in_sqlite(
    store: Store, actor: Actor
) -> None:
    """Writers of one process queue on the store's turn before BEGIN IMMEDIATE, so none
    naps in SQLite's busy handler (up to 100 ms at a time) and the next one starts as the
    previous one commits."""
    begun: list[str] = []

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN"):  # about to ask SQLite for its lock
            begun.append(threading.current_thread().name)

    # SQLite's own trace (the store issues BEGIN on the driver's connection, past
    # SQLAlchemy's statement events).
    def checkout(dbapi_conn: Any, *args: Any) -> None:
        dbapi_conn.set_trace_callback(trace)

    event.listen(store.engine, "checkout", checkout)
    inside, release = threading.Event(), threading.Event()
    finished: list[float] = []

    def first() -> None:
        with store.write() as s:
            writes.create(s, actor=actor, entity="clients", data={"name": "first"})
            inside.set()
            release.wait(10)

    def second() -> None:
        with store.write() as s:
            writes.create(s, actor=actor, entity="clients", data={"name": "second"})
        finished.append(time.monotonic())

    a = threading.Thread(target=first, name="first")
    b = threading.Thread(target=second, name="second")
    a.start()
    assert inside.wait(10)
    b.start()
    time.sleep(0.3)
    assert "second" not in begun  # queued in the process, not in SQLite's lock
    released = time.monotonic()
    release.set()
    a.join(10)
    b.join(10)
    assert finished, "the second writer never finished"
    assert begun.count("second") == 1
    # It began as soon as the first committed: no 50-100 ms nap (generous for load).
    assert finished[0] - released < 0.5
    with store.read() as s:
        assert count(s, Client) == 2


def test_a_write_now_starts_at_once_or_not_at_all(
    store: Store, actor: Actor, tmp_path: Path
) -> None:
    """``Store.write_now`` (the event loop's writes) never waits: with this process's
    turn taken, or SQLite's lock held by another connection, it refuses before running
    anything, and SQLite's busy wait is back for the ordinary writes after it."""
    import sqlite3

    heard: list[list[ChangeNotice]] = []
    store.changes.subscribe(lambda notices: heard.append(list(notices)))
    inside, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.write():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert inside.wait(10)
    started = time.monotonic()
    with pytest.raises(WriteBusy), store.write_now(Committed()):
        raise AssertionError("ran while another writer of this process held the turn")
    release.set()
    t.join(10)
    # Another process's writer (a raw connection here) holds SQLite's lock.
    path = store.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(WriteBusy), store.write_now(Committed()):
            raise AssertionError("ran while another connection held SQLite's lock")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert time.monotonic() - started < 1.0  # no busy wait: 30 s with the usual timeout
    with store.read() as s:
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS
    # Free: it commits, and leaves the fsync and the notices to its caller.
    done = Committed()
    with store.write_now(done) as s:
        writes.create(s, actor=actor, entity="clients", data={"name": "at once"})
    assert heard == [] and [n.entity for n in done.notices] == ["clients"]
    assert store.group_commit is not None
    before = store.group_commit.fsyncs
    done.wait_durable()
    assert store.group_commit.fsyncs == before + 1
    done.publish()
    assert [[n.entity for n in batch] for batch in heard] == [["clients"]]
    # The loop waits for the disk itself only while fsyncs are quick here.
    store.group_commit.recent = 0.0005
    assert done.at_once()
    store.group_commit.recent = 0.05  # an SD card, a busy disk
    assert not done.at_once()
    with store.read() as s:
        assert count(s, Client) == 1


def test_concurrent_read_then_write_transactions_serialise(store: Store, actor: Actor) -> None:
    threads, per_thread = 2, 100
    start = threading.Barrier(threads)
    seen: list[int] = []
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with store.write() as s:
                    n = count(s, Client)  # read first: upgrading a deferred txn would fail
                    writes.create(s, actor=actor, entity="clients", data={"name": f"{t}-{i}"})
                seen.append(n)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)

    assert errors == []
    with store.read() as s:
        assert count(s, Client) == threads * per_thread
        assert count(s, OutboxEntry, entity="clients") == threads * per_thread
    # Each transaction saw every earlier commit and nothing else: they ran one at a time.
    assert sorted(seen) == list(range(threads * per_thread))


def test_foreign_key_violation_is_refused(store: Store) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), store.write() as s:
        s.execute(
            text(
                "INSERT INTO sites (id, org_id, name, created_at) "
                "VALUES ('s2', 'no-such-org', 'x', '2026-01-01 00:00:00')"
            )
        )


def test_reader_does_not_block_writer(store: Store, actor: Actor) -> None:
    with store.read() as r:
        before = count(r, Client)  # the read transaction now holds a snapshot
        started = time.monotonic()
        with store.write() as w:
            writes.create(w, actor=actor, entity="clients", data={"name": "while reading"})
        assert time.monotonic() - started < 1.0
        assert count(r, Client) == before  # WAL: the reader keeps its snapshot
    with store.read() as r:
        assert count(r, Client) == before + 1


def test_subscribers_hear_commits_only(store: Store, actor: Actor) -> None:
    heard: list[list[ChangeNotice]] = []
    unsubscribe = store.changes.subscribe(lambda notices: heard.append(list(notices)))
    with store.write() as s:
        row = writes.create(s, actor=actor, entity="clients", data={"name": "A"})
    with pytest.raises(RuntimeError), store.write() as s:
        writes.create(s, actor=actor, entity="clients", data={"name": "B"})
        raise RuntimeError("roll back")
    assert heard == [
        [ChangeNotice(entity="clients", id=row.id, kind="create", version=1, org_id=actor.org_id)]
    ]
    unsubscribe()
    with store.write() as s:
        writes.create(s, actor=actor, entity="clients", data={"name": "C"})
    assert len(heard) == 1


def test_a_failing_subscriber_neither_undoes_the_write_nor_starves_others(
    store: Store, actor: Actor
) -> None:
    def broken(_notices: Any) -> None:
        raise RuntimeError("a listener bug")

    heard: list[ChangeNotice] = []
    store.changes.subscribe(broken)
    store.changes.subscribe(heard.extend)
    with store.write() as s:
        row = writes.create(s, actor=actor, entity="clients", data={"name": "kept"})
    assert [n.id for n in heard] == [row.id]
    with store.read() as r:
        assert r.get(Client, (actor.org_id, row.id)) is not None


def test_a_rolled_back_savepoint_leaves_no_trace(store: Store, actor: Actor) -> None:
    """The one savepoint-rollback path: the row, its audit and outbox rows and its notice
    all go; what came before and after the savepoint stays."""
    heard: list[ChangeNotice] = []
    store.changes.subscribe(heard.extend)
    with store.write() as s:
        kept = writes.create(s, actor=actor, entity="clients", data={"name": "before"})
        with pytest.raises(RuntimeError), s.begin_nested():
            lost_id = writes.create(s, actor=actor, entity="clients", data={"name": "lost"}).id
            writes.update(s, actor=actor, entity="clients", id=kept.id, data={"name": "x"})
            raise RuntimeError("undo the savepoint")
        nested = s.begin_nested()
        writes.create(s, actor=actor, entity="clients", data={"name": "released"})
        nested.commit()
        after = writes.create(s, actor=actor, entity="clients", data={"name": "after"})
        ids = (kept.id, after.id)
        assert ("row", "clients", actor.org_id, lost_id) not in unit_of(s).made_here
    with store.read() as r:
        names = set(r.scalars(select(Client.name)))
        outbox = r.scalars(select(OutboxEntry.entity_id)).all()
        audit = r.scalars(select(AuditEntry.entity_id)).all()
    assert names == {"before", "released", "after"}
    assert len(outbox) == len(audit) == 3 and set(outbox) == set(audit)
    assert [n.kind for n in heard] == ["create"] * 3
    assert (heard[0].id, heard[-1].id) == ids


def _kill_writer_once(path: Path, org_id: str, rng: random.Random, log: Path) -> list[str]:
    """Start a writer, let it acknowledge some writes, SIGKILL it; return acknowledged ids."""
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.store_writer", str(path), org_id],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        want = rng.randint(3, 40)
        while len(acked) < want:
            line = proc.stdout.readline()
            assert line, f"writer died early:\n{log.read_text()}"
            acked.append(line.strip())
        time.sleep(rng.uniform(0, 0.02))  # land the kill anywhere in the next write
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.stdout is not None
    # Printed before the kill, read after it: acknowledged all the same. A torn last
    # line (never seen in practice) is not a complete acknowledgement.
    acked += [line.strip() for line in proc.stdout.read().splitlines() if len(line) == 36]
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return acked


@pytest.mark.slow
def test_acknowledged_writes_survive_kill_9(store: Store, site: SiteInfo, tmp_path: Path) -> None:
    path = Path(store.url.removeprefix("sqlite+pysqlite:///"))
    rng = random.Random()
    acked: list[str] = []
    for _ in range(5):
        acked += _kill_writer_once(path, site.org_id, rng, tmp_path / "writer.log")
        reopened = Store(sqlite_url(path))  # a fresh process view: recovers the hot WAL
        try:
            assert integrity_check(reopened) == "ok"
            with reopened.read() as s:
                rows = set(s.scalars(select(Client.id).where(Client.id.in_(acked))))
                queued = set(
                    s.scalars(
                        select(OutboxEntry.entity_id).where(
                            OutboxEntry.entity_id.in_(acked), OutboxEntry.kind == "create"
                        )
                    )
                )
                # Row and outbox entry commit together or not at all.
                made = count(s, Client)
                outboxed = count(s, OutboxEntry, entity="clients", kind="create")
        finally:
            reopened.dispose()
        assert rows == set(acked)
        assert queued == set(acked)
        assert made == outboxed
    assert len(acked) >= 15


# ---------------------------------------------------------------------------
# The write path, every entity, both dialects


def test_samples_cover_the_registry() -> None:
    # Entities made only by their own service (attachments, with their bytes: see
    # tests/attachments) have no generic create to sample here.
    specs = {n: s for n, s in registry().items() if s.generic_create}
    assert set(SAMPLES) == set(specs)
    assert set(UPDATES) == {n for n, s in specs.items() if not s.append_only}


@pytest.mark.parametrize("entity", ENTITIES)
def test_write_path_records_one_outbox_and_audit_entry_per_write(
    any_store: Store, org_admin: Actor, entity: str
) -> None:
    spec = registry()[entity]
    with any_store.write() as s:
        row = make(s, org_admin, entity)
        stored = {c.key: to_json(getattr(row, c.key)) for c in spec.model.__table__.columns}
    row_id = row.id

    outbox, audit = trail(any_store, row_id)
    assert [(o.kind, o.base_version) for o in outbox] == [("create", 0)]
    assert [(a.kind, a.version) for a in audit] == [("create", 1)]
    # The outbox carries exactly the stored values; the audit the same fields.
    assert outbox[0].fields == {k: stored[k] for k in outbox[0].fields}
    assert set(audit[0].changes) == set(outbox[0].fields)
    assert outbox[0].op_id == audit[0].op_id

    if spec.append_only:
        with any_store.write() as s:
            with pytest.raises(Forbidden):
                writes.update(s, actor=org_admin, entity=entity, id=row_id, data={}, version=1)
            with pytest.raises(Forbidden):
                writes.delete(s, actor=org_admin, entity=entity, id=row_id, version=1)
        assert tuple(map(len, trail(any_store, row_id))) == (1, 1)
        return

    with any_store.write() as s:
        row = writes.update(
            s, actor=org_admin, entity=entity, id=row_id, data=UPDATES[entity], version=1
        )
        assert row.version == 2
    with any_store.write() as s:
        with pytest.raises(Conflict) as stale:
            writes.update(
                s, actor=org_admin, entity=entity, id=row_id, data=UPDATES[entity], version=1
            )
        # The current row, for the client to show; read it while the session lives.
        assert (stale.value.current.id, stale.value.current.version) == (row_id, 2)
        with pytest.raises(Conflict):
            writes.delete(s, actor=org_admin, entity=entity, id=row_id, version=1)
    with any_store.write() as s:
        writes.delete(s, actor=org_admin, entity=entity, id=row_id, version=2)
    with any_store.write() as s:
        with pytest.raises(NotFound):
            writes.delete(s, actor=org_admin, entity=entity, id=row_id)
        with pytest.raises(NotFound):
            writes.update(s, actor=org_admin, entity=entity, id=row_id, data=UPDATES[entity])

    with any_store.read() as s:
        tomb = s.get(spec.model, (org_admin.org_id, row_id))
        assert tomb is not None and tomb.deleted_at is not None and tomb.version == 3
    outbox, audit = trail(any_store, row_id)
    assert [o.kind for o in outbox] == ["create", "update", "delete"]
    assert [(a.kind, a.version) for a in audit] == [("create", 1), ("update", 2), ("delete", 3)]
    changed = {k for k in UPDATES[entity] if k in outbox[1].fields}
    assert changed and set(outbox[1].fields) == changed == set(audit[1].changes)
    assert outbox[2].fields == {}


@pytest.mark.parametrize("entity", ENTITIES)
def test_invalid_values_are_refused_with_field_details(
    any_store: Store, org_admin: Actor, entity: str
) -> None:
    spec = registry()[entity]
    bad = {spec.title_field: ""}
    with any_store.write() as s:
        with pytest.raises(Invalid) as create_err:
            make(s, org_admin, entity, **bad)
        with pytest.raises(Invalid) as unknown_err:
            make(s, org_admin, entity, no_such_field=1)
        row = make(s, org_admin, entity)
        if not spec.append_only:
            with pytest.raises(Invalid) as update_err:
                writes.update(s, actor=org_admin, entity=entity, id=row.id, data=bad)
            assert spec.title_field in {d["field"] for d in update_err.value.details}
    assert spec.title_field in {d["field"] for d in create_err.value.details}
    assert "no_such_field" in {d["field"] for d in unknown_err.value.details}
    outbox, audit = trail(any_store, row.id)
    assert (len(outbox), len(audit)) == (1, 1)


@pytest.mark.parametrize(
    ("entity", "data", "field"),
    [
        ("jobs", {"quantity": "-1"}, "quantity"),
        ("jobs", {"machine_id": "no-such-machine"}, "machine_id"),
        ("jobs", {"produced_qty": "1", "scrap_qty": "2"}, "scrap_qty"),
        ("shows", {"currency": "XXX"}, "currency"),
        ("shows", {"starts_at": "2026-05-01T18:00:00"}, "starts_at"),  # naive
        ("calendar_entries", {"ends_on": "2026-05-01"}, "ends_on"),
        ("users", {"pin": "12"}, "pin"),
        ("machines", {"color": "red"}, "color"),
    ],
)
def test_specific_invalid_values(
    any_store: Store, org_admin: Actor, entity: str, data: dict[str, Any], field: str
) -> None:
    with any_store.write() as s, pytest.raises(Invalid) as err:
        make(s, org_admin, entity, **data)
    assert field in {d["field"] for d in err.value.details}


# Columns the schema lets be null but the table does not: an update to null reaches the
# database and fails there (IntegrityError) instead of being refused as Invalid.
def _not_null_fields() -> list[Any]:
    cases = []
    for name, spec in sorted(registry().items()):
        if spec.append_only or not spec.generic_create:
            continue
        columns = spec.model.__table__.columns
        for field in spec.stored_fields:
            if field in columns and not columns[field].nullable:
                cases.append(pytest.param(name, field, id=f"{name}.{field}"))
    return cases


@pytest.mark.parametrize(("entity", "field"), _not_null_fields())
def test_null_for_a_not_null_column_is_invalid(
    store: Store, actor: Actor, entity: str, field: str
) -> None:
    with store.write() as s:
        row = make(s, actor, entity)
    # raises() outside: inserts are flushed at commit, where a database error would surface.
    with pytest.raises(Invalid) as err, store.write() as s:
        writes.update(s, actor=actor, entity=entity, id=row.id, data={field: None})
    assert field in {d["field"] for d in err.value.details}


def test_a_validated_body_is_read_once_and_a_raw_mapping_is_validated(
    store: Store, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTTP edge hands the write path the body FastAPI validated (a subclass of the
    entity's schema with the edge's own fields): it is read, not validated again, and
    the edge's fields stay out; a raw mapping is validated; another model is refused."""
    spec = registry()["clients"]
    Create = create_model("EdgeCreate", __base__=spec.create, id=(str | None, None))
    Patch = create_model("EdgePatch", __base__=spec.update, version=(int | None, None))
    created = Create.model_validate({"name": "  Acme  ", "phone": "1", "id": "c-1"})
    patched = Patch.model_validate({"phone": " 2 ", "version": 1})
    validations: list[str] = []

    def counted(schema: Any) -> Any:
        real = schema.model_validate

        def model_validate(data: Any, **kw: Any) -> Any:
            validations.append(schema.__name__)
            return real(data, **kw)

        return model_validate

    for schema in (spec.create, spec.update):
        monkeypatch.setattr(schema, "model_validate", counted(schema))
    with store.write() as s:
        row = writes.create(s, actor=actor, entity="clients", data=created, id="c-1")
        writes.update(s, actor=actor, entity="clients", id=row.id, data=patched, version=1)
        assert validations == []
        assert (row.name, row.phone, row.version) == ("Acme", "2", 2)
        with pytest.raises(Invalid) as err:
            writes.update(s, actor=actor, entity="clients", id=row.id, data={"version": 2})
        assert validations == [spec.update.__name__]
        assert err.value.details[0]["field"] == "version"
        with pytest.raises(TypeError):
            writes.update(s, actor=actor, entity="clients", id=row.id, data=created)
    _, audit = trail(store, row.id)
    assert "id" not in audit[0].changes and set(audit[1].changes) == {"phone"}


def test_unique_sku_is_a_conflict(any_store: Store, org_admin: Actor) -> None:
    with any_store.write() as s:
        first = make(s, org_admin, "inventory", sku="A-1")
        other = make(s, org_admin, "inventory", sku="B-1")
    with any_store.write() as s:
        with pytest.raises(Conflict) as err:
            make(s, org_admin, "inventory", sku="A-1")
        assert err.value.details == [{"field": "sku", "message": "already in use"}]
        with pytest.raises(Conflict):
            writes.update(s, actor=org_admin, entity="inventory", id=other.id, data={"sku": "A-1"})
    with any_store.write() as s:
        writes.delete(s, actor=org_admin, entity="inventory", id=first.id)
    with any_store.write() as s:  # a tombstone frees its sku
        make(s, org_admin, "inventory", sku="A-1")


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def own_store(request: pytest.FixtureRequest) -> Store:
    """A whole database for the test: the ``store`` and ``pg_store`` fixtures."""
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


def _site_admin(store: Store) -> Actor:
    info = site_info(store)
    assert info is not None
    return Actor(org_id=info.org_id, user_id=None, role="admin")


def test_duplicate_id_is_a_conflict(own_store: Store) -> None:
    admin = _site_admin(own_store)
    with own_store.write() as s:
        writes.create(s, actor=admin, entity="clients", id="c-1", data={"name": "A"})
    with own_store.write() as s, pytest.raises(Conflict):
        writes.create(s, actor=admin, entity="clients", id="c-1", data={"name": "B"})
    with own_store.read() as s:
        assert count(s, OutboxEntry, entity_id="c-1") == 1


def test_secrets_never_appear_in_plaintext(own_store: Store) -> None:
    admin = _site_admin(own_store)
    with own_store.write() as s:
        user = make(s, admin, "users", pin="864209", password="correct horse")
    with own_store.write() as s:
        writes.update(s, actor=admin, entity="users", id=user.id, data={"pin": "975310"})

    outbox, audit = trail(own_store, user.id)
    dumped = json.dumps([o.fields for o in outbox] + [a.changes for a in audit])
    for secret in ("864209", "correct horse", "975310"):
        assert secret not in dumped
    assert audit[0].changes["pin_hash"] == [None, MASK]
    assert audit[0].changes["password_hash"] == [None, MASK]
    # The old hash is as secret as the new one.
    assert audit[1].changes["pin_hash"] == [MASK, MASK]
    # The outbox carries the hash (PIN login must work on other sites offline).
    assert outbox[1].fields["pin_hash"].startswith("$argon2id$")
    with own_store.read() as s:
        stored = s.get(registry()["users"].model, (admin.org_id, user.id))
        assert stored is not None and verify_secret(stored.pin_hash, "975310")


def test_create_refuses_a_default_that_leaves_a_not_null_column_empty(
    store: Store, site: SiteInfo
) -> None:
    """A message made by the system actor has no sender to default to: a clear Invalid."""
    system = Actor.system(site.org_id)
    with store.write() as s:
        sender = make(s, system, "users")
    with pytest.raises(Invalid) as err, store.write() as s:
        data = {"to_user_id": sender.id, "body": "hola"}
        writes.create(s, actor=system, entity="messages", data=data)
    assert "from_user_id" in {d["field"] for d in err.value.details}


@pytest.mark.pg
def test_a_pooled_connection_is_pinged_only_after_sitting_idle(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy server's transactions skip the ping (a round trip each); a connection that
    sat idle is checked, and one its server dropped meanwhile is replaced, not failed."""
    import core.db

    monkeypatch.setattr(core.db, "IDLE_PING_S", 0.3)
    store = Store(pg_url, pool_size=1, max_overflow=0)
    pings = []
    real_ping = store.engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings.append(time.monotonic())
        return real_ping(dbapi_conn)

    monkeypatch.setattr(store.engine.dialect, "do_ping", counted)
    try:
        with store.read() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
        for _ in range(5):
            with store.read() as s:
                assert s.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
        assert pings == []  # used a moment ago: not pinged
        time.sleep(0.4)
        with store.read() as s:
            assert s.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
        assert len(pings) == 1  # idle: pinged, alive, kept
        other = Store(pg_url, pool_size=1, max_overflow=0)
        try:
            with other.write() as s:
                assert s.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        finally:
            other.dispose()
        time.sleep(0.4)
        with store.read() as s:  # the dropped connection is found out and replaced
            assert s.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert len(pings) == 2
    finally:
        store.dispose()


@pytest.mark.pg
def test_a_single_read_runs_outside_a_transaction_and_leaves_the_pool_transactional(
    pg_url: str,
) -> None:
    """``read_one`` sends no BEGIN (PostgreSQL is idle after its statement); the pooled
    connection it used is back in transactions for the next write."""
    from psycopg.pq import TransactionStatus

    store = Store(pg_url, pool_size=1, max_overflow=0)
    try:
        with store.write() as s:
            s.execute(text("CREATE TABLE t (x int)"))

        def status(s: Session) -> TransactionStatus:
            return s.connection().connection.driver_connection.info.transaction_status

        with store.read_one() as s:
            assert s.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
            assert status(s) == TransactionStatus.IDLE
        with store.read() as s:
            s.execute(text("SELECT 1"))
            assert status(s) == TransactionStatus.INTRANS
        with pytest.raises(RuntimeError), store.write() as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("rolled back")
        with store.read_one() as s:
            assert s.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    finally:
        store.dispose()


def test_the_conflicts_left_to_forward_and_the_open_ones_are_found_by_index(
    store: Store,
) -> None:
    """After every push the agent looks for conflicts resolved here and not yet closed
    centrally; with years of resolved ones that must not read them all (it did: 7-9 ms
    a push with 20,000). Nor must counting or listing the open ones."""
    from core.models import ConflictRecord
    from sync_agent.agent import SyncAgent

    org = site_info(store).org_id
    now = utcnow()
    with store.write() as s:
        for i, (resolved, forwarded) in enumerate([(now, now)] * 50 + [(now, None), (None, None)]):
            s.add(ConflictRecord(
                id=f"c{i}", org_id=org, entity="clients", entity_id=f"r{i}", kind="field",
                fields=["phone"], losing_values={}, winning_values={}, created_at=now,
                resolved_at=resolved, forwarded_at=forwarded,
            ))  # fmt: skip
    with store.read() as s:
        assert SyncAgent._unforwarded(s) == ["c50"]
        from sqlalchemy.dialects import sqlite

        def plan(stmt: Any) -> str:
            sql = str(
                stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
            )
            rows = s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            return " ".join(str(r) for r in rows)

        assert "ix_conflicts_unforwarded" in plan(SyncAgent.unforwarded_query())
        # The open ones, as the sync status counts them and the lists list them.
        c = ConflictRecord
        assert "ix_conflicts_open" in plan(select(func.count()).where(c.resolved_at.is_(None)))
        assert "ix_conflicts_open" in plan(
            select(c).where(c.org_id == org, c.resolved_at.is_(None)).order_by(c.created_at)
        )


def test_the_agents_keys_read_back_as_they_were_set(store: Store) -> None:
    """The sync agent's keys go through plain SQL on its hot path (sync_agent.inbound):
    every JSON value reads back as it was set, through it and through the ORM alike (a
    number too, which SQLite's numeric affinity stores as a number), and a copy of the
    row the session holds sees the new value."""
    from core.models import SyncState
    from sync_agent import inbound

    values = {"cursor": 42, "rate": 1.5, "none": None, "text": "12", "doc": {"a": [1, "é"]}}
    with store.write() as s:
        inbound.set_keys(s, values)
    with store.read() as s:
        assert inbound.get_keys(s, [*values, "missing"]) == values
        assert {k: s.get(SyncState, k).value for k in values} == values
        assert inbound.get_key(s, "missing", "default") == "default"
    with store.write() as s:
        held = s.get(SyncState, "cursor")
        assert held is not None and held.value == 42
        inbound.set_keys(s, {"cursor": 43})
        assert held.value == 43 and inbound.get_key(s, "cursor") == 43
