"""Wake long-polling pulls as soon as a feed position commits.

The feed recorder sends ``pg_notify('structura_feed', org_id)`` inside the writing
transaction; PostgreSQL delivers it only on commit, to every listening process. So this
works the same whether the write came from this worker, another worker or the CLI. One
thread per process holds a LISTEN connection and resolves the asyncio futures that
waiting pulls subscribed for their organisation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict

import psycopg
from sqlalchemy.engine import make_url

from central.feed import CHANNEL

log = logging.getLogger(__name__)


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class FeedNotifier:
    def __init__(self, database_url: str) -> None:
        self._url = libpq_url(database_url)
        self._waiters: dict[str, set[asyncio.Future[None]]] = defaultdict(set)
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

    def subscribe(self, org_id: str) -> asyncio.Future[None]:
        """Call on the event loop *before* reading the feed, so a commit between the read
        and the wait is not missed."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._released:
            fut.set_result(None)  # shutting down: answer at once
            return fut
        self._waiters[org_id].add(fut)
        return fut

    def release_all(self) -> None:
        """The server is shutting down (call on the event loop): every waiting pull
        answers now with what the feed holds, and later ones do not wait. Otherwise
        each open long poll held the graceful shutdown for its whole wait, and uvicorn
        cancelled them with an error in the log at every stop."""
        self._released = True
        self._wake(None)

    def unsubscribe(self, org_id: str, fut: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(org_id)
        if waiters is not None:
            waiters.discard(fut)
            if not waiters:
                self._waiters.pop(org_id, None)

    def _wake(self, org_id: str | None) -> None:
        orgs = list(self._waiters) if org_id is None else [org_id]
        for org in orgs:
            for fut in self._waiters.pop(org, ()):
                if not fut.done():
                    fut.set_result(None)

    def _post(self, org_id: str | None) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, org_id)

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
