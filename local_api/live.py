"""Live change stream: every committed change, pushed to browsers and the desktop app.

The ``Broadcaster`` is one subscriber of the store's change fan-out
(``Store.changes``, which the sync agent and the desktop's bridge also subscribe to); it
hears each committed batch of ``ChangeNotice`` in the writer's thread. It numbers each
change, keeps the last few in a ring buffer (so a client that reconnects with
``Last-Event-ID`` gets what it missed) and hands each one to every SSE subscriber that
may see it, on that subscriber's event loop through ``call_soon_threadsafe``.
Per-subscriber queues are bounded: a subscriber that falls behind gets one ``resync``
instead of holding an ever-growing backlog in memory.

Events carry only ``{entity, id, kind, version}`` (``ChangeNotice.event_data``); a
client that cares refetches the row through the API. What a stream passes on is filtered
per subscriber: its organisation, the entities its role may read, and, for roles that
see only their own rows (messages of operators and crew), the row itself, looked up
before the event is sent. Every change, sync included, arrives through the store's one
fan-out (``store.changes``).
``live_router`` adds ``GET /api/live`` (Server-Sent Events) for one app's context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from apikit import problems
from core.db import Store
from core.errors import Unauthenticated
from core.identity import auth
from core.registry import registry
from core.sync.notices import ChangeNotice
from core.writes import SYSTEM, Actor

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 256
HISTORY_SIZE = 1024
SHARED_ANSWERS = 4096  # visibility answers kept per broadcaster (event, user) before a reset
# Changes are gathered for a short window before they go out to the streams: 50 ms, and
# 50 ms more per 200 open streams up to 0.5 s. A delivery costs a wake-up and a socket
# write per stream on the loop that also answers requests, so the window bounds that
# work however many writes a busy floor makes (0.3 s at 1,000 streams). A screen showing
# a change a quarter second later is not a difference anyone sees.
WINDOW_SECONDS = 0.05
STREAMS_PER_STEP = 200
MAX_WINDOW_SECONDS = 0.5
RETRY_MS = 3000  # how long a browser's EventSource waits before reconnecting


@dataclass(frozen=True)
class LiveEvent:
    """One committed change. ``id`` increases by one per change within a broadcaster.
    ``sse`` is the event as the stream sends it, encoded once for every stream."""

    id: int
    org_id: str
    entity: str
    data: dict[str, Any]  # ChangeNotice.event_data(): {entity, id, kind, version}
    sse: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Resync:
    """Tells a subscriber it missed changes and must reload what it shows.

    ``after`` is the id of the newest event it is now level with, so a later reconnect
    resumes from there."""

    after: int
    reason: str  # overflow | too_old | restarted


def readable_entities(role: str) -> frozenset[str]:
    """Entities whose changes a role may hear of (the registry's read_roles)."""
    specs = registry()
    if role == SYSTEM:
        return frozenset(specs)
    return frozenset(name for name, spec in specs.items() if role in spec.read_roles)


class Subscription:
    """An async subscriber: a bounded backlog living on one event loop.

    All backlog operations happen on the subscriber's loop (the broadcaster only
    schedules them with ``call_soon_threadsafe``, once per commit and loop), so it needs
    no lock of its own. A stream takes everything waiting at once (``take``) and sends
    it as one write.
    """

    def __init__(
        self,
        broadcaster: Broadcaster,
        loop: asyncio.AbstractEventLoop,
        org_id: str | None,
        entities: frozenset[str] | None,
        maxsize: int,
    ) -> None:
        self._broadcaster = broadcaster
        self.loop = loop
        self.org_id = org_id
        self.entities = entities
        self.maxsize = maxsize
        self.items: deque[LiveEvent | Resync] = deque()
        self.after = 0  # the newest event before it subscribed (set by the broadcaster)
        self.deadline = 0.0  # when the current wait runs out (loop time)
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def wants(self, event: LiveEvent) -> bool:
        if self.org_id is not None and event.org_id != self.org_id:
            return False
        return self.entities is None or event.entity in self.entities

    def _offer(self, *items: LiveEvent | Resync) -> None:  # on self.loop
        if self.closed:
            return
        self.items.extend(items)
        if len(self.items) > self.maxsize:
            # Whatever is waiting is stale anyway once the client reloads; drop it all.
            last = self.items[-1]
            after = last.id if isinstance(last, LiveEvent) else last.after
            log.warning("live subscriber fell behind by %d events; sending resync", self.maxsize)
            self.items.clear()
            self.items.append(Resync(after=after, reason="overflow"))
        self._wake()

    def _close(self) -> None:  # on self.loop
        if self.closed:
            return
        self.closed = True
        self.items.clear()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self, timeout: float) -> list[LiveEvent | Resync] | None:
        """Everything waiting, in order; [] when nothing came within ``timeout``; None
        once the broadcaster has stopped.

        A future per wait and no timer of its own: the broadcaster's one clock per loop
        (``_Clock``) ends the waits that run out. A ``call_later`` per wait (or
        ``wait_for``'s task) left a cancelled handle in the loop's heap for the whole
        heartbeat at every delivery: at 1,000 streams, tens of thousands of objects
        that lived long enough for the collector's oldest generation, whose full walks
        then paused the loop for 0.2-0.5 s."""
        if not self.items and not self.closed:
            waiter = self._waiter = self.loop.create_future()
            self.deadline = self.loop.time() + timeout
            self._broadcaster._clock(self.loop).wake_by(self.deadline)
            try:
                await waiter
            finally:
                self._waiter = None
        if self.closed:
            return None
        items = list(self.items)
        self.items.clear()
        return items

    async def get(self, timeout: float = 3600.0) -> LiveEvent | Resync | None:
        """The next item, or None once the broadcaster has stopped (or after
        ``timeout``)."""
        if not self.items:
            got = await self.take(timeout)
            if not got:
                return None
            self.items.extend(got)
        return self.items.popleft()

    def unsubscribe(self) -> None:
        self._broadcaster._remove(self)


