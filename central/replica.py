"""Pulls and snapshots from a read replica (PostgreSQL streaming replication, hot
standby), with the primary as the fallback.

Why the feed still never skips on a replica: a standby replays the primary's WAL in
order, and a transaction becomes visible there when its commit record is replayed, in
the primary's commit order. Feed positions are handed out in commit order (see
``central.feed``), so a replica shows a prefix of the feed: it can be behind, never
have holes.

What a replica cannot give by itself is freshness, and two readers need it:

- the pushing site (read-your-writes): after its push commits, this worker notes the
  primary's WAL position for the device; its next pull or snapshot waits until the
  replica has replayed past it (``pg_last_wal_replay_lsn``);
- a woken long-poll: the notification comes from the primary at commit, maybe before
  the replica has the entry. The pull takes the primary's position at wake-up and waits
  for the replica to replay past it.

Either wait is bounded (``replica_wait_seconds``); past it the read goes to the primary,
so a lagging replica makes answers slower to offload, never wrong.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.db import Store

_AT_LEAST = text("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), CAST(:lsn AS pg_lsn)) >= 0")


def primary_lsn(session: Session) -> str:
    """The primary's WAL insert position: at or past every commit record so far. (Not
    ``pg_current_wal_lsn()``, the write position: with ``synchronous_commit=off`` a
    commit can return before its record is written, and the write position would let a
    reader through before the replica can have the commit.)"""
    return str(session.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar_one())


class ReadRouter:
    """Where feed reads and snapshots go: the replica when it has what the reader must
    see, else the primary. Without a replica URL every read goes to the primary."""

    def __init__(
        self,
        primary: Store,
        replica: Store | None,
        *,
        wait_seconds: float = 2.0,
        poll_seconds: float = 0.005,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._written: dict[str, str] = {}  # device id -> primary LSN after its last push
        self._lock = threading.Lock()
        # Counters for /metrics and the benchmark: where reads went.
        self.replica_reads = 0
        self.primary_reads = 0

    @classmethod
    def open(cls, primary: Store, url: str, *, pool_size: int, wait_seconds: float) -> ReadRouter:
        if not url:
            return cls(primary, None)
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        # Read-only at the engine: a standby refuses "SET ... READ WRITE", which SQLAlchemy
        # would send when a read-only snapshot connection goes back to a read-write pool.
        replica = Store(url, pool_size=pool_size, execution_options={"postgresql_readonly": True})
        return cls(primary, replica, wait_seconds=wait_seconds)

    def dispose(self) -> None:
        if self.replica is not None:
            self.replica.dispose()

    # --- freshness --------------------------------------------------------------------

    def note_push(self, device_id: str) -> None:
        """After a push committed: the device's next reads must include it."""
        if self.replica is None:
            return
        with self.primary.read_one() as s:
            lsn = primary_lsn(s)
        with self._lock:
            self._written[device_id] = lsn

    def current_lsn(self) -> str | None:
        if self.replica is None:
            return None
        with self.primary.read_one() as s:
            return primary_lsn(s)

    def replayed(self, lsn: str) -> bool:
        assert self.replica is not None
        with self.replica.read_one() as s:
            return bool(s.execute(_AT_LEAST, {"lsn": lsn}).scalar())

    def wait_replayed(self, lsn: str | None, timeout: float | None = None) -> bool:
        """True once the replica has replayed ``lsn`` (None: nothing to wait for)."""
        if self.replica is None:
            return False
        if lsn is None:
            return True
        deadline = time.monotonic() + (self.wait_seconds if timeout is None else timeout)
        while True:
            if self.replayed(lsn):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_seconds)

    def store_for(self, device_id: str | None, lsn: str | None = None) -> Store:
        """The store a read for this device should use, waiting (bounded) for the replica
        to replay the device's own last push and ``lsn`` if given."""
        if self.replica is None:
            return self.primary
        with self._lock:
            own = self._written.get(device_id or "")
        need = max((x for x in (own, lsn) if x), key=_lsn_key, default=None)
        if self.wait_replayed(need):
            self.replica_reads += 1
            return self.replica
        self.primary_reads += 1
        return self.primary

    @contextmanager
    def read_one(self, device_id: str | None, lsn: str | None = None) -> Iterator[Session]:
        """For a single statement (``Store.read_one``: no BEGIN, no ROLLBACK)."""
        with self.store_for(device_id, lsn).read_one() as s:
            yield s


def _lsn_key(lsn: str) -> int:
    hi, _, lo = lsn.partition("/")
    return (int(hi, 16) << 32) + int(lo, 16)
