"""The sync agent: pushes the site's outbox, pulls the central feed, applies it.

Two threads when running: a pusher woken at once by local writes (``store.listeners``),
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
import threading
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from core.clock import utcnow
from core.db import Store
from core.models import AuditEntry, ConflictRecord, OutboxEntry
from core.registry import registry
from core.site import get_state
from sync_agent import apply
from sync_agent.backoff import Backoff
from sync_agent.client import CentralClient, CentralError, Offline, Refused, Revoked, SyncError

log = logging.getLogger(__name__)

IDENTITY_KEY = "device"
BOOTSTRAP_KEY = "bootstrap"
REVOKED_KEY = "revoked"


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
            url, device_id=self.device_id, device_secret=ident.get("device_secret"), http=http
        )
        self.batch_size, self.pull_limit, self.long_poll = batch_size, pull_limit, long_poll
        self._push_backoff = Backoff(cap=backoff_cap)
        self._pull_backoff = Backoff(cap=backoff_cap)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._push_lock = threading.Lock()
        self._pull_lock = threading.Lock()
        self._long_polling = False
        self.state = "revoked" if get_state(store, REVOKED_KEY) else "idle"
        self.last_sync_at: str | None = None
        self.last_error: str | None = None
        self._listener: Callable[[list[dict[str, Any]]], None] = self._on_local_change

    @property
    def enrolled(self) -> bool:
        return self.device_id is not None

    # --- one round ------------------------------------------------------------------

    def sync_once(self) -> dict[str, Any]:
        """Bootstrap if new, push everything pending, pull everything new. Raises the
        client's errors (Offline, Revoked, Refused, CentralError)."""
        out: dict[str, Any] = {}
        out["bootstrapped"] = self.bootstrap()
        out["pushed"] = self.push_pending()
        out["pulled"] = self.pull_available()
        return out

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except Revoked as exc:
            self._set_revoked(str(exc))
            raise
        except Offline as exc:
            self.state, self.last_error = "offline", str(exc)
            raise
        except (Refused, CentralError) as exc:
            self.state, self.last_error = "error", str(exc)
            raise
        self.state = "online"
        self.last_sync_at = utcnow().isoformat()
        return result

    def _set_revoked(self, message: str) -> None:
        self.state, self.last_error = "revoked", message
        with self.store.write() as s:
            apply.set_key(s, REVOKED_KEY, {"at": utcnow().isoformat(), "message": message})

    def push_pending(self) -> int:
        """Push the outbox in batches until nothing is waiting. Returns ops answered."""
        if not self.enrolled:
            raise SyncError("this site is not enrolled (structura sync enroll URL CODE)")
        total = 0
        with self._push_lock:
            while True:
                with self.store.read() as s:
                    ops = s.scalars(
                        select(OutboxEntry)
                        .where(OutboxEntry.status.in_(("pending", "acked")))
                        .order_by(OutboxEntry.seq)
                        .limit(self.batch_size)
                    ).all()
                if not ops:
                    self.forward_resolutions()
                    return total
                wire = [op_json(op) for op in ops]
                results = self._guard(lambda w=wire: self.client.push(w))
                if len(results) != len(ops):
                    raise CentralError(500, "push answered a different number of ops")
                with self.store.write() as s:
                    # Fresh copies: the puller may have acked some meanwhile.
                    fresh = s.scalars(
                        select(OutboxEntry)
                        .where(OutboxEntry.seq.in_([op.seq for op in ops]))
                        .order_by(OutboxEntry.seq)
                    ).all()
                    for op in fresh:
                        op.attempts = (op.attempts or 0) + 1
                    apply.record_results(s, fresh, results, own_device=self.device_id)
                total += len(ops)

    def forward_resolutions(self) -> int:
        """Close on the central server the conflicts people resolved here.

        The resolution's effect is already an ordinary edit in the outbox (pushed before
        this runs), so the central copy is closed with "server": keep the row as it now
        is. Records of ops the central server rejected exist only here: nothing to close.
        Returns the number closed."""
        with self.store.read() as s:
            todo = s.scalars(
                select(ConflictRecord.id).where(
                    ConflictRecord.resolved_at.is_not(None),
                    ConflictRecord.kind != "rejected",
                    ConflictRecord.resolution["forwarded"].as_string().is_(None),
                )
            ).all()
        for conflict_id in todo:
            try:
                self._guard(lambda c=conflict_id: self.client.resolve(c, "server"))
            except CentralError as exc:
                if exc.status != 404:  # unknown there: nothing to close
                    raise
            with self.store.write() as s:
                rec = s.get(ConflictRecord, conflict_id)
                if rec is not None:
                    rec.resolution = {**(rec.resolution or {}), "forwarded": True}
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
                cursor = int(get_state(self.store, apply.CURSOR_KEY, 0) or 0)
                self._long_polling = wait > 0
                try:
                    page = self._guard(
                        lambda c=cursor, w=wait: self.client.pull(c, limit=self.pull_limit, wait=w)
                    )
                finally:
                    self._long_polling = False
                if self._stop.is_set():
                    return total  # stopped while waiting: leave the store alone
                entries = page["entries"]
                if entries:
                    with self.store.write() as s:
                        # Re-read under the write lock: another puller may have moved it.
                        if int(apply.get_key(s, apply.CURSOR_KEY, 0) or 0) != cursor:
                            continue
                        apply.apply_entries(s, entries, own_device=self.device_id)
                        apply.set_key(s, apply.CURSOR_KEY, int(page["next"]))
                    total += len(entries)
                if not page.get("more"):
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
                apply.settle_answered(s, apply.sent_keys(s))
            return done

    def _bootstrap(self, state: dict[str, Any]) -> bool:
        loaded = set(state.get("entities") or ())
        reg = registry()
        buf: list[dict[str, Any]] = []
        entity: str | None = None
        cursor = None
        rows = 0

        def flush(done_entity: str | None = None) -> None:
            nonlocal buf
            with self.store.write() as s:
                if buf and entity is not None:
                    apply.bulk_rows(s, reg[entity], buf)
                if done_entity is not None:
                    loaded.add(done_entity)
                state["entities"] = sorted(loaded)
                apply.set_key(s, BOOTSTRAP_KEY, dict(state))
            buf = []

        for item in self.client.snapshot():
            if "cursor" in item:
                cursor = int(item["cursor"])
                # Keep the oldest cursor across interrupted attempts.
                state["cursor"] = min(cursor, int(state.get("cursor", cursor)))
            elif "entity" in item:
                if entity is not None and entity not in loaded:
                    flush(entity)
                entity = item["entity"]
            elif "end" in item:
                if entity is not None and entity not in loaded:
                    flush(entity)
                with self.store.write() as s:
                    state["done"] = True
                    apply.set_key(s, BOOTSTRAP_KEY, state)
                    apply.set_key(s, apply.CURSOR_KEY, int(state["cursor"]))
                    s.add(AuditEntry(
                        org_id=self.org_id or "", at=utcnow(), actor_id=None, device_id=None,
                        entity="*", entity_id="*", kind="bootstrap", op_id=None,
                        version=int(state["cursor"]), changes={"rows": item.get("rows")},
                    ))  # fmt: skip
                return True
            elif entity is not None and entity not in loaded:
                buf.append(item)
                rows += 1
                if len(buf) >= 5000:
                    flush()
        raise Offline("snapshot ended early")

    # --- running in the background --------------------------------------------------

    def _on_local_change(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("source") != "sync" for c in changes):
            self._wake.set()

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self.store.listeners.append(self._listener)
        for name, target in (("sync-push", self._push_loop), ("sync-pull", self._pull_loop)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._listener in self.store.listeners:
            self.store.listeners.remove(self._listener)
        self.client.close()
        if self._pinned_http is not None:
            self._pinned_http.close()
        for t in self._threads:
            # A thread parked in a long-poll cannot be interrupted (closing the client
            # does not abort a blocked read) and holds nothing: when the poll returns it
            # sees the stop flag and leaves without touching the store. Anything else
            # (a push, an apply) is a short transaction worth waiting for.
            parked = t.name == "sync-pull" and self._long_polling
            t.join(min(timeout, 0.5) if parked else timeout)
        self._threads = []

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
        except Refused as exc:
            log.error("central server refuses this client: %s", exc)
            return 300.0
        except SyncError as exc:
            log.info("sync: %s", exc)
        except Exception as exc:  # keep the thread alive; report it
            if self._stop.is_set():
                return None  # stopping: the client was closed under a request in flight
            log.exception("sync step failed")
            self.state, self.last_error = "error", f"{type(exc).__name__}: {exc}"
        return backoff.next_delay()

    def _push_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            delay = self._loop_step(self.push_pending, self._push_backoff)
            if self._stop.is_set():
                break
            # Sleep until a local write or a retry is due (a periodic retry anyway).
            self._wake.wait(delay if delay is not None else 30.0)

    def _pull_loop(self) -> None:
        first = True
        while not self._stop.is_set():

            def step(first: bool = first) -> None:
                if first:
                    self.bootstrap()
                self.pull_available(wait=0 if first else self.long_poll)

            delay = self._loop_step(step, self._pull_backoff)
            if delay is None:
                first = False
            else:
                self._stop.wait(delay)

    # --- state for the desktop and the local API ------------------------------------

    def status(self) -> dict[str, Any]:
        with self.store.read() as s:
            pending = s.scalar(
                select(func.count()).where(OutboxEntry.status.in_(("pending", "acked")))
            )
            conflicts = s.scalar(select(func.count()).where(ConflictRecord.resolved_at.is_(None)))
            cursor = apply.get_key(s, apply.CURSOR_KEY, 0)
        return {
            "enrolled": self.enrolled,
            "device_id": self.device_id,
            "state": self.state if self.enrolled else "not_enrolled",
            "running": bool(self._threads),
            "pending_ops": int(pending or 0),
            "open_conflicts": int(conflicts or 0),
            "last_sync_at": self.last_sync_at,
            "last_error": self.last_error,
            "cursor": int(cursor or 0),
        }


def op_json(op: OutboxEntry) -> dict[str, Any]:
    return {
        "op_id": op.op_id,
        "entity": op.entity,
        "entity_id": op.entity_id,
        "kind": op.kind,
        "base_version": op.base_version,
        "fields": op.fields or {},
        "made_at": op.made_at,
        "made_by": op.made_by,
    }


def enroll_site(
    store: Store, central_url: str, code: str, *, device_name: str = "site",
    http: httpx.Client | None = None, fingerprint: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Turn an enrolment code into this store's device identity and site.

    Over HTTPS the central server's certificate is pinned from here on: the fingerprint
    the admin gave with the code, or else the one the server presents now (trust on
    first use). The code itself is already sent only to that certificate."""
    from core.site import ensure_site, site_info
    from sync_agent import pinning

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
    with store.write() as s:
        apply.set_key(s, IDENTITY_KEY, {
            "central_url": central_url.rstrip("/"), "device_id": data["device_id"],
            "device_secret": data["device_secret"], "org_id": data["org"]["id"],
            "site_id": data["site"]["id"], "central_fp": central_fp,
        })  # fmt: skip
    return data
