"""The sync agent: pushes the site's outbox, pulls the central feed, applies it.

Two threads when running: a pusher woken at once by local writes (it subscribes to the
store's change fan-out, ``Store.changes``),
and a puller that long-polls the feed, so a change reaches other online sites in well
under a second without a polling timer. Both back off with full jitter while the central
server cannot be reached and report their state through ``status()``.

Durability: an op leaves ``pending`` only in the SQLite transaction that stores its
answer; the feed cursor moves in the transaction that applies the rows. A kill at any
point leaves either the old state (the op is pushed again and answered from the central
server's record: exactly once) or the new one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TypeVar

import httpx
import orjson
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.attachments.blobs import BlobStore, blob_store_beside
from core.clock import utcnow
from core.db import Store
from core.identity import vault
from core.models import AuditEntry, ConflictRecord, OutboxEntry
from core.registry import registry
from core.site import get_state
from core.sync import wire
from core.sync.notices import ChangeNotice
from sync_agent import fastload, inbound
from sync_agent.backoff import Backoff
from sync_agent.blobs import BlobSync
from sync_agent.client import (
    CentralClient,
    CentralError,
    EpochChanged,
    Offline,
    Refused,
    Revoked,
    SyncError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

IDENTITY_KEY = "device"
BOOTSTRAP_KEY = "bootstrap"
REVOKED_KEY = "revoked"
# What the running agent last reported, for `structura sync status` in another process.
STATUS_KEY = "agent_status"
EPOCH_KEY = "epoch"  # the central epoch this site syncs in ({id, head})
MARK_KEY = "cursor_mark"  # wire.entry_mark of the feed entry at the cursor
# Set by a recovery, for the rest of the epoch: versions went back with the restore, so a
# pulled row is taken when its content differs, whatever the versions say.
RECOVERING_KEY = "recovering"
RECOVERY_KEY = "last_recovery"  # what the last recovery did, for status
GC_EVERY = 3600.0  # seconds between collections of unneeded attachment bytes
BLOB_SCAN_EVERY = 30.0  # seconds between looks for bytes to upload or prefetch
# Rows that can name bytes to move: an attachment (bytes to send or fetch), a job or a
# machine (a queued job's drawings are prefetched). Only a push or a pull that carried
# one of these wakes the byte loop before its periodic look: the look reads every active
# job and attachment, and woken by every row it cost a site with progress reports
# flowing a quarter of its sync CPU.
NAMES_BYTES = frozenset({"attachments", "jobs", "machines"})
HEARTBEAT = 10.0  # seconds between status records while nothing changes


def _device_secret(store: Store, ident: dict[str, Any]) -> str | None:
    """The device secret, unsealed (core.identity.vault). A store from before sealing
    holds it in clear: it is sealed in place now."""
    value = ident.get("device_secret")
    if not value:
        return None
    if not vault.is_sealed(value):
        with store.write() as s:
            inbound.set_key(s, IDENTITY_KEY, {**ident, "device_secret": vault.seal(value)})
        return str(value)
    try:
        return vault.unseal(value)
    except vault.VaultError as exc:
        log.error("%s", exc)
        return None


class SyncAgent:
    def __init__(
        self,
        store: Store,
        central_url: str | None = None,
        *,
        http: httpx.Client | None = None,
        client: CentralClient | None = None,
        batch_size: int = 500,
        pull_limit: int = 2000,
        long_poll: float = 25.0,
        backoff_cap: float = 60.0,
        probe_every: float = 0.25,
        verify_every: float | None = 900.0,
        blobs: BlobStore | None = None,
    ) -> None:
        self.store = store
        ident = get_state(store, IDENTITY_KEY) or {}
        self.device_id: str | None = ident.get("device_id")
        self.org_id: str | None = ident.get("org_id")
        url = central_url or ident.get("central_url") or ""
        self._pinned_http: httpx.Client | None = None
        if http is None and client is None and ident.get("central_fp"):
            # Pinned at enrolment: only the central server's own certificate is accepted.
            from sync_agent.pinning import pinned_client

            http = self._pinned_http = pinned_client(ident["central_fp"])
        self.client = client or CentralClient(
            url, device_id=self.device_id, device_secret=_device_secret(store, ident), http=http
        )
        self.client.epoch = (get_state(store, EPOCH_KEY) or {}).get("id")
        self._epoch_seen: str | None = None  # see _note_epoch
        # Attachment bytes (sync_agent.blobs): beside the site store unless given.
        blobs = blobs or blob_store_beside(store)
        self.blob_sync = BlobSync(store, self.client, blobs) if blobs is not None else None
        self._blob_wake = threading.Event()
        self._moved: set[str] = set()  # entities pushed or pulled since the byte loop looked
        self._moved_lock = threading.Lock()  # the push and pull loops both note and take
        self._last_gc = 0.0
        self.batch_size, self.pull_limit, self.long_poll = batch_size, pull_limit, long_poll
        self.probe_every = probe_every
        # A full comparison now and then (cheap when nothing differs: one exchange per
        # entity); None: only on demand (`structura sync verify`).
        self.verify_every = verify_every
        self.last_verify_at = time.monotonic()
        self._push_backoff = Backoff(cap=backoff_cap)
        self._pull_backoff = Backoff(cap=backoff_cap)
        self._wake = threading.Event()
        self._healed = threading.Event()  # the central server answers again
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._push_lock = threading.Lock()
        self._pull_lock = threading.Lock()
        self._long_polling = False
        self.state = "revoked" if get_state(store, REVOKED_KEY) else "idle"
        self.last_sync_at: str | None = None
        self.last_error: str | None = None
        self.last_error_at: str | None = None
        self._published: tuple[Any, ...] = ()
        self._published_at = 0.0
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def enrolled(self) -> bool:
        return self.device_id is not None

    # --- one round ------------------------------------------------------------------

    def sync_once(self) -> dict[str, Any]:
        """Bootstrap if new, push everything pending, pull everything new. Raises the
        client's errors (Offline, Revoked, Refused, CentralError)."""
        out: dict[str, Any] = {}
        out["bootstrapped"] = self.bootstrap()
        for attempt in (0, 1):
            try:
                out["pushed"] = self.push_pending()
                out["pulled"] = self.pull_available()
                break
            except EpochChanged as exc:
                if attempt:
                    raise
                out["recovered"] = self.recover(exc.info)
        blobs = self.sync_blobs()
        if any(blobs.values()):
            out["blobs"] = blobs
        return out

    def sync_blobs(self, *, prefetch: bool = True) -> dict[str, Any]:
        """Attachment bytes after the rows: upload what is pending, fetch what was asked
        for and what queued jobs will need; then, now and then, collect the bytes no
        live row needs (only once their tombstones have been pushed)."""
        if self.blob_sync is None or not self.enrolled:
            return {}
        report = self.blob_sync.run(prefetch=prefetch).as_dict()
        if time.monotonic() - self._last_gc > GC_EVERY:
            from core.attachments.service import collect_garbage

            report["collected"] = collect_garbage(self.store, self.blob_sync.blobs)
            self._last_gc = time.monotonic()
        return report

    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            result = fn()
        except Revoked as exc:
            self._set_revoked(str(exc))
            raise
        except Offline as exc:
            self._failed("offline", str(exc))
            raise
        except (Refused, CentralError) as exc:
            self._failed("error", str(exc))
            raise
        # Recovered: the error no longer describes the link (it stays in the log).
        self.state, self.last_error, self.last_error_at = "online", None, None
        self.last_sync_at = utcnow().isoformat()
        self._publish()
        return result

    def _failed(self, state: str, message: str) -> None:
        self.state, self.last_error = state, message
        self.last_error_at = utcnow().isoformat()
        self._publish()

    def _publish(self, force: bool = False) -> None:
        """Record the running agent's state in the store when it changes (and every
        ``HEARTBEAT`` s), so `structura sync status` in another process tells the truth."""
        if not self._threads and not force:
            return
        key = (self.state, self.last_error)
        now = time.monotonic()
        if key == self._published and now - self._published_at < HEARTBEAT and not force:
            return
        self._published, self._published_at = key, now
        record = {
            "state": self.state, "last_sync_at": self.last_sync_at,
            "last_error": self.last_error, "last_error_at": self.last_error_at,
            "pid": os.getpid(), "running": bool(self._threads),
            "heartbeat": utcnow().isoformat(),
        }  # fmt: skip
        try:
            with self.store.write() as s:
                inbound.set_key(s, STATUS_KEY, record)
        except Exception:  # a status record never stops the sync itself
            log.debug("could not record the sync status", exc_info=True)

    def _set_revoked(self, message: str) -> None:
        self.state, self.last_error = "revoked", message
        with self.store.write() as s:
            inbound.set_key(s, REVOKED_KEY, {"at": utcnow().isoformat(), "message": message})

    def push_pending(self) -> int:
        """Push the outbox in batches until nothing is waiting. Returns ops answered."""
        if not self.enrolled:
            raise SyncError("this site is not enrolled (structura sync enroll URL CODE)")
        total = 0
        with self._push_lock:
            with self.store.read() as s:
                ops = self._waiting_ops(s)
                todo = None if ops else self._unforwarded(s)
            while ops:
                sent = [wire_op(op) for op in ops]
                self._note_moved(op.entity for op in ops)
                answers = self._guard(partial(self.client.push, sent))
                if len(answers) != len(ops):
                    raise CentralError(500, "push answered a different number of ops")
                # Kept as sent, in the outbox entry, for the person looking at it later.
                results = [r.model_dump(mode="json") for r in answers]
                # Replayable: lost in a power cut, the ops are pushed again and answered
                # from the central record.
                with self.store.write(replayable=True) as s:
                    # Read again inside: the puller may have acked some meanwhile.
                    seqs = [op.seq for op in ops]
                    inbound.record_answers(s, seqs, results, own_device=self.device_id)
                self._note_epoch(self.client.last_epoch)
                total += len(seqs)
                # What comes next, in one read transaction (two after every push were
                # 1-2 ms on the path of every change); not in the write above, which
                # would hold the site's write lock longer for the shop floor's writes.
                with self.store.read() as s:
                    ops = self._waiting_ops(s)
                    todo = None if ops else self._unforwarded(s)
            self.forward_resolutions(todo)
            return total

    def _waiting_ops(self, s: Session) -> list[Waiting]:
        """The next batch to push, oldest first. Columns, not ORM objects: the entries
        are only read here (their answers are recorded by seq, set based, in
        ``record_answers``). Plain SQL, as the agent's keys (``sync_agent.inbound``): it
        is read when a local write wakes the pusher, on the way of every change, and
        again after each answer while the other site's page is applied."""
        rows = s.connection().exec_driver_sql(_WAITING, (self.batch_size,))
        return [
            Waiting(seq, op_id, entity, entity_id, kind, base_version,
                    orjson.loads(fields) if isinstance(fields, str) else fields,
                    made_at, made_by)
            for seq, op_id, entity, entity_id, kind, base_version, fields, made_at, made_by
            in rows
        ]  # fmt: skip

    def _note_epoch(self, info: wire.EpochInfo | None) -> None:
        """Remember the epoch at first contact; meeting another one is a restore.

        The epoch the store was last seen to hold is remembered: every push and pull
        answer names the epoch, and reading the store for it each time was a read
        transaction on the path of every change. Only an answer naming another epoch
        reads the store (another process on it may have recovered meanwhile)."""
        if info is None or info.id == self._epoch_seen:
            return
        known = get_state(self.store, EPOCH_KEY)
        if known is None:
            with self.store.write() as s:
                if inbound.get_key(s, EPOCH_KEY) is None:
                    inbound.set_key(s, EPOCH_KEY, info.model_dump())
            self.client.epoch = info.id
        elif known.get("id") != info.id:
            raise EpochChanged(info)
        self._epoch_seen = info.id

    def recover(self, info: wire.EpochInfo) -> dict[str, Any]:
        """The central server was restored from an older backup (a new epoch): give back
        what it lacks, then re-read its feed from where the new epoch began.

        Every op this site ever had answered is pushed again, in outbox order: those the
        restored server knows are answered from its record (exactly once), those it lost
        are applied now — a row created after the dump is created again, an edit or a
        delete made after it is made again (a resurrected row is deleted again by this
        site's newer tombstone). Pending ops then go the ordinary way. The feed is re-read
        from the epoch's head, taking the central rows even where their versions went
        back. Returns (and records, for status) what was done."""
        with self._push_lock, self._pull_lock:
            with self.store.read() as s:
                cursor = int(inbound.get_key(s, inbound.CURSOR_KEY, 0) or 0)
                old = (inbound.get_key(s, EPOCH_KEY) or {}).get("id")
            self.client.epoch = info.id  # pushes from now on are in the new epoch
            self.client.cursor_mark = None  # the old cursor is not a position of the new one
            counts: dict[str, int] = {}
            last = 0
            while True:
                with self.store.read() as s:
                    ops = s.scalars(
                        select(OutboxEntry)
                        .where(OutboxEntry.status.in_(("done", "sent", "acked")),
                               OutboxEntry.seq > last)
                        .order_by(OutboxEntry.seq)
                        .limit(self.batch_size)
                    ).all()  # fmt: skip
                if not ops:
                    break
                sent = [wire_op(op) for op in ops]
                self._note_moved(op.entity for op in ops)
                answers = self._guard(partial(self.client.push, sent))
                with self.store.write() as s:
                    for op, res in zip(ops, answers, strict=True):
                        counts[res.status] = counts.get(res.status, 0) + 1
                        if isinstance(res, wire.ConflictResult) and s.get(
                            ConflictRecord, res.conflict_id) is None:  # fmt: skip
                            s.add(inbound.conflict_copy(op, res.conflict.model_dump()))
                last = ops[-1].seq
            report = {
                "at": utcnow().isoformat(), "from_epoch": old, "epoch": info.id,
                "repushed": sum(counts.values()), "results": counts,
                "cursor_before": cursor, "cursor_after": min(cursor, info.head),
            }  # fmt: skip
            with self.store.write() as s:
                inbound.set_key(s, EPOCH_KEY, info.model_dump())
                inbound.set_key(s, inbound.CURSOR_KEY, min(cursor, info.head))
                inbound.set_key(s, MARK_KEY, None)
                inbound.set_key(s, RECOVERING_KEY, True)
                inbound.set_key(s, RECOVERY_KEY, report)
                # Sent with the next requests: a position the restored feed has.
                self.client.cursor_mark = f"{min(cursor, info.head)};"
                s.add(AuditEntry(
                    org_id=self.org_id or "", at=utcnow(), actor_id=None,
                    device_id=self.device_id, entity="*", entity_id="*", kind="recovery",
                    op_id=None, version=info.head, changes=report,
                ))  # fmt: skip
            log.warning("central server restored (epoch %s): %s", info.id, report)
            return report

    def verify(self, *, repair: bool = True) -> dict[str, Any]:
        """Compare this site's copy with the central copy by checksums and repair what
        differs from the central rows (``sync_agent.verify``)."""
        from sync_agent.verify import verify_site

        if not self.enrolled:
            raise SyncError("this site is not enrolled")
        with self._pull_lock:
            report = verify_site(self, repair=repair)
        self.last_verify_at = time.monotonic()
        if report.get("given_back"):
            self.push_pending()  # the rows the central server lacked go now
        return report

    @staticmethod
    def _unforwarded(s: Session) -> list[str]:
        """Conflicts resolved here and not yet closed on the central server."""
        # resolved_at and forwarded_at as the partial index ix_conflicts_unforwarded
        # says them, so it serves: after every push, a look at a handful of entries
        # however many conflicts the site has resolved over the years.
        return list(s.scalars(SyncAgent.unforwarded_query()))

    @staticmethod
    def unforwarded_query() -> Select[str]:
        return select(ConflictRecord.id).where(
            ConflictRecord.resolved_at.is_not(None),
            ConflictRecord.forwarded_at.is_(None),
            ConflictRecord.kind != "rejected",
        )

    def forward_resolutions(self, todo: list[str] | None = None) -> int:
        """Close on the central server the conflicts people resolved here (``todo``:
        their ids, when the caller has just read them).

        The resolution's effect is already an ordinary edit in the outbox (pushed before
        this runs), so the central copy is closed with "server": keep the row as it now
        is. Records of ops the central server rejected exist only here: nothing to close.
        Returns the number closed."""
        if todo is None:
            with self.store.read() as s:
                todo = self._unforwarded(s)
        for conflict_id in todo:
            try:
                self._guard(partial(self.client.resolve, conflict_id, "server"))
            except CentralError as exc:
                if exc.status != 404:  # unknown there: nothing to close
                    raise
            with self.store.write() as s:
                rec = s.get(ConflictRecord, conflict_id)
                if rec is not None:
                    rec.forwarded_at = utcnow()
        return len(todo)

    def pull_available(self, wait: float = 0) -> int:
        """Pull and apply until the feed has nothing more (waiting up to ``wait`` s for
        the first entry). Returns the number of entries applied."""
        if not self.enrolled:
            raise SyncError("this site is not enrolled")
        total = 0
        with self._pull_lock:
            while True:
                if self._stop.is_set():
                    return total
                with self.store.read() as s:
                    keys = inbound.get_keys(s, (inbound.CURSOR_KEY, MARK_KEY, RECOVERING_KEY))
                cursor = int(keys.get(inbound.CURSOR_KEY) or 0)
                mark = keys.get(MARK_KEY)
                recovering = bool(keys.get(RECOVERING_KEY))
                self.client.cursor_mark = f"{cursor};{mark or ''}"
                self._long_polling = wait > 0
                try:
                    page = self._guard(
                        partial(self.client.pull, cursor, limit=self.pull_limit, wait=wait)
                    )
                finally:
                    self._long_polling = False
                if self._stop.is_set():
                    return total  # stopped while waiting: leave the store alone
                # Positions of another epoch mean nothing here: recover first.
                self._note_epoch(page.epoch)
                entries = page.entries
                if entries:
                    last = entries[-1]
                    # Shown on the site's screens once committed: the cursor goes with it.
                    with self.store.write(replayable=True) as s:
                        # Re-read under the write lock: another puller may have moved it.
                        if int(inbound.get_key(s, inbound.CURSOR_KEY, 0) or 0) != cursor:
                            continue
                        inbound.apply_entries(s, entries, own_device=self.device_id,
                                              accept_older=recovering)  # fmt: skip
                        inbound.set_keys(s, {
                            inbound.CURSOR_KEY: page.next,
                            MARK_KEY: wire.entry_mark(last.entity, last.id, last.version,
                                                      last.op_id or "-"),
                        })  # fmt: skip
                    total += len(entries)
                    self._note_moved(e.entity for e in entries)
                if not page.more:
                    return total
                wait = 0

    def bootstrap(self) -> bool:
        """A new site loads a snapshot (consistent with a feed cursor) instead of
        replaying the whole feed. Resumable: entities already loaded are skipped and the
        oldest snapshot cursor is kept, so the feed replays whatever changed between."""
        if not self.enrolled:
            raise SyncError("this site is not enrolled")
        state = get_state(self.store, BOOTSTRAP_KEY) or {}
        if state.get("done"):
            return False
        with self._pull_lock:
            done = self._guard(lambda: self._bootstrap(dict(state)))
            # The snapshot's bulk load raised rows' versions without looking at the
            # outbox: ops answered before it (a push that outran the bootstrap) are done
            # now if their row shows their version.
            with self.store.write() as s:
                inbound.settle_answered(s, inbound.sent_keys(s))
            return done

    def _bootstrap(self, state: dict[str, Any]) -> bool:
        """One write transaction per entity, held while its rows stream in: one commit
        (one fsync) per entity instead of one per 5,000 rows, and into a table that was
        empty its secondary indexes are built once at the end instead of kept up row by
        row (``fastload.indexes_after``; inside the transaction, so an interrupted load
        leaves the table and its indexes as they were). Resumable per entity: one that
        did not finish is loaded again."""
        loaded = set(state.get("entities") or ())
        reg = registry()
        buf: list[dict[str, Any]] = []
        entity: str | None = None
        with ExitStack() as stack:
            tx: ExitStack | None = None
            session: Any = None

            def flush() -> None:
                nonlocal buf
                if buf and entity is not None:
                    inbound.bulk_rows(session, reg[entity], buf)
                buf = []

            def finish() -> None:
                # The entity's rows are in: its indexes, its mark, one commit.
                nonlocal tx
                if tx is None or entity is None:
                    return
                flush()
                loaded.add(entity)
                state["entities"] = sorted(loaded)
                inbound.set_key(session, BOOTSTRAP_KEY, dict(state))
                tx.close()
                tx = None

            for item in self.client.snapshot():
                if isinstance(item, wire.SnapshotCursor):
                    # Keep the oldest cursor across interrupted attempts.
                    state["cursor"] = min(item.cursor, int(state.get("cursor", item.cursor)))
                elif isinstance(item, wire.SnapshotEntity):
                    finish()
                    entity = item.entity
                    if entity not in loaded:
                        tx = stack.enter_context(ExitStack())
                        session = tx.enter_context(self.store.write())
                        tx.enter_context(fastload.indexes_after(session, reg[entity].model))
                elif isinstance(item, wire.SnapshotEnd):
                    finish()
                    with self.store.write() as s:
                        state["done"] = True
                        inbound.set_key(s, BOOTSTRAP_KEY, state)
                        inbound.set_key(s, inbound.CURSOR_KEY, int(state["cursor"]))
                        s.add(AuditEntry(
                            org_id=self.org_id or "", at=utcnow(), actor_id=None,
                            device_id=None, entity="*", entity_id="*", kind="bootstrap",
                            op_id=None, version=int(state["cursor"]),
                            changes={"rows": item.rows},
                        ))  # fmt: skip
                    return True
                elif tx is not None:
                    buf.append(item)
                    if len(buf) >= 5000:
                        flush()
        raise Offline("snapshot ended early")

    # --- running in the background --------------------------------------------------

    def _on_local_change(self, notices: Sequence[ChangeNotice]) -> None:
        # Rows pulled from the central server never enter the outbox: nothing to push.
        if any(n.source != "sync" for n in notices):
            self._wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._unsubscribe = self.store.changes.subscribe(self._on_local_change)
        if self.blob_sync is not None:
            self.blob_sync.blobs.clean_temp()  # what a crash left; never a real blob
        loops = [("sync-push", self._push_loop), ("sync-pull", self._pull_loop)]
        if self.blob_sync is not None:
            loops.append(("sync-blobs", self._blob_loop))
        for name, target in loops:
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.client.close()
        if self._pinned_http is not None:
            self._pinned_http.close()
        self.state = "stopped" if self.state != "revoked" else self.state
        self._publish(force=True)
        for t in self._threads:
            # A thread parked in a long-poll cannot be interrupted (closing the client
            # does not abort a blocked read) and holds nothing: when the poll returns it
            # sees the stop flag and leaves without touching the store. Anything else
            # (a push, an apply) is a short transaction worth waiting for.
            parked = t.name == "sync-pull" and self._long_polling
            t.join(min(timeout, 0.5) if parked else timeout)
        self._threads = []
        try:
            with self.store.write() as s:  # not running any more, whatever the threads do
                rec = inbound.get_key(s, STATUS_KEY) or {}
                if rec.get("pid") == os.getpid():
                    inbound.set_key(s, STATUS_KEY, {**rec, "running": False})
        except Exception:
            log.debug("could not record the stop", exc_info=True)

    def _loop_step(self, step: Callable[[], Any], backoff: Backoff) -> float | None:
        """Run one step; return how long to sleep before the next (None: go on now)."""
        try:
            step()
            backoff.reset()
            return None
        except Revoked:
            log.warning("this device was revoked; sync stopped (local data kept)")
            self._stop.set()
            return None
        except EpochChanged as exc:
            try:
                self.recover(exc.info)
            except SyncError as again:
                log.info("sync: recovery interrupted: %s", again)
                return backoff.next_delay()
            return None
        except Refused as exc:
            log.error("central server refuses this client: %s", exc)
            return 300.0
        except SyncError as exc:
            log.info("sync: %s", exc)
        except Exception as exc:  # keep the thread alive; report it
            if self._stop.is_set():
                return None  # stopping: the client was closed under a request in flight
            log.exception("sync step failed")
            self._failed("error", f"{type(exc).__name__}: {exc}")
        return backoff.next_delay()

    def _retry_wait(self, delay: float, wake: threading.Event) -> None:
        """Wait out a retry delay — until ``wake`` is set, the agent stops, or the central
        server answers a cheap probe again (asked every ``probe_every`` s), whichever
        comes first. The backoff spreads the real work of many sites coming back; the
        probe costs the central server next to nothing and brings a site back within a
        second of the link healing instead of up to the backoff cap."""
        end = time.monotonic() + delay
        while not self._stop.is_set() and not wake.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            if self._stop.wait(min(self.probe_every, left)) or wake.is_set():
                return
            if self.client.probe(timeout=max(0.2, self.probe_every)):
                # Answering again: both loops go on now, from the start of their backoff.
                self._push_backoff.reset()
                self._pull_backoff.reset()
                self._wake.set()
                self._healed.set()
                return

    def _push_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            delay = self._loop_step(self._push_and_wake, self._push_backoff)
            if self._stop.is_set():
                break
            self._publish()
            if delay is None and self._verify_due():
                self._loop_step(self.verify, self._push_backoff)
            if delay is not None:
                self._retry_wait(delay, self._wake)
            else:
                # Sleep until a local write (a periodic retry anyway).
                self._wake.wait(min(30.0, HEARTBEAT))

    def _push_and_wake(self) -> None:
        if self.push_pending():
            self._wake_blobs()  # rows first, then their bytes

    def _note_moved(self, entities: Iterable[str]) -> None:
        with self._moved_lock:
            self._moved.update(entities)

    def _wake_blobs(self) -> None:
        """Wake the byte loop if rows that name bytes went up or came down."""
        with self._moved_lock:
            moved, self._moved = self._moved, set()
        if moved & NAMES_BYTES:
            self._blob_wake.set()

    def _blob_loop(self) -> None:
        """Bytes in their own thread, so a large upload never delays the rows. Woken
        after each push and pull; looks at the content route's requests every second."""
        backoff = Backoff(cap=60.0)
        last_full = 0.0
        while not self._stop.is_set():
            full = time.monotonic() - last_full > BLOB_SCAN_EVERY or self._blob_wake.is_set()
            self._blob_wake.clear()
            if full:
                delay = self._loop_step(lambda: self.sync_blobs(prefetch=True), backoff)
                last_full = time.monotonic() if delay is None else last_full
            else:
                assert self.blob_sync is not None
                delay = self._loop_step(self.blob_sync.fetch_wanted, backoff)
            self._blob_wake.wait(delay if delay is not None else 1.0)

    def _verify_due(self) -> bool:
        if self.verify_every is None or self._stop.is_set():
            return False
        return time.monotonic() - self.last_verify_at >= self.verify_every

    def _pull_loop(self) -> None:
        first = True
        while not self._stop.is_set():

            def step(first: bool = first) -> None:
                if first:
                    self.bootstrap()
                if self.pull_available(wait=0 if first else self.long_poll):
                    self._wake_blobs()  # new rows may name bytes to prefetch

            delay = self._loop_step(step, self._pull_backoff)
            self._publish()
            if delay is None:
                first = False
            else:
                self._healed.clear()
                self._retry_wait(delay, self._healed)

    # --- state for the desktop and the local API ------------------------------------

    def status(self) -> dict[str, Any]:
        """The state as it is: this agent's own when it runs or has synced in this
        process; otherwise what the agent running beside the site (another process)
        last recorded, with ``running`` true only while that process lives and its
        record is fresh."""
        with self.store.read() as s:
            pending = s.scalar(
                select(func.count()).where(OutboxEntry.status.in_(("pending", "acked")))
            )
            conflicts = s.scalar(select(func.count()).where(ConflictRecord.resolved_at.is_(None)))
            cursor = inbound.get_key(s, inbound.CURSOR_KEY, 0)
            recorded = inbound.get_key(s, STATUS_KEY) or {}
            extra = {k: inbound.get_key(s, k) for k in EXTRA_STATUS_KEYS}
        live = bool(self._threads) or self.last_sync_at is not None or self.last_error is not None
        state, running = self.state, bool(self._threads)
        last_sync_at, last_error, last_error_at = (
            self.last_sync_at, self.last_error, self.last_error_at)  # fmt: skip
        if not live and recorded:
            running = _alive(recorded)
            state = str(recorded.get("state") or "idle") if running else "stopped"
            if self.state == "revoked":
                state = "revoked"
            last_sync_at = recorded.get("last_sync_at")
            last_error, last_error_at = recorded.get("last_error"), recorded.get("last_error_at")
        out = {
            "enrolled": self.enrolled,
            "device_id": self.device_id,
            "state": state if self.enrolled else "not_enrolled",
            "running": running,
            "pending_ops": int(pending or 0),
            "open_conflicts": int(conflicts or 0),
            "last_sync_at": last_sync_at,
            "last_error": last_error,
            "last_error_at": last_error_at,
            "cursor": int(cursor or 0),
        }
        for k, v in extra.items():
            if v is not None:
                out[k] = v
        return out


