"""Over a real socket: the app served by uvicorn (EmbeddedServer) on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from apikit.ratelimit import Buckets
from local_api.app import create_app
from local_api.server import EmbeddedServer, ServerError
from tests.api.conftest import ALLOWED_ORIGIN, PINS, People, boot_app, rebind

PROBLEM = "application/problem+json"


def _boom_router() -> APIRouter:
    r = APIRouter()

    @r.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    return r


@pytest.fixture(scope="module")
def _server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Any, api_settings: Any
) -> Iterator[tuple[EmbeddedServer, Any, Any]]:
    ctx, app = boot_app(
        tmp_path_factory.mktemp("wire"),
        sqlite_template,
        api_settings,
        extra_routers=[_boom_router()],
    )
    boot = ctx.store
    with EmbeddedServer(app) as server:
        yield server, ctx, app
    ctx.close()
    boot.dispose()


@pytest.fixture
def served(
    _server: tuple[EmbeddedServer, Any, Any], store: Any, site: Any
) -> Iterator[tuple[EmbeddedServer, Any]]:
    server, ctx, app = _server
    rebind(ctx, app, store, site)
    yield server, ctx
    ctx.close()


@pytest.fixture
def http(served: tuple[EmbeddedServer, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0].url, timeout=10) as c:
        yield c


def _login(http: httpx.Client, people: People, key: str = "admin") -> dict[str, str]:
    r = http.post("/api/auth/pin", json={"user_id": people[key], "pin": PINS[key]})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_server_binds_free_port_and_stops(served: tuple[EmbeddedServer, Any]) -> None:
    server, _ = served
    assert server.port and server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(server.url + "/api/health").json()["status"] == "ok"
    # The port is taken while it runs: a second server on it fails to start, loudly.
    with pytest.raises(ServerError):
        EmbeddedServer(served[0].app, port=server.port).start()


def test_server_stop_releases_port(make_context: Any) -> None:
    server = EmbeddedServer(create_app(make_context())).start()
    port = server.port
    assert port is not None
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_security_headers_and_request_id(http: httpx.Client) -> None:
    r = http.get("/api/health", headers={"X-Request-ID": "abc-123"})
    h = r.headers
    assert h["x-request-id"] == "abc-123"
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in h["content-security-policy"]
    assert h["cache-control"] == "no-store"
    assert "server" not in h
    made = http.get("/api/health", headers={"X-Request-ID": "bad id\twith junk"})
    assert made.headers["x-request-id"] != "bad id\twith junk"
    docs = http.get("/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_host_not_allowed(http: httpx.Client) -> None:
    r = http.get("/api/health", headers={"Host": "evil.example"})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "host_not_allowed"
    assert http.get("/api/health", headers={"Host": "localhost:1234"}).status_code == 200


def test_cors_allowlist(http: httpx.Client) -> None:
    pre = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = http.options("/api/clients", headers={"Origin": ALLOWED_ORIGIN, **pre})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    bad = http.options("/api/clients", headers={"Origin": "http://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers
    simple = http.get("/api/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    simple = http.get("/api/health", headers={"Origin": ALLOWED_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_body_too_large(http: httpx.Client, people: People, api_settings: Any) -> None:
    h = _login(http, people)
    big = b'{"name": "' + b"x" * (api_settings.max_body_bytes + 10) + b'"}'
    r = http.post("/api/clients", content=big, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        yield b'{"name": "'
        for _ in range(api_settings.max_body_bytes // 1024 + 2):
            yield b"x" * 1024
        yield b'"}'

    r = http.post(
        "/api/clients", content=chunks(), headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_unsupported_media_type_and_method(http: httpx.Client, people: People) -> None:
    h = _login(http, people)
    r = http.post(
        "/api/clients",
        content=b"name=x",
        headers={**h, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415 and r.headers["content-type"] == PROBLEM
    r = http.put("/api/clients", json={}, headers=h)
    assert r.status_code == 405 and r.headers["content-type"] == PROBLEM and "allow" in r.headers
    r = http.post(
        "/api/clients", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM


def test_internal_error_leaks_nothing(http: httpx.Client, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="structura.errors"):
        r = http.get("/api/boom", headers={"X-Request-ID": "req-42"})
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert r.json()["request_id"] == "req-42"
    assert any("req-42" in rec.getMessage() for rec in caplog.records)


def test_api_rate_limit_per_user(
    http: httpx.Client, people: People, served: tuple[EmbeddedServer, Any], monkeypatch: Any
) -> None:
    monkeypatch.setattr(served[0].app.state.throttles, "api_buckets", Buckets(rate=1, burst=5))
    h = _login(http, people)
    statuses = [http.get("/api/clients", headers=h).status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429
    limited = http.get("/api/clients", headers=h)
    assert int(limited.headers["retry-after"]) >= 1
    # Another user (same client address) has their own bucket.
    assert http.get("/api/clients", headers=_login(http, people, "office")).status_code == 200
