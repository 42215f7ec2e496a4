"""The live change stream over a real uvicorn on 127.0.0.1 and a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core import writes
from core.db import sqlite_url
from core.errors import DomainError, Unauthenticated
from core.site import ensure_site, open_store
from core.sync.notices import ChangeNotice
from core.writes import Actor
from local_api.live import Broadcaster, LiveEvent, Resync, live_router

OTHER_ORG = "other-org"


class ServerThread:
    """uvicorn in a thread, the way the desktop app runs it (architecture example 6)."""

    def __init__(self, app: FastAPI) -> None:
        # ws="none": no websockets import, whose deprecation warnings would be errors.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn thread died"
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


@dataclass
class SSE:
    """A streaming client in its own thread, collecting parsed events."""

    url: str
    token: str | None = None
    last_event_id: str | None = None
    use_query: bool = False
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    opened: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    comments: list[str] = field(default_factory=list)

    def start(self, wait: bool = True) -> SSE:
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if wait:
            assert self.opened.wait(5), f"stream did not open (status {self.status})"
        return self

    def _run(self) -> None:
        headers, params = {}, {}
        if self.token and self.use_query:
            params["access_token"] = self.token
        elif self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        try:
            with self._client.stream(
                "GET", f"{self.url}/api/live", headers=headers, params=params
            ) as resp:
                self.status = resp.status_code
                self._sock = resp.extensions["network_stream"].get_extra_info("socket")
                if resp.status_code != 200:
                    resp.read()
                    self.body = resp.json()
                    return
                self.content_type = resp.headers["content-type"]
                current: dict[str, Any] = {}
                for line in resp.iter_lines():
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                        self.opened.set()
                    elif not line:
                        if "data" in current:
                            current["data"] = json.loads(current["data"])
                            self.events.put(current)
                        current = {}
                    else:
                        name, _, value = line.partition(":")
                        current[name] = value.removeprefix(" ")
        except (httpx.HTTPError, RuntimeError, ValueError):
            pass  # closed under our feet by close(): the end of this client
        finally:
            self.done.set()

    def next(self, timeout: float = 1.0) -> dict[str, Any]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        # Shutting the socket down wakes the reader blocked in recv(); closing the
        # client from this thread would not.
        sock = getattr(self, "_sock", None)
        if sock is not None and not self.done.is_set():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        assert not self._thread.is_alive(), "SSE reader did not stop"
        self._client.close()


@dataclass
class Live:
    store: Any
    site: Any
    broadcaster: Broadcaster
    server: ServerThread
    actors: dict[str, Actor]

    @property
    def url(self) -> str:
        return self.server.url

    def stream(self, token: str, **kwargs: Any) -> SSE:
        sse = SSE(self.url, token, **kwargs).start()
        self._streams.append(sse)
        return sse

    def create(self, entity: str, data: dict[str, Any], **kwargs: Any) -> str:
        with self.store.write() as s:
            row = writes.create(s, actor=self.actors["system"], entity=entity, data=data, **kwargs)
            return row.id


def _error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse({"code": exc.code}, status_code=exc.status)


def _make_app(context: Any, actors: dict[str, Actor], heartbeat: float) -> FastAPI:
    def verify(token: str) -> Actor:
        if token not in actors:
            raise Unauthenticated("bad token")
        return actors[token]

    app = FastAPI()
    app.add_exception_handler(DomainError, _error_handler)
    app.include_router(live_router(context, verify_token=verify, heartbeat=heartbeat))
    return app


def _start(tmp_path: Any, heartbeat: float = 15.0, **broadcaster_kwargs: Any) -> Live:
    store = open_store(sqlite_url(tmp_path / "s.sqlite3"))
    site = ensure_site(store, org_name="Acme", site_name="Plant 1")
    org = site.org_id
    actors = {
        "system": Actor.system(org),
        "office": Actor(org, "u-office", "office"),
        "operator": Actor(org, "u-op", "operator"),
        "crew": Actor(org, "u-crew", "crew"),
        "other-org": Actor(OTHER_ORG, "u-x", "admin"),
    }
    broadcaster = Broadcaster(store, **broadcaster_kwargs)
    broadcaster.start()
    context = SimpleNamespace(store=store, site=site, broadcaster=broadcaster)
    server = ServerThread(_make_app(context, actors, heartbeat))
    server.start()
    live = Live(store, site, broadcaster, server, actors)
    live._streams = []  # type: ignore[attr-defined]
    return live


@pytest.fixture
def live(tmp_path: Any) -> Iterator[Live]:
    lv = _start(tmp_path)
    yield lv
    lv.broadcaster.stop()
    lv.server.stop()
    for sse in lv._streams:  # type: ignore[attr-defined]
        sse.close()
    lv.store.dispose()


def _machine(name: str = "Press 1") -> dict[str, Any]:
    return {"name": name, "type": "SOLDADURA"}


def _other_org_marker(live: Live) -> None:
    # Straight into the store's fan-out, as a commit of another organisation would.
    live.store.changes.publish(
        [ChangeNotice(entity="machines", id="marker", kind="create", version=1,
                      org_id=OTHER_ORG)]
    )  # fmt: skip


def test_a_write_reaches_every_subscriber_within_a_second(live: Live) -> None:
    office = live.stream("office")
    operator = live.stream("operator", use_query=True)  # EventSource style
    assert office.content_type.startswith("text/event-stream")

    started = time.monotonic()
    machine_id = live.create("machines", _machine())
    for sse in (office, operator):
        event = sse.next(timeout=1.0)
        assert event["event"] == "change"
        assert event["data"] == {"entity": "machines", "id": machine_id, "kind": "create",
                                 "version": 1}  # fmt: skip
        assert event["id"].endswith("-1")
    assert time.monotonic() - started < 1.0

    with live.store.write() as s:
        writes.update(s, actor=live.actors["system"], entity="machines", id=machine_id,
                      data={"status": "RUNNING"}, version=1)  # fmt: skip
    assert office.next()["data"]["kind"] == "update"
    assert operator.next()["data"]["version"] == 2


def test_other_orgs_and_roles_that_cannot_read_hear_nothing(live: Live) -> None:
    crew = live.stream("crew")
    stranger = live.stream("other-org")

    live.create("machines", _machine())  # crew may not read machines
    calendar_id = live.create(
        "calendar_entries", {"kind": "promo", "title": "Madrid", "starts_on": "2030-05-01"}
    )
    _other_org_marker(live)

    # Each stream's first event is the one it may see: the others were skipped.
    assert crew.next()["data"]["id"] == calendar_id
    assert stranger.next()["data"]["id"] == "marker"
    assert crew.events.empty()


def test_personal_roles_only_hear_of_their_own_messages(live: Live) -> None:
    office_id = live.create("users", {"name": "Ana", "role": "office"}, id="u-office")
    live.create("users", {"name": "Bo", "role": "operator"}, id="u-op")
    live.create("users", {"name": "Cy", "role": "crew"}, id="u-crew")
    crew = live.stream("crew")
    office = live.stream("office")

    live.create("messages", {"from_user_id": office_id, "to_user_id": "u-op", "body": "hi"})
    mine = live.create("messages", {"from_user_id": office_id, "to_user_id": "u-crew",
                                    "body": "call me"})  # fmt: skip

    assert crew.next()["data"]["id"] == mine
    assert office.next()["data"]["entity"] == "messages"
    assert office.next()["data"]["id"] == mine


def test_streams_of_one_user_share_the_visibility_lookup(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of screens of a few users: a row-scoped event is looked up once per user,
    not once per open stream, and each stream still gets exactly what its user sees."""
    from local_api import live as live_module

    checks: list[str | None] = []
    real = live_module._Visibility._check

    def counted(self: Any, event: Any) -> bool:
        checks.append(self.actor.user_id)
        return real(self, event)

    monkeypatch.setattr(live_module._Visibility, "_check", counted)
    office_id = live.create("users", {"name": "Ana", "role": "office"}, id="u-office")
    live.create("users", {"name": "Bo", "role": "operator"}, id="u-op")
    live.create("users", {"name": "Cy", "role": "crew"}, id="u-crew")
    crews = [live.stream("crew") for _ in range(3)]
    operator = live.stream("operator")

    live.create("messages", {"from_user_id": office_id, "to_user_id": "u-op", "body": "hi"})
    mine = live.create("messages", {"from_user_id": office_id, "to_user_id": "u-crew",
                                    "body": "call me"})  # fmt: skip

    for crew in crews:
        assert crew.next()["data"]["id"] == mine
    assert operator.next()["data"]["entity"] == "messages"
    assert sorted(c for c in checks if c == "u-crew") == ["u-crew", "u-crew"]  # 2 events