class _Clock:
    """Ends the streams' waits that ran out (their heartbeat), for one event loop: one
    timer at the earliest deadline instead of one per wait."""

    def __init__(self, broadcaster: Broadcaster, loop: asyncio.AbstractEventLoop) -> None:
        self.broadcaster = broadcaster
        self.loop = loop
        self.at = float("inf")
        self.handle: asyncio.TimerHandle | None = None

    def wake_by(self, deadline: float) -> None:  # on the loop
        if deadline < self.at:
            if self.handle is not None:
                self.handle.cancel()
            self.at = deadline
            self.handle = self.loop.call_at(deadline, self.tick)

    def tick(self) -> None:  # on the loop
        self.at, self.handle = float("inf"), None
        now, soonest = self.loop.time(), float("inf")
        for sub in self.broadcaster._subs_of(self.loop):
            waiter = sub._waiter
            if waiter is None or waiter.done():
                continue
            if sub.deadline <= now:
                waiter.set_result(None)
            else:
                soonest = min(soonest, sub.deadline)
        if soonest < float("inf"):
            self.wake_by(soonest)


class Broadcaster:
    """Fan-out of store changes to many SSE streams; thread-safe.

    ``start()`` subscribes to ``store.changes``; ``stop()`` unsubscribes and ends every open
    stream (call it before stopping the HTTP server: uvicorn waits for open responses,
    and an SSE response only ends when told to).
    """

    def __init__(
        self,
        store: Store,
        *,
        queue_size: int = QUEUE_SIZE,
        history: int = HISTORY_SIZE,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.store = store
        self.queue_size = queue_size
        self.window = window
        # Per event loop: the events that wait for its next delivery.
        self._pending: dict[asyncio.AbstractEventLoop, list[LiveEvent]] = {}
        # A new token each run: a Last-Event-ID from an earlier run (whose numbering
        # restarted) is recognised as foreign instead of silently skipping events.
        self.run_token = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._last_id = 0
        self._history: deque[LiveEvent] = deque(maxlen=history)
        self._subs: set[Subscription] = set()
        self._loops: dict[asyncio.AbstractEventLoop, int] = {}  # streams per event loop
        self._clocks: dict[asyncio.AbstractEventLoop, _Clock] = {}
        self._running = False
        # Row-visibility answers shared by the streams (see _Visibility).
        self.visibility: dict[Any, asyncio.Future[bool]] = {}

    @property
    def running(self) -> bool:
        return self._running

    @property
    def last_id(self) -> int:
        return self._last_id

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            self.store.changes.subscribe(self._on_changes)
        log.info("live broadcaster started")

    def stop(self) -> None:
        """Unhook from the store and end every open stream. Idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            self.store.changes.unsubscribe(self._on_changes)
            subs, self._subs = self._subs, set()
            self._loops.clear()
            self._clocks.clear()
        for sub in subs:
            _call_soon(sub.loop, sub._close)
        log.info("live broadcaster stopped; closed %d stream(s)", len(subs))

    # -- the store side --------------------------------------------------------------

    def _on_changes(self, notices: Sequence[ChangeNotice]) -> None:
        """Subscriber of ``store.changes``: runs in the writer's thread after commit.

        Each event is encoded once, and streams with the same filter share one list of
        what they want. The commits of a window (``WINDOW_SECONDS``, longer with more
        streams) reach each stream together: one wake-up and one write per stream,
        however many writes a busy floor makes meanwhile; at 1,000 open streams the
        sends, not the events, are the cost."""
        with self._lock:
            events = []
            for notice in notices:
                self._last_id += 1
                data = notice.event_data()
                event = LiveEvent(
                    id=self._last_id, org_id=notice.org_id, entity=notice.entity, data=data,
                    sse=_encode(self.sse_id(self._last_id), "change", data),
                )  # fmt: skip
                self._history.append(event)
                events.append(event)
            if not events:
                return
            # The writer only queues the events per event loop (a few appends under the
            # lock); sorting them out per stream happens on the loop, at the delivery.
            for loop in self._loops:
                pending = self._pending.get(loop)
                if pending is None:
                    # The first commit since the loop's last delivery arms it.
                    pending = self._pending[loop] = []
                    delay = self.window * (1 + self._loops[loop] // STREAMS_PER_STEP)
                    delay = min(delay, max(self.window, MAX_WINDOW_SECONDS))
                    _call_soon(loop, loop.call_later, delay, self._flush, loop)
                pending.extend(events)  # in id order: appended under the lock

    def _clock(self, loop: asyncio.AbstractEventLoop) -> _Clock:  # on loop
        clock = self._clocks.get(loop)
        if clock is None:
            with self._lock:
                clock = self._clocks.setdefault(loop, _Clock(self, loop))
        return clock

    def _subs_of(self, loop: asyncio.AbstractEventLoop) -> list[Subscription]:
        with self._lock:
            return [sub for sub in self._subs if sub.loop is loop]

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:  # on loop
        with self._lock:
            events = self._pending.pop(loop, [])
        subs = self._subs_of(loop)
        if not events:
            return
        first = events[0].id
        wanted: dict[tuple[str | None, frozenset[str] | None], list[LiveEvent]] = {}
        for sub in subs:
            key = (sub.org_id, sub.entities)
            mine = wanted.get(key)
            if mine is None:
                mine = wanted[key] = [e for e in events if sub.wants(e)]
            if sub.after >= first:
                # What came before the stream subscribed went with its backlog.
                mine = [e for e in mine if e.id > sub.after]
            if mine:
                sub._offer(*mine)

    # -- async subscribers -------------------------------------------------------------

    def subscribe(
        self,
        *,
        org_id: str | None,
        entities: Iterable[str] | None = None,
        last_event_id: str | None = None,
    ) -> Subscription:
        """Subscribe on the running event loop.

        ``last_event_id`` (an SSE id from ``sse_id``) replays what the client missed, or
        queues a ``Resync`` if that is no longer in the ring buffer.
        """
        loop = asyncio.get_running_loop()
        ents = None if entities is None else frozenset(entities)
        sub = Subscription(self, loop, org_id, ents, self.queue_size)
        with self._lock:
            if not self._running:
                sub._close()
                return sub
            backlog = self._backlog(sub, last_event_id)
            sub.after = self._last_id  # later events come through the deliveries
            # Registered in the same critical section as the backlog is read, so no
            # event falls between the replay and the live feed.
            self._subs.add(sub)
            self._loops[loop] = self._loops.get(loop, 0) + 1
        if backlog:
            sub._offer(*backlog)
        return sub

    def _backlog(self, sub: Subscription, last_event_id: str | None) -> list[LiveEvent | Resync]:
        if not last_event_id:
            return []
        token, _, number = last_event_id.partition("-")
        if token != self.run_token or not number.isdigit():
            return [Resync(after=self._last_id, reason="restarted")]
        seen = int(number)
        if seen >= self._last_id:
            return []
        oldest = self._history[0].id if self._history else self._last_id + 1
        if seen + 1 < oldest:
            return [Resync(after=self._last_id, reason="too_old")]
        return [e for e in self._history if e.id > seen and sub.wants(e)]

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.discard(sub)
                left = self._loops.get(sub.loop, 1) - 1
                if left:
                    self._loops[sub.loop] = left
                else:
                    self._loops.pop(sub.loop, None)
                    self._clocks.pop(sub.loop, None)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    def sse_id(self, event_id: int) -> str:
        return f"{self.run_token}-{event_id}"


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., object], *args: Any) -> None:
    # RuntimeError: the subscriber's loop has closed, so nobody is left to tell.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


# -- the SSE route ----------------------------------------------------------------------


def _encode(sse_id: str, name: str, data: dict[str, Any]) -> bytes:
    payload = orjson.dumps(data).decode()
    return f"id: {sse_id}\nevent: {name}\ndata: {payload}\n\n".encode()


def format_sse(broadcaster: Broadcaster, item: LiveEvent | Resync) -> bytes:
    if isinstance(item, LiveEvent):
        return item.sse or _encode(broadcaster.sse_id(item.id), "change", item.data)
    return _encode(broadcaster.sse_id(item.after), "resync", {"reason": item.reason})


def bearer_token(request: Request) -> str | None:
    """The access token from ``Authorization: Bearer`` or, for this route only,
    ``?access_token=`` (a browser's EventSource cannot set headers)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or None


def _resolve_verifier(context: Any) -> Callable[[str], Actor]:
    """The API's access-token check (``AppContext.verify_token``), looked up per request."""
    verify = getattr(context, "verify_token", None)
    if callable(verify):
        return verify
    raise RuntimeError(
        "live_router needs verify_token (access token -> Actor), as an argument or as "
        "context.verify_token"
    )


class _Visibility:
    """Row-level filtering for roles that see only their own rows (messages for
    operator and crew): the event does not say whose row it is, so look it up."""

    def __init__(
        self, store: Store, actor: Actor, shared: dict[Any, asyncio.Future[bool]] | None = None
    ) -> None:
        self.store = store
        self.actor = actor
        specs = registry()
        self.scoped = frozenset(
            name for name, spec in specs.items() if auth.row_scope(spec, actor) is not None
        )
        # Answers shared by every stream of the same user and role (a floor has a few
        # operators and hundreds of screens): one lookup per event and user, not one
        # per open stream. All streams run on the server's one event loop.
        self.shared: dict[Any, asyncio.Future[bool]] = {} if shared is None else shared

    async def allows(self, event: LiveEvent) -> bool:
        if event.entity not in self.scoped:
            return True
        key = (event.id, self.actor.org_id, self.actor.user_id, self.actor.role)
        answer = self.shared.get(key)
        if answer is None:
            if len(self.shared) >= SHARED_ANSWERS:
                self.shared.clear()
            answer = self.shared[key] = asyncio.ensure_future(
                anyio.to_thread.run_sync(self._check, event)
            )
        return await asyncio.shield(answer)

    def _check(self, event: LiveEvent) -> bool:
        spec = registry()[event.entity]
        with self.store.read() as s:
            row = s.get(spec.model, (event.org_id, event.data["id"]))
            return row is not None and auth.can_see(spec, self.actor, row)


async def _stream(
    request: Request,
    broadcaster: Broadcaster,
    actor: Actor,
    last_event_id: str | None,
    heartbeat: float,
) -> AsyncIterator[bytes]:
    visibility = _Visibility(broadcaster.store, actor, broadcaster.visibility)
    sub = broadcaster.subscribe(
        org_id=actor.org_id,
        entities=readable_entities(actor.role),
        last_event_id=last_event_id,
    )
    log.info("live stream opened (role %s)", actor.role)
    try:
        # The first bytes flush the headers; a client knows it is subscribed once it
        # sees them.
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        while True:
            items = await sub.take(heartbeat)
            if items is None:  # broadcaster stopped: the server is shutting down
                break
            if not items:
                # Servers speaking ASGI 2.4 don't make Starlette watch for disconnects,
                # and a proxy drops an idle connection: check, then keep it warm.
                if await request.is_disconnected():
                    break
                yield b": keep-alive\n\n"
                continue
            out = [
                format_sse(broadcaster, item) for item in items
                if not isinstance(item, LiveEvent) or item.entity not in visibility.scoped
                or await visibility.allows(item)
            ]  # fmt: skip
            if out:  # what waited goes as one write
                yield b"".join(out)
    finally:
        sub.unsubscribe()
        log.info("live stream closed")


def live_router(
    context: Any,
    *,
    verify_token: Callable[[str], Actor] | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> APIRouter:
    """``GET /api/live``: the change stream as Server-Sent Events.

    ``context.broadcaster`` supplies the events. ``verify_token`` maps an access token to
    an ``Actor`` and raises ``core.errors.Unauthenticated`` for a bad one; without it
    ``context.verify_token`` is used. Domain errors are left to the app's problem+json
    handler.

    The response ends when the client goes away or ``broadcaster.stop()`` is called.
    uvicorn's ``should_exit`` alone does not end it (uvicorn waits for open responses),
    so whoever stops the server stops the broadcaster first.
    """
    router = APIRouter()

    @router.get(
        "/api/live",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
                "description": "`event: change` with `data: {entity, id, kind, version}`; "
                "`event: resync` when the client must reload; comments as heartbeats",
            },
            **problems.responses(401, 503),
        },
        summary="Stream of changes (Server-Sent Events)",
        tags=["live"],
    )
    async def live(
        request: Request,
        access_token: str | None = Query(
            None, description="for EventSource, which cannot send Authorization"
        ),
        last_event_id: str | None = Header(
            None, alias="Last-Event-ID", description="resume after this event"
        ),
    ) -> Response:
        token = bearer_token(request)
        if not token:
            raise Unauthenticated("an access token is required")
        verify = verify_token or _resolve_verifier(context)
        # The check may read the database (logout, deactivation): not on the loop.
        actor = await anyio.to_thread.run_sync(verify, token)
        broadcaster: Broadcaster | None = getattr(context, "broadcaster", None)
        if broadcaster is None or not broadcaster.running:
            # Stopping (or not set up): EventSource retries after Retry-After.
            return problems.problem_response(
                request, 503, "the live stream is not running", retry_after=5
            )
        return StreamingResponse(
            _stream(
                request,
                broadcaster,
                actor,
                last_event_id,
                heartbeat,
            ),
            media_type="text/event-stream",
            headers={
                "Cache-Control": "no-cache",
                # Reverse proxies (nginx) would otherwise buffer the stream.
                "X-Accel-Buffering": "no",
            },
        )

    return router
