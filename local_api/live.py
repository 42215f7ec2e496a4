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
import json
import logging
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
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
RETRY_MS = 3000  # how long a browser's EventSource waits before reconnecting


@dataclass(frozen=True)
class LiveEvent:
    """One committed change. ``id`` increases by one per change within a broadcaster."""

    id: int
    org_id: str
    entity: str
    data: dict[str, Any]  # ChangeNotice.event_data(): {entity, id, kind, version}


@dataclass(frozen=True)
class Resync:
    """Tells a subscriber it missed changes and must reload what it shows.

    ``after`` is the id of the newest event it is now level with, so a later reconnect
    resumes from there."""

    after: int
    reason: str  # overflow | too_old | restarted


_CLOSED = object()  # end-of-stream marker put in a queue by Broadcaster.stop()


def readable_entities(role: str) -> frozenset[str]:
    """Entities whose changes a role may hear of (the registry's read_roles)."""
    specs = registry()
    if role == SYSTEM:
        return frozenset(specs)
    return frozenset(name for name, spec in specs.items() if role in spec.read_roles)


class Subscription:
    """An async subscriber: a bounded queue living on one event loop.

    All queue operations happen on the subscriber's loop (the broadcaster only schedules
    them with ``call_soon_threadsafe``), so the queue needs no lock of its own.
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
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.closed = False

    def wants(self, event: LiveEvent) -> bool:
        if self.org_id is not None and event.org_id != self.org_id:
            return False
        return self.entities is None or event.entity in self.entities

    def _offer(self, item: LiveEvent | Resync) -> None:  # on self.loop
        if self.closed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # Whatever is queued is stale anyway once the client reloads; drop it all.
            after = item.id if isinstance(item, LiveEvent) else item.after
            log.warning("live subscriber fell behind by %d events; sending resync", QUEUE_SIZE)
            self._drain()
            self.queue.put_nowait(Resync(after=after, reason="overflow"))

    def _close(self) -> None:  # on self.loop
        if self.closed:
            return
        self.closed = True
        self._drain()
        self.queue.put_nowait(_CLOSED)

    def _drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def get(self) -> LiveEvent | Resync | None:
        """The next event, or None once the broadcaster has stopped."""
        item = await self.queue.get()
        return None if item is _CLOSED else item

    def unsubscribe(self) -> None:
        self._broadcaster._remove(self)


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
    ) -> None:
        self.store = store
        self.queue_size = queue_size
        # A new token each run: a Last-Event-ID from an earlier run (whose numbering
        # restarted) is recognised as foreign instead of silently skipping events.
        self.run_token = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._last_id = 0
        self._history: deque[LiveEvent] = deque(maxlen=history)
        self._subs: set[Subscription] = set()
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
        for sub in subs:
            _call_soon(sub.loop, sub._close)
        log.info("live broadcaster stopped; closed %d stream(s)", len(subs))

    # -- the store side --------------------------------------------------------------

    def _on_changes(self, notices: Sequence[ChangeNotice]) -> None:
        """Subscriber of ``store.changes``: runs in the writer's thread after commit."""
        with self._lock:
            for notice in notices:
                self._last_id += 1
                event = LiveEvent(
                    id=self._last_id,
                    org_id=notice.org_id,
                    entity=notice.entity,
                    data=notice.event_data(),
                )
                self._history.append(event)
                # Scheduled under the lock so that every subscriber sees ids in order,
                # even when two writer threads commit at the same time.
                for sub in self._subs:
                    if sub.wants(event):
                        _call_soon(sub.loop, sub._offer, event)

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
            # Registered in the same critical section as the backlog is read, so no
            # event falls between the replay and the live feed.
            self._subs.add(sub)
        for item in backlog:
            sub._offer(item)
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
            self._subs.discard(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    def sse_id(self, event_id: int) -> str:
        return f"{self.run_token}-{event_id}"


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    # RuntimeError: the subscriber's loop has closed, so nobody is left to tell.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


# -- the SSE route ----------------------------------------------------------------------


def format_sse(broadcaster: Broadcaster, item: LiveEvent | Resync) -> bytes:
    if isinstance(item, LiveEvent):
        event_id, name, data = item.id, "change", item.data
    else:
        event_id, name, data = item.after, "resync", {"reason": item.reason}
    payload = json.dumps(data, separators=(",", ":"))
    return f"id: {broadcaster.sse_id(event_id)}\nevent: {name}\ndata: {payload}\n\n".encode()


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
            try:
                item = await asyncio.wait_for(sub.get(), timeout=heartbeat)
            except TimeoutError:
                # Servers speaking ASGI 2.4 don't make Starlette watch for disconnects,
                # and a proxy drops an idle connection: check, then keep it warm.
                if await request.is_disconnected():
                    break
                yield b": keep-alive\n\n"
                continue
            if item is None:  # broadcaster stopped: the server is shutting down
                break
            if isinstance(item, LiveEvent) and not await visibility.allows(item):
                continue
            yield format_sse(broadcaster, item)
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