def test_last_event_id_replays_what_was_missed(live: Live) -> None:
    first = live.stream("office")
    live.create("machines", _machine("A"))
    seen = first.next()
    first.close()

    missed = [live.create("machines", _machine(name)) for name in ("B", "C")]
    again = live.stream("office", last_event_id=seen["id"])
    assert [again.next()["data"]["id"], again.next()["data"]["id"]] == missed

    # An id from another run of the server cannot be trusted: reload everything.
    foreign = live.stream("office", last_event_id="deadbeef-2")
    resync = foreign.next()
    assert resync["event"] == "resync"
    assert resync["data"] == {"reason": "restarted"}
    assert resync["id"] == live.broadcaster.sse_id(3)


def test_too_old_last_event_id_gets_a_resync(tmp_path: Any) -> None:
    lv = _start(tmp_path, history=2)
    try:
        first = SSE(lv.url, "office").start()
        lv.create("machines", _machine("A"))
        seen = first.next()
        first.close()
        for name in ("B", "C", "D"):
            lv.create("machines", _machine(name))
        late = SSE(lv.url, "office", last_event_id=seen["id"]).start()
        event = late.next()
        assert (event["event"], event["data"]) == ("resync", {"reason": "too_old"})
        late.close()
    finally:
        lv.broadcaster.stop()
        lv.server.stop()
        lv.store.dispose()