# Other records status() shows when present (the restore epoch, the last verify).
EXTRA_STATUS_KEYS: tuple[str, ...] = (EPOCH_KEY, RECOVERY_KEY, "last_verify")


def _alive(recorded: dict[str, Any]) -> bool:
    """Is the agent that wrote ``recorded`` still running (its process exists and its
    heartbeat is recent)?"""
    if not recorded.get("running"):
        return False
    try:
        beat = datetime.fromisoformat(str(recorded.get("heartbeat")))
    except ValueError:
        return False
    if (utcnow() - beat).total_seconds() > 3 * HEARTBEAT:
        return False
    pid = int(recorded.get("pid") or 0)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


class Waiting(NamedTuple):
    """An outbox entry waiting to be pushed, as ``_waiting_ops`` reads it."""

    seq: int
    op_id: str
    entity: str
    entity_id: str
    kind: str
    base_version: int
    fields: dict[str, Any] | None
    made_at: str
    made_by: str | None


# status in ("pending", "acked"): ix_outbox_pending (status, seq) serves it.
_WAITING = (
    "SELECT seq, op_id, entity, entity_id, kind, base_version, fields, made_at, made_by "
    "FROM outbox WHERE status IN ('pending', 'acked') ORDER BY seq LIMIT ?"
)


