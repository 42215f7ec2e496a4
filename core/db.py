"""Database setup for both dialects.

SQLite is used as a real database (architecture example 7): WAL so readers never block
the writer, foreign keys on, a busy timeout, and write transactions started with
``BEGIN IMMEDIATE`` — a deferred transaction that later upgrades to a write fails with
SQLITE_BUSY at once, whatever the timeout.

Durability (sync guarantee 1): a write the API acknowledged must survive a power cut. With
``synchronous=FULL`` SQLite fsyncs the WAL inside every commit, while holding the write
lock, so the site can commit only as often as the disk can fsync (~200/s here). Instead we
commit with ``synchronous=NORMAL`` (the WAL is written, not yet fsynced) and
``Store.write()`` returns only after an fsync of the WAL that *started after* the commit
(``GroupCommit``). An acknowledged write is therefore exactly as durable as under FULL, the
write lock is free during the fsync, and writers that commit while one fsync runs share
the next one (group commit).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.sync.unit import unit_of

T = TypeVar("T")

if TYPE_CHECKING:
    from core.sync.recorders import Recorder

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "structura_write"
AT_ONCE_OPTION = "structura_write_at_once"
FAST_FSYNC_S = 0.002  # see Committed.at_once


class WriteBusy(Exception):
    """``Store.write_now`` could not start its transaction at once."""


@dataclass
class Committed:
    """What a ``Store.write_now`` transaction leaves its caller to do once committed:
    wait for the commit to be on disk (blocking: from a thread), then tell subscribers."""

    notices: list[Any] = field(default_factory=list)
    group_commit: GroupCommit | None = None
    changes: Any = None

    def at_once(self) -> bool:
        """May the caller wait for the disk where it stands (an event loop)? While
        fsyncs take under ``FAST_FSYNC_S`` here: waiting on a writer thread instead cost
        the loop a GIL hand-off each way, a third of the 8-client tail (docs/benchmarks.md,
        "LAN API"); a slow disk (an SD card, a busy HDD) must not stall every reader."""
        return self.group_commit is None or self.group_commit.recent < FAST_FSYNC_S

    def wait_durable(self) -> None:
        if self.group_commit is not None:
            self.group_commit.wait_durable()

    def publish(self) -> None:
        if self.changes is not None:
            self.changes.publish(self.notices)


def sqlite_url(path: str | Path) -> str:
    return f"sqlite+pysqlite:///{Path(path)}"


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is always DEFERRED.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _enable_wal(cur)
        # NORMAL + GroupCommit after every write transaction: see the module docstring.
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        # On the driver's connection: these statements return nothing, and SQLAlchemy's
        # execution (cursor, result, events) cost more than SQLite's work on every
        # transaction (a third of a shop-floor write's statements).
        raw = conn.connection.driver_connection
        if options.get(AT_ONCE_OPTION, False):
            # Store.write_now: the lock now or not at all (SQLite's busy handler would
            # sleep on the event loop); the usual timeout back once it is had.
            raw.execute("PRAGMA busy_timeout = 0")
            try:
                raw.execute("BEGIN IMMEDIATE")
            finally:
                raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            return
        immediate = options.get(WRITE_OPTION, False)
        raw.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


class GroupCommit:
    """Makes committed WAL frames durable, sharing one fsync among concurrent writers.

    Each caller takes a ticket after its commit. A ticket is served by an fsync that began
    after the ticket was taken; one caller at a time runs the fsync (outside any database
    lock) and it serves every ticket taken before it began.
    """

    def __init__(self, db_path: Path) -> None:
        self.wal_path = Path(f"{db_path}-wal")
        self.dir_path = db_path.parent
        self._cond = threading.Condition()
        self._issued = 0
        self._served = 0
        self._running = False
        self._dir_synced = False
        self.fsyncs = 0  # for tests and the benchmark: how many fsyncs served the writers
        # How long an fsync takes here lately (seconds, moving average): an event loop
        # waits for the disk itself only while it answers quickly (Committed.at_once).
        self.recent = 0.0

    def wait_durable(self) -> None:
        with self._cond:
            self._issued += 1
            ticket = self._issued
            while self._served < ticket:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                covers = self._issued
                self._cond.release()
                try:
                    self._fsync()
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
                self._served = max(self._served, covers)

    def _fsync(self) -> None:
        try:
            fd = os.open(self.wal_path, os.O_RDONLY)
        except FileNotFoundError:
            # No WAL: the last connection checkpointed it into the database file, which
            # SQLite fsyncs itself before removing the WAL.
            return
        began = time.perf_counter()
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        took = time.perf_counter() - began
        self.recent = took if self.fsyncs == 0 else 0.8 * self.recent + 0.2 * took
        self.fsyncs += 1
        if not self._dir_synced:
            # The WAL's directory entry must be durable too (once, when it first exists).
            dfd = os.open(self.dir_path, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self._dir_synced = True


def _enable_wal(cur: Any) -> None:
    """Switch to WAL (a property of the file, kept once set). On a brand-new file two
    connections may race to switch it, and the loser gets "database is locked" at once
    (the busy timeout does not cover this pragma): wait and retry like the busy timeout
    would."""
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


IN_BATCH = 500  # values per ``IN (...)``: well under SQLite's bound-variable limit


def in_batches(values: Iterable[T], size: int = IN_BATCH) -> Iterator[list[T]]:
    """``values`` sorted and cut into lists of ``size``, for one ``IN (...)`` query
    each (sorted: the same set always gives the same statements, and locks are taken in
    one order)."""
    ordered = sorted(values)  # type: ignore[type-var]
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


def flush_for(session: Session, model: type) -> None:
    """Flush if rows of ``model`` wait to be written: a query about them must see the
    changes made earlier in this transaction (the sync apply leaves them unflushed).
    Only then, and the query itself runs under ``no_autoflush``: a flush of everything
    else pending cost a bulk write (the legacy import) one unit-of-work pass per row
    checked, and a progress report two flushes instead of the commit's one."""
    waiting = (session.new, session.dirty, session.deleted)
    if any(isinstance(o, model) for objects in waiting for o in objects):
        session.flush()