def test_missing_or_bad_token_is_refused(live: Live) -> None:
    for token in (None, "forged"):
        sse = SSE(live.url, token).start(wait=False)
        assert sse.done.wait(5)
        assert sse.status == 401
        assert sse.body == {"code": "unauthenticated"}
        sse.close()


def test_disconnected_client_is_forgotten(live: Live) -> None:
    sse = live.stream("office")
    assert live.broadcaster.subscriber_count == 1
    sse.close()
    deadline = time.monotonic() + 3
    while live.broadcaster.subscriber_count:
        assert time.monotonic() < deadline, "server kept the closed stream's subscription"
        time.sleep(0.02)


def test_heartbeat_keeps_an_idle_stream_warm(tmp_path: Any) -> None:
    lv = _start(tmp_path, heartbeat=0.1)
    try:
        sse = SSE(lv.url, "office").start()
        deadline = time.monotonic() + 2
        while "keep-alive" not in sse.comments:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sse.close()
    finally:
        lv.broadcaster.stop()
        lv.server.stop()
        lv.store.dispose()


def test_server_stops_quickly_with_streams_open(tmp_path: Any) -> None:
    lv = _start(tmp_path)
    streams = [SSE(lv.url, "office").start(), SSE(lv.url, "operator").start()]
    started = time.monotonic()
    # The documented order: end the streams, then ask uvicorn to exit and join.
    lv.broadcaster.stop()
    lv.server.stop(timeout=5)
    assert not lv.server.thread.is_alive()
    assert time.monotonic() - started < 2.0
    for sse in streams:
        assert sse.done.wait(2), "client did not see the end of the stream"
        sse.close()
    lv.store.dispose()


