"""Database setup for both dialects.

SQLite is used as a real database (architecture example 7): WAL so readers never block
the writer, ``synchronous=FULL`` so a commit the API acknowledged survives a power cut
(the outbox is in the same transaction as the row), foreign keys on, a busy timeout, and
write transactions started with ``BEGIN IMMEDIATE`` — a deferred transaction that later
upgrades to a write fails with SQLITE_BUSY at once, whatever the timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "structura_write"


def sqlite_url(path: str | Path) -> str:
    return f"sqlite+pysqlite:///{Path(path)}"


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is always DEFERRED.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=kwargs.pop("pool_size", 8),
            max_overflow=kwargs.pop("max_overflow", 16),
            **kwargs,
        )
        _setup_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_size=kwargs.pop("pool_size", 10),
        max_overflow=kwargs.pop("max_overflow", 20),
        pool_pre_ping=True,
        **kwargs,
    )


class Store:
    """A database plus the context for writes made on it.

    ``recorder_factory`` builds what the one write path calls for every change: on a site
    it appends to the outbox, on the central server to the change feed.
    """

    def __init__(
        self,
        url: str,
        *,
        recorder_factory: Callable[[], Any] | None = None,
        engine: Engine | None = None,
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        self.engine = engine or make_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if recorder_factory is None:
            from core.services.recorders import OutboxRecorder

            recorder_factory = OutboxRecorder
        self.recorder = recorder_factory()
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        # Rows made inside a savepoint that rolled back are gone: forget them (see
        # core.services.writes._made_here).
        event.listen(self._writes, "after_soft_rollback", _forget_rows_made_here)
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            session.info["store"] = self
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on any exception.

        After commit, listeners (the live change stream, the sync agent's wake-up) hear of
        the changes; they never run for a rolled-back transaction.
        """
        with self._writes() as session:
            session.info["store"] = self
            session.info["recorder"] = self.recorder
            session.info["changes"] = []
            with session.begin():
                yield session
            changes = session.info.get("changes") or []
        if changes:
            for listener in list(self.listeners):
                try:
                    listener(changes)
                except Exception:  # a listener must never undo an acknowledged write
                    log.exception("change listener failed")

    def dispose(self) -> None:
        self.engine.dispose()


def _forget_rows_made_here(session: Session, _transaction: Any) -> None:
    session.info.pop("made_here", None)


def integrity_check(store: Store) -> str:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
