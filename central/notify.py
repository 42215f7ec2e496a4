"""Wake long-polling pulls as soon as a feed position commits.

The feed recorder sends ``pg_notify('structura_feed', org_id)`` inside the writing
transaction; PostgreSQL delivers it only on commit, to every listening process. So this
works the same whether the write came from this worker, another worker or the CLI. One
thread per process holds a LISTEN connection and resolves the asyncio futures that
waiting pulls subscribed for their organisation.

A commit made by one device's push names that device (``central.feed.notify_prefix``):
the other devices' pulls wake at once, the pushing device's own pull a moment later
(``ECHO_DELAY_S``). Its echo tells that site only what the push answer already told it
(the new versions); answered in the same instant as the others, it competed with them
for this process and for the sites' disks. Nothing depends on the echo coming soon:
until it does, the site's answered ops stay ``sent`` and rows pulled meanwhile are
rebased on them as always, and the central merge does not count a field changed since an
op's base as a conflict when the same device changed it (``central.push``).

The worker that applied a push also hands the entries it committed to its own waiting
pulls (``offer``): a pull woken in that worker answers from them, with no read of the
feed, when they follow on from its cursor without a gap (positions commit in order, so
the next position committed is the next entry) up to the last position this worker knows
committed (offers and NOTIFYs name it). Kept ``RECENT_S`` seconds; anything else — another
worker's commit, a gap, an older cursor — reads the feed as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import psycopg
from sqlalchemy.engine import make_url

from central.feed import CHANNEL, parse_notify_payload
from core.sync import wire

log = logging.getLogger(__name__)

# How long a device's own pull waits after its push commits (see above); a commit by
# anyone else meanwhile wakes it at once.
ECHO_DELAY_S = 0.15
# How long a worker answers woken pulls from the entries its pushes committed, and how
# many it keeps per organisation.
RECENT_S = 2.0
RECENT_MAX = 5000


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class FeedNotifier:
    def __init__(self, database_url: str, on_lost: Callable[[], None] | None = None) -> None:
        """``on_lost``: called when the LISTEN connection is lost — PostgreSQL restarted
        or failed over, so every pooled connection of this process is stale too (the
        central context passes the store's ``engine.dispose``). Pooled connections are
        pinged only after sitting idle (``core.db``); without this, the pulls this
        listener wakes after the restart took dead connections and answered 500."""
        self._url = libpq_url(database_url)
        self._on_lost = on_lost
        # Per organisation: each waiting pull's future and the device it pulls for.
        self._waiters: dict[str, dict[asyncio.Future[None], str | None]] = defaultdict(dict)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._released = False
        # Per organisation: position -> (when offered, entry); in offer order. Loop only.
        self._recent: dict[str, dict[int, tuple[float, wire.FeedEntry]]] = {}
        # Per organisation: the last position known committed (offers and NOTIFYs).
        self._heads: dict[str, int] = {}
        self.answered_from_memory = 0  # pulls answered from it (tests, metrics)
        # (org, device) -> pushes in progress in this worker; their NOTIFY wakes nobody,
        # the offer that follows does (see ``pushing``).
        self._pushing: dict[tuple[str, str | None], int] = {}
        self._held: set[tuple[str, str | None]] = set()  # their NOTIFYs, held back
        self._pushing_lock = threading.Lock()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="feed-listen", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def subscribe(self, org_id: str, device_id: str | None = None) -> asyncio.Future[None]:
        """Call on the event loop *before* reading the feed, so a commit between the read
        and the wait is not missed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._released:
            fut.set_result(None)  # shutting down: answer at once
            return fut
        self._waiters[org_id][fut] = device_id
        return fut

    @contextlib.contextmanager
    def pushing(self, org_id: str, device_id: str | None) -> Iterator[None]:
        """Around a push in this worker, up to its ``offer``: the commit's NOTIFY can
        reach the loop before the offer does (a loaded machine: the listener's thread
        runs first), and a pull it woke found nothing offered and read the feed. While
        the push is in progress its NOTIFY only notes the head; the offer wakes the
        pulls. Should the push fail after a NOTIFY was held back, leaving wakes them."""
        key = (org_id, device_id)
        with self._pushing_lock:
            self._pushing[key] = self._pushing.get(key, 0) + 1
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            with self._pushing_lock:
                left = self._pushing[key] - 1
                if left:
                    self._pushing[key] = left
                else:
                    del self._pushing[key]
                held = key in self._held and not left
                if held:
                    self._held.discard(key)
            if held and failed and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._wake, org_id, device_id)

    def offer(self, org_id: str, device_id: str | None, entries: list[wire.FeedEntry]) -> None:
        """From any thread, once the transaction that wrote ``entries`` has committed:
        keep them for waiting pulls and wake those (the pushing device's a moment later);
        the commit's NOTIFY, arriving after, finds them woken."""
        if entries and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(
                self._offered, org_id, device_id, entries, time.monotonic()
            )

    def _offered(
        self, org_id: str, device_id: str | None, entries: list[wire.FeedEntry], at: float
    ) -> None:
        recent = self._recent.setdefault(org_id, {})
        for entry in entries:
            recent[entry.seq] = (at, entry)
        self._note_head(org_id, entries[-1].seq)
        while recent:  # oldest first: insertion order is offer order
            first = next(iter(recent))
            if len(recent) <= RECENT_MAX and recent[first][0] > at - RECENT_S:
                break
            del recent[first]
        self._wake(org_id, device_id)

    def recent_after(
        self, org_id: str, after: int, limit: int
    ) -> tuple[list[wire.FeedEntry], int, bool] | None:
        """A pull's answer from the offered entries (``read_feed``'s shape): the ones
        right after ``after``, without a gap, up to ``limit``; None when the next one is
        not among them (read the feed)."""
        recent = self._recent.get(org_id)
        if not recent:
            return None
        now = time.monotonic()
        out: list[wire.FeedEntry] = []
        seq = after + 1
        while len(out) <= limit and (hit := recent.get(seq)) is not None:
            if now - hit[0] > RECENT_S:
                break
            out.append(hit[1])
            seq += 1
        if not out:
            return None
        if len(out) <= limit and out[-1].seq < self._heads.get(org_id, 0):
            # A later commit (another worker's, or this one's not yet offered) is known:
            # the feed has more than these; read it.
            return None
        self.answered_from_memory += 1
        # More may follow in the feed (another worker's commit): the site's next pull
        # reads it at once.
        more = len(out) > limit
        out = out[:limit]
        return out, out[-1].seq, more

    def release_all(self) -> None:
        """The server is shutting down (call on the event loop): every waiting pull
        answers now with what the feed holds, and later ones do not wait. Otherwise
        each open long poll held the graceful shutdown for its whole wait, and uvicorn
        cancelled them with an error in the log at every stop."""
        self._released = True
        self._wake_all()

    def unsubscribe(self, org_id: str, fut: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(org_id)
        if waiters is not None:
            waiters.pop(fut, None)
            if not waiters:
                self._waiters.pop(org_id, None)

    def _wake(self, org_id: str, origin: str | None) -> None:
        """Answer the organisation's waiting pulls; ``origin``'s own a moment later."""
        waiters = self._waiters.pop(org_id, None)
        if not waiters:
            return
        loop = asyncio.get_running_loop()
        for fut, device_id in waiters.items():
            if fut.done():
                continue
            if origin is not None and device_id == origin:
                # Still subscribed: another commit meanwhile wakes it at once.
                self._waiters[org_id][fut] = device_id
                loop.call_later(ECHO_DELAY_S, self._wake_one, org_id, fut)
            else:
                fut.set_result(None)

    def _wake_one(self, org_id: str, fut: asyncio.Future[None]) -> None:
        self.unsubscribe(org_id, fut)
        if not fut.done():
            fut.set_result(None)

    def _wake_all(self) -> None:
        for org_id in list(self._waiters):
            self._wake(org_id, None)

    def _note_head(self, org_id: str, head: int | None) -> None:
        if head is not None and head > self._heads.get(org_id, 0):
            self._heads[org_id] = head

    def _notified(self, org_id: str, device_id: str | None, head: int | None) -> None:
        self._note_head(org_id, head)
        key = (org_id, device_id)
        with self._pushing_lock:
            # A push of this worker's, still on its way to ``offer``, which wakes them.
            # (Another worker's push for a device also pushing here is woken by this
            # worker's push ending: rare, and bounded by that push.)
            offered_soon = key in self._pushing
            if offered_soon:
                self._held.add(key)
        if not offered_soon:
            self._wake(org_id, device_id)

    def _post(self, text: str | None) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        if text is None:
            self._loop.call_soon_threadsafe(self._wake_all)
        else:
            self._loop.call_soon_threadsafe(self._notified, *parse_notify_payload(text))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    # Anything committed while we were not listening: let waiters re-read.
                    self._post(None)
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._post(note.payload)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    break
                log.warning("feed listener lost its connection (%s); reconnecting", exc)
                if self._on_lost is not None:
                    self._on_lost()
                self._ready.set()
                self._stop.wait(1.0)