def test_the_stream_and_other_subscribers_share_one_fan_out(live: Live) -> None:
    """The desktop and the agent subscribe where the stream does: ``Store.changes``."""
    heard: list[ChangeNotice] = []
    unsubscribe = live.store.changes.subscribe(heard.extend)
    office = live.stream("office")
    machine_id = live.create("machines", _machine())
    _other_org_marker(live)
    assert [(n.id, n.kind, n.source) for n in heard] == [
        (machine_id, "create", "local"),
        ("marker", "create", "local"),
    ]
    assert office.next()["data"]["id"] == machine_id  # the other org's is not streamed
    unsubscribe()
    live.create("machines", _machine("B"))
    assert len(heard) == 2
    assert office.next()["data"]["kind"] == "create"


def test_slow_subscriber_gets_a_resync_not_a_backlog(tmp_path: Any) -> None:
    store = open_store(sqlite_url(tmp_path / "s.sqlite3"))
    broadcaster = Broadcaster(store, queue_size=3, window=0)
    broadcaster.start()

    async def scenario() -> list[Any]:
        sub = broadcaster.subscribe(org_id="o")
        changes = [
            ChangeNotice(entity="jobs", id=str(i), kind="create", version=1, org_id="o")
            for i in range(10)
        ]
        # From another thread, as a writer's commit would.
        await asyncio.to_thread(store.changes.publish, changes)
        await asyncio.sleep(0.05)
        got = list(sub.items)
        sub.items.clear()
        await asyncio.to_thread(store.changes.publish, changes[:1])
        got.append(await asyncio.wait_for(sub.get(), 1))
        sub.unsubscribe()
        return got

    got = asyncio.run(scenario())
    broadcaster.stop()
    store.dispose()
    # The backlog was dropped for one resync that covers all ten; the feed goes on after.
    assert got[0] == Resync(after=10, reason="overflow")
    assert len(got) == 2 and isinstance(got[1], LiveEvent) and got[1].id == 11


def test_the_stream_in_the_real_app_with_a_real_token(tmp_path: Any) -> None:
    """Wired as the site runs it: create_app, its middleware and AppContext.verify_token."""
    app_mod = pytest.importorskip("local_api.app")
    ctx_mod = pytest.importorskip("local_api.context")
    from core.identity import auth
    from core.settings import Settings

    store = open_store(sqlite_url(tmp_path / "s.sqlite3"))
    site = ensure_site(store, org_name="Acme", site_name="Plant 1")
    with store.write() as s:
        user = writes.create(s, actor=Actor.system(site.org_id), entity="users",
                             data={"name": "Op", "role": "operator"})  # fmt: skip
    settings = Settings(data_dir=tmp_path, jwt_secret="k" * 48)
    broadcaster = Broadcaster(store)
    broadcaster.start()
    context = ctx_mod.AppContext(
        settings=settings, store=store, site=site,
        jwt_key=ctx_mod.load_signing_key(settings), broadcaster=broadcaster,
    )  # fmt: skip
    token, _ = auth.issue_access(context.jwt_key, issuer=site.site_id, user=user,
                                 device_id=None, session_id=None, minutes=5)  # fmt: skip
    server = ServerThread(app_mod.create_app(context))
    server.start()
    try:
        sse = SSE(server.url, token, use_query=True).start()
        with store.write() as s:
            machine = writes.create(s, actor=Actor.system(site.org_id), entity="machines",
                                data=_machine())  # fmt: skip
        assert sse.next()["data"]["id"] == machine.id
        refused = SSE(server.url, "not-a-token").start(wait=False)
        assert refused.done.wait(5) and refused.status == 401
        refused.close()
        broadcaster.stop()
        assert sse.done.wait(2)
        sse.close()
    finally:
        broadcaster.stop()
        server.stop()
        context.close()
        store.dispose()