def wire_op(op: Any) -> wire.Op:
    """An outbox entry (the ORM object or a row of its columns) as it goes on the wire
    (validated here, before it leaves)."""
    return wire.Op.model_validate(
        {"op_id": op.op_id, "entity": op.entity, "entity_id": op.entity_id, "kind": op.kind,
         "base_version": op.base_version, "fields": op.fields or {}, "made_at": op.made_at,
         "made_by": op.made_by}
    )  # fmt: skip


def enroll_site(
    store: Store, central_url: str, code: str, *, device_name: str = "site",
    http: httpx.Client | None = None, fingerprint: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Turn an enrolment code into this store's device identity and site.

    Over HTTPS the central server's certificate is pinned from here on: the fingerprint
    the admin gave with the code, or else the one the server presents now (trust on
    first use). The code itself is already sent only to that certificate."""
    from core.site import ensure_site, set_site_code, site_info
    from core.tls import plain_http_refused
    from sync_agent import pinning

    if (why := plain_http_refused(central_url)) is not None:
        raise Refused(why)
    info = site_info(store)
    central_fp = None
    pinned = None
    if central_url.startswith("https://"):
        central_fp = pinning.normalise(fingerprint or pinning.fetch_fingerprint(central_url))
        if http is None:
            http = pinned = pinning.pinned_client(central_fp)
    elif fingerprint:
        raise Refused("a certificate fingerprint needs an https:// central URL")
    client = CentralClient(central_url, http=http)
    try:
        data = client.enroll(code, device_name)
    finally:
        client.close()
        if pinned is not None:
            pinned.close()
    if info is not None and info.org_id != data["org"]["id"]:
        raise Refused(
            f"this store belongs to organisation {info.org_name!r}, the code to "
            f"{data['org']['name']!r}; enrol a new store"
        )
    ensure_site(
        store, org_name=data["org"]["name"], site_name=data["site"]["name"],
        modules=tuple(data["org"]["modules"]), home_currency=data["org"]["home_currency"],
        org_id=data["org"]["id"], site_id=data["site"]["id"],
    )  # fmt: skip
    set_site_code(store, data["site"].get("code"))
    with store.write() as s:
        inbound.set_key(s, IDENTITY_KEY, {
            "central_url": central_url.rstrip("/"), "device_id": data["device_id"],
            "device_secret": vault.seal(data["device_secret"]), "org_id": data["org"]["id"],
            "site_id": data["site"]["id"], "central_fp": central_fp,
        })  # fmt: skip
    return data
