"""The central server as deployed: real uvicorn on 127.0.0.1 over PostgreSQL, scraped
for metrics (requests by route template and status, feed position and lag), probes,
request ids in JSON access lines; production settings refusing example secrets."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from central.app import create_central_app
from central.context import CentralContext
from central.enroll import create_site, make_enrollment_code
from central.settings import CentralSettings
from core import logging_setup, writes
from core.db import sqlite_url
from core.site import open_store, site_info
from core.sync.conflicts import SCHEMA_HEADER, SCHEMA_VERSION
from local_api.server import EmbeddedServer
from sync_agent.agent import SyncAgent, enroll_site
from tests.ops.test_metrics import parse

SECRET = "k" * 48


@pytest.fixture
def central_server(central):
    ctx = CentralContext(settings=CentralSettings(database_url=central.url, jwt_secret=SECRET),
                         store=central)  # fmt: skip
    server = EmbeddedServer(create_central_app(ctx), "127.0.0.1", 0).start()
    yield server, ctx
    server.stop()


@pytest.mark.pg
def test_central_is_scraped_over_http(central_server, central, org_id, tmp_path):
    server, _ctx = central_server
    with central.write() as s:
        site = create_site(s, org_id=org_id, name="Plant")
        code, _ = make_enrollment_code(s, org_id=org_id, site_id=site.id)
    store = open_store(sqlite_url(tmp_path / "plant.sqlite3"))
    enroll_site(store, server.url, code, device_name="plant")
    agent = SyncAgent(store)
    actor = writes.Actor.system(site_info(store).org_id)
    for name in ("Ana", "Bea", "Cy"):
        with store.write() as s:
            writes.create(s, actor=actor, entity="clients", data={"name": name})
    stream = io.StringIO()
    handler = logging_setup.configure("INFO", "json", stream=stream)
    try:
        assert agent.sync_once()["pushed"] == 3
        with httpx.Client(base_url=server.url, timeout=10) as http:
            r = http.get("/api/health", headers={"X-Request-ID": "lb-7f3a"})
            assert r.headers["x-request-id"] == "lb-7f3a"
            hdr = {SCHEMA_HEADER: str(SCHEMA_VERSION)}
            assert http.get("/api/sync/pull", params={"after": 0}, headers=hdr).status_code == 401
            assert http.get("/healthz").status_code == 200
            ready = http.get("/readyz").json()
            assert ready["status"] == "ok" and ready["database"] == "ok"
            text = http.get("/metrics").text
    finally:
        logging.getLogger().removeHandler(handler)
        agent.client.close()
        store.dispose()
    s = parse(text)
    push = 'structura_http_requests_total{method="POST",route="/api/sync/push",status="200"}'
    assert s[push] >= 1
    assert s['structura_http_requests_total{method="GET",route="/api/sync/pull",status="401"}'] == 1
    assert s['structura_http_request_duration_seconds_count{method="POST",'
             'route="/api/sync/push",status="200"}'] == s[push]  # fmt: skip
    assert s[f'structura_feed_position{{org_id="{org_id}"}}'] == 3
    assert 0 <= s[f'structura_feed_newest_age_seconds{{org_id="{org_id}"}}'] < 60
    assert s[f'structura_devices_active{{org_id="{org_id}"}}'] == 1
    assert s[f'structura_device_last_seen_max_age_seconds{{org_id="{org_id}"}}'] < 60
    assert s["structura_sync_pulls_waiting"] == 0
    # JSON access lines, each with the request id the client sent or one made for it.
    access = [json.loads(x) for x in stream.getvalue().splitlines()
              if x.startswith("{") and '"structura.access"' in x]  # fmt: skip
    mine = [x for x in access if x["request_id"] == "lb-7f3a"]
    assert len(mine) == 1 and mine[0]["route"] == "/api/health" and mine[0]["status"] == 200
    assert all(x["request_id"] for x in access) and len({x["request_id"] for x in access}) == len(
        access
    )


@pytest.mark.pg
def test_metrics_token_guards_the_endpoint(central):
    settings = CentralSettings(database_url=central.url, jwt_secret=SECRET, metrics_token="t0k")
    app = create_central_app(CentralContext(settings=settings, store=central))
    with (
        EmbeddedServer(app, "127.0.0.1", 0) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        assert http.get("/metrics").status_code == 401
        ok = http.get("/metrics", headers={"Authorization": "Bearer t0k"})
        assert ok.status_code == 200 and "structura_feed_position" in ok.text


PG = "postgresql+psycopg://structura:{pw}@db:5432/structura"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"STRUCTURA_CENTRAL_JWT_SECRET": ""}, "JWT_SECRET"),
        ({"STRUCTURA_CENTRAL_JWT_SECRET": "change-me"}, "JWT_SECRET"),
        ({"STRUCTURA_CENTRAL_JWT_SECRET": "short-but-not-32"}, "JWT_SECRET"),
        ({"DATABASE_URL": PG.format(pw="change-me")}, "example password"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"STRUCTURA_CENTRAL_METRICS_TOKEN": "changeme"}, "METRICS_TOKEN"),
    ],
)
def test_production_refuses_example_or_empty_secrets(monkeypatch, env, problem):
    good = {"STRUCTURA_ENV": "production", "STRUCTURA_CENTRAL_JWT_SECRET": "x" * 40,
            "DATABASE_URL": PG.format(pw="s3cret-from-a-vault")}  # fmt: skip
    for key, value in {**good, **env}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=problem):
        CentralSettings()


def test_production_accepts_real_secrets_and_development_anything(monkeypatch):
    monkeypatch.setenv("STRUCTURA_CENTRAL_JWT_SECRET", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", PG.format(pw="s3cret-from-a-vault"))
    monkeypatch.setenv("STRUCTURA_ENV", "production")
    assert CentralSettings().env == "production"
    monkeypatch.setenv("STRUCTURA_ENV", "development")
    monkeypatch.setenv("STRUCTURA_CENTRAL_JWT_SECRET", "")
    assert CentralSettings().jwt_secret == ""


def test_cli_says_why_it_refuses(monkeypatch, capsys):
    from core.cli import main

    monkeypatch.setenv("STRUCTURA_ENV", "production")
    monkeypatch.setenv("STRUCTURA_CENTRAL_JWT_SECRET", "change-me")
    monkeypatch.setenv("DATABASE_URL", PG.format(pw="change-me"))
    with pytest.raises(SystemExit) as exc:
        main(["central", "serve"])
    assert "central settings refused" in str(exc.value) and "example password" in str(exc.value)


def test_allowed_hosts_follow_the_public_url(monkeypatch):
    """With no list set, the central server answers the host of its public URL (and
    loopback, for the container's health check), not any Host header."""
    monkeypatch.setenv("STRUCTURA_CENTRAL_PUBLIC_URL", "https://Sync.Example.org:8443/")
    hosts = CentralSettings().effective_allowed_hosts()
    assert "sync.example.org" in hosts and "127.0.0.1" in hosts and "[::1]" in hosts
    assert "*" not in hosts and "evil.example" not in hosts
    monkeypatch.setenv("STRUCTURA_CENTRAL_ALLOWED_HOSTS", "a.example,b.example")
    assert CentralSettings().effective_allowed_hosts() == ["a.example", "b.example"]
    monkeypatch.delenv("STRUCTURA_CENTRAL_ALLOWED_HOSTS")
    monkeypatch.delenv("STRUCTURA_CENTRAL_PUBLIC_URL")
    assert CentralSettings().effective_allowed_hosts() == ["*"]


@pytest.mark.pg
def test_a_central_server_whose_database_is_away_answers_503_and_recovers(central_server, central):
    """PostgreSQL restarting or failing over: requests get a 503 problem with Retry-After
    (sites retry on their own; not a 500 and a traceback per request), and the next
    request once it is back is served, on fresh connections."""
    import psycopg
    from sqlalchemy.engine import make_url

    server, _ctx = central_server
    url = make_url(central.url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    login = {"email": "nobody@example.com", "password": "not-the-password"}
    assert httpx.post(server.url + "/api/admin/login", json=login).status_code == 401
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,))  # fmt: skip
        try:
            r = httpx.post(server.url + "/api/admin/login", json=login)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "database_unavailable" and r.headers["retry-after"]
        finally:
            conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
    assert httpx.post(server.url + "/api/admin/login", json=login).status_code == 401