def json_text(value: Any) -> str:
    """How a site's SQLite store writes JSON columns: orjson's compact text, several
    times faster than the standard library's (the bootstrap's loader writes the same
    text, sync_agent.fastload). Text is read back by any JSON parser, so stores written
    before (``", "`` separators) read the same. What orjson refuses (an integer beyond
    64 bits) falls back to the standard library."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            json_serializer=kwargs.pop("json_serializer", json_text),
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=kwargs.pop("pool_size", 8),
            max_overflow=kwargs.pop("max_overflow", 16),
            **kwargs,
        )
        _setup_sqlite(engine)
        return engine
    engine = create_engine(
        url,
        # The same compact text as a site's (``json_text``): the central server writes a
        # feed entry, an audit entry and a row per op, the standard library's encoder
        # was a tenth of a push's apply.
        json_serializer=kwargs.pop("json_serializer", json_text),
        pool_size=kwargs.pop("pool_size", 10),
        max_overflow=kwargs.pop("max_overflow", 20),
        **kwargs,
    )
    _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection idle longer than this is pinged before use.
IDLE_PING_S = 1.0
_IDLE_SINCE = "structura.idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle (``IDLE_PING_S``).

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per transaction,
    a tenth of a one-op push on a busy server. A connection used a moment ago is known
    to work; one that sat idle may have outlived a PostgreSQL restart, a failover or a
    firewall's idle timeout, and is checked as before. A failed ping drops every pooled
    connection older than now (the server went away) and the checkout gets a new one."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError(f"connection lost while idle: {exc}") from exc


class Store:
    """A database plus the context for writes made on it.

    ``recorder_factory`` builds what the one write path calls for every change: on a site
    it appends to the outbox, on the central server to the change feed. Each session
    carries a unit of work (``core.sync.unit``); ``changes`` publishes its notices after
    commit.
    """

    def __init__(
        self,
        url: str,
        *,
        recorder_factory: Callable[[], Recorder] | None = None,
        engine: Engine | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        self.engine = engine or make_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        db_file = self.engine.url.database if self.is_sqlite else None
        self.group_commit = (
            GroupCommit(Path(db_file).resolve()) if db_file and db_file != ":memory:" else None
        )
        from core.sync import unit as uow
        from core.sync.notices import ChangePublisher
        from core.sync.recorders import OutboxRecorder

        uow.install()
        if recorder_factory is None:
            recorder_factory = OutboxRecorder
        self.recorder: Recorder = recorder_factory()
        self._reads = sessionmaker(self.engine, expire_on_commit=False, class_=uow.UnitSession)
        self._writes = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}),
            expire_on_commit=False,
            class_=uow.UnitSession,
        )
        self._writes_now = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True, AT_ONCE_OPTION: True}),
            expire_on_commit=False,
            class_=uow.UnitSession,
        )
        # The one fan-out of committed changes (live stream, sync agent, desktop).
        self.changes = ChangePublisher()
        # SQLite's writers, queued in this process: a writer that finds the file locked
        # sleeps in SQLite's busy handler (1, 2, 5 ... up to 100 ms a nap) however soon
        # the lock frees, which made the shop-floor mix's tail 150-400 ms with four writer
        # threads. Waiting here wakes the next writer as the previous one commits. Other
        # processes still meet the busy timeout. Reentrant: a write opened inside another
        # in the same thread behaves as before (SQLite's lock decides).
        self._write_turn = threading.RLock() if self.is_sqlite else None

    @contextmanager
    def write_now(self, done: Committed) -> Iterator[Session]:
        """A write transaction that starts only if it can start at once, for an event
        loop that must never wait on a lock: this process's write turn and SQLite's lock
        both free (SQLite asked without its busy wait). Raises ``WriteBusy`` before
        anything runs when it cannot; the caller then writes the ordinary way, from a
        thread.

        It commits like ``write()`` but leaves the rest to the caller in ``done``: the
        wait for the fsync (``done.wait_durable``, from a thread unless
        ``done.at_once()``) and, once durable, ``done.publish()``. The shop-floor writes
        ran on writer threads, and a write's few milliseconds of CPU stretched several
        times over while it shared the GIL with the loop serving reads, under SQLite's
        lock: the writes' queue, not the CPU, set the mix's tail (docs/benchmarks.md,
        "LAN API")."""
        lock = self._write_turn
        if lock is None or not lock.acquire(blocking=False):
            raise WriteBusy
        try:
            with self._transaction(self._writes_now, done, at_once=True) as session:
                yield session
        finally:
            lock.release()

    @contextmanager
    def _transaction(
        self, maker: sessionmaker[Any], done: Committed, *, at_once: bool = False
    ) -> Iterator[Session]:
        """The body of ``write()`` and ``write_now()``: a session carrying this store's
        recorder, committed on success; ``done`` then holds its notices."""
        with maker() as session:
            unit = unit_of(session)
            unit.recorder = self.recorder
            with session.begin():
                if at_once:
                    try:
                        session.connection()  # BEGIN IMMEDIATE, not waiting: _setup_sqlite
                    except (OperationalError, sqlite3.OperationalError) as exc:
                        # (the driver's own error: BEGIN runs on its connection)
                        if "locked" in str(exc) or "busy" in str(exc):
                            raise WriteBusy from None
                        raise
                yield session
            done.notices = unit.notices
        done.group_commit, done.changes = self.group_commit, self.changes

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to write (see ``_write_turn``). Not had within the busy
        timeout (a long import holds it), the writer goes on and SQLite's busy timeout
        decides, as it did before the queue: never a wait without end."""
        lock = self._write_turn
        got = lock is not None and lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            yield
        finally:
            if got:
                assert lock is not None
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    @contextmanager
    def read_one(self) -> Iterator[Session]:
        """A session for a single read statement, outside a transaction. On PostgreSQL
        that saves the BEGIN and ROLLBACK round trips (two of a primary-key read's
        three); each statement sees its own snapshot, hence one statement only. On
        SQLite, ``read()``."""
        if self.is_sqlite:
            with self.read() as session:
                yield session
            return
        with (
            self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
            Session(conn, expire_on_commit=False) as session,
        ):
            yield session

    @contextmanager
    def write(self, *, replayable: bool = False) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on any exception.

        Once the commit is durable, the notices the transaction's unit of work collected
        are published to ``changes``; never for a rolled-back transaction or savepoint.

        ``replayable``: a write of what the central server holds, which it would give
        again — the sync agent applying a pulled page (with the cursor that brought it)
        or recording a push's answers (the ops, pushed again, are answered from the
        central record). Published once committed and not waited on for the disk: a
        power cut can lose it only whole, and it is then pulled or answered again; every
        later acknowledged write's fsync covers it too (the WAL is one sequence), so
        nothing durable can rest on a lost one. It shows pulled changes on the site's
        screens sooner and keeps the agent's fsyncs off the shop floor's writes
        (docs/benchmarks.md, "Propagation, third pass").
        """
        done = Committed()
        with self._turn(), self._transaction(self._writes, done) as session:
            yield session
        if not replayable:
            done.wait_durable()  # acknowledged only once on disk (see the module docstring)
        done.publish()

    def dispose(self) -> None:
        self.engine.dispose()


def integrity_check(store: Store) -> str:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
