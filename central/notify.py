"""Wake long-polling pulls as soon as a feed position commits.

The feed recorder sends ``pg_notify('structura_feed', org_id)`` inside the writing
transaction; PostgreSQL delivers it only on commit, to every listening process. So this
works the same whether the write came from this worker, another worker or the CLI. One
thread per process holds a LISTEN connection and resolves the asyncio futures that
waiting pulls subscribed for their organisation.

A commit made by one device's push names that device (``central.feed.notify_payload``):
the other devices' pulls wake at once, the pushing device's own pull a moment later
(``ECHO_DELAY_S``). Its echo tells that site only what the push answer already told it
(the new versions); answered in the same instant as the others, it competed with them
for this process and for the sites' disks. Nothing depends on the echo coming soon:
until it does, the site's answered ops stay ``sent`` and rows pulled meanwhile are
rebased on them as always, and the central merge does not count a field changed since an
op's base as a conflict when the same device changed it (``central.push``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict

import psycopg
from sqlalchemy.engine import make_url

from central.feed import CHANNEL, parse_notify_payload

log = logging.getLogger(__name__)

# How long a device's own pull waits after its push commits (see above); a commit by
# anyone else meanwhile wakes it at once.
ECHO_DELAY_S = 0.15


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class FeedNotifier:
    def __init__(self, database_url: str) -> None:
        self._url = libpq_url(database_url)
        # Per organisation: each waiting pull's future and the device it pulls for.
        self._waiters: dict[str, dict[asyncio.Future[None], str | None]] = defaultdict(dict)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._released = False

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

    def _post(self, text: str | None) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        if text is None:
            self._loop.call_soon_threadsafe(self._wake_all)
        else:
            self._loop.call_soon_threadsafe(self._wake, *parse_notify_payload(text))

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
                self._ready.set()
                self._stop.wait(1.0)
