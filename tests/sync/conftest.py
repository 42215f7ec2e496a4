"""Fixtures for the sync tests: a central store on a fresh PostgreSQL database (the
``pg_url`` fixture) with the feed recorder, organisations with enrolled devices, and
site stores on their own SQLite files."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from central.enroll import create_org, create_site, enroll, make_enrollment_code
from central.feed import FeedRecorder
from central.push import DeviceCtx
from core.db import Store, sqlite_url
from core.site import open_store
from core.sync.conflicts import SCHEMA_VERSION


@dataclass
class Enrolled:
    org_id: str
    site_id: str
    device_id: str
    secret: str
    data: dict

    @property
    def ctx(self) -> DeviceCtx:
        return DeviceCtx(org_id=self.org_id, device_id=self.device_id)


def open_central(url: str) -> Store:
    return open_store(url, recorder_factory=FeedRecorder)


@pytest.fixture
def central(pg_head_url: str) -> Iterator[Store]:
    store = open_central(pg_head_url)
    yield store
    store.dispose()


def new_org(central: Store, name: str = "Acme", modules=("factory", "tour")) -> str:
    with central.write() as s:
        return create_org(s, name=name, modules=list(modules)).id


def enroll_device(central: Store, org_id: str, site_name: str = "Plant") -> Enrolled:
    with central.write() as s:
        site = create_site(s, org_id=org_id, name=site_name)
        code, _ = make_enrollment_code(s, org_id=org_id, site_id=site.id)
    with central.write() as s:
        data = enroll(s, code=code, device_name=site_name, schema_version=SCHEMA_VERSION)
    return Enrolled(org_id, site.id, data["device_id"], data["device_secret"], data)


@pytest.fixture
def org_id(central: Store) -> str:
    return new_org(central)


@pytest.fixture
def device(central: Store, org_id: str) -> Enrolled:
    return enroll_device(central, org_id)


@pytest.fixture
def site_path(tmp_path: Path):
    def make(name: str) -> str:
        return sqlite_url(tmp_path / f"{name}.sqlite3")

    return make


# --- in-process central app and enrolled sites ----------------------------------------


class LoopTransport(httpx.BaseTransport):
    """A synchronous httpx transport that calls an ASGI app on an event loop running in
    a background thread (httpx's ASGITransport is async-only)."""

    def __init__(self, app) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list, bytes]:
            req = httpx.Request(request.method, request.url, headers=request.headers,
                                content=body)  # fmt: skip
            resp = await self.inner.handle_async_request(req)
            data = await resp.aread()
            return resp.status_code, resp.headers.raw, data

        status, headers, data = asyncio.run_coroutine_threadsafe(call(), self.loop).result()
        return httpx.Response(status, headers=headers, content=data, request=request)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class CentralApp:
    """The central FastAPI app on PostgreSQL, called in-process (the real routes, auth,
    JSON and long-poll notifier, without sockets)."""

    def __init__(self, store: Store, blob_dir: Path, **settings: object) -> None:
        from central.app import create_central_app
        from central.context import CentralContext
        from central.settings import CentralSettings

        self.store = store
        self.ctx = CentralContext(
            settings=CentralSettings(database_url=store.url, jwt_secret="k" * 48,
                                     blob_dir=blob_dir, **settings),  # type: ignore[arg-type]
            store=store,
        )  # fmt: skip
        self.app = create_central_app(self.ctx)
        self.transport = LoopTransport(self.app)
        self.ctx.notifier.start(self.transport.loop)
        # In-process (no socket): a loopback name, the only kind plain HTTP may reach.
        self.url = "http://localhost"
        self.http = httpx.Client(transport=self.transport, base_url=self.url, timeout=60)

    def close(self) -> None:
        self.ctx.notifier.stop()
        self.http.close()
        self.transport.stop()

    def new_site(self, tmp_path: Path, org_id: str, name: str, path: Path | None = None,
                 **agent_kw):  # fmt: skip
        from sync_agent.agent import SyncAgent, enroll_site

        with self.store.write() as s:
            site = create_site(s, org_id=org_id, name=name)
            code, _ = make_enrollment_code(s, org_id=org_id, site_id=site.id)
        store = open_store(sqlite_url(path or tmp_path / f"{name}.sqlite3"))
        enroll_site(store, self.url, code, device_name=name, http=self.http)
        agent = SyncAgent(store, http=self.http, **agent_kw)
        return store, agent


@pytest.fixture
def hub(central: Store, tmp_path: Path) -> Iterator[CentralApp]:
    app = CentralApp(central, tmp_path / "central-blobs")
    yield app
    app.close()
