"""The central server over a real socket: isolation between organisations, forged
device tokens, and no secret in the logs of enrolment, device tokens and the legacy
import. The service-level isolation test is tests/sync/test_push_pull.py
::test_an_org_cannot_touch_or_read_another_orgs_rows; this one goes through HTTP with
real device tokens, as an attacker holding a device of organisation B would."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from bench.harness.central_faults import CENTRAL_SECRET
from core.sync.conflicts import SCHEMA_HEADER, SCHEMA_VERSION
from local_api.server import EmbeddedServer

H = {SCHEMA_HEADER: str(SCHEMA_VERSION)}


@pytest.fixture
def central(pg_url: str) -> Iterator[tuple[str, Any]]:
    from central.app import create_central_app
    from central.context import CentralContext, open_central_store
    from central.settings import CentralSettings

    store = open_central_store(pg_url, pool_size=4)
    ctx = CentralContext(
        settings=CentralSettings(database_url=pg_url, jwt_secret=CENTRAL_SECRET), store=store
    )
    with EmbeddedServer(create_central_app(ctx)) as server:
        yield server.url, store
    store.dispose()


def _device(store: Any, http: httpx.Client, org_name: str) -> dict[str, Any]:
    from central.enroll import create_org, create_site, make_enrollment_code

    with store.write() as s:
        org = create_org(s, name=org_name, modules=["factory", "tour"])
        site = create_site(s, org_id=org.id, name=org_name + " plant")
        code, _ = make_enrollment_code(s, org_id=org.id, site_id=site.id)
    e = http.post("/api/sync/enroll", json={"code": code, "device_name": "x"}, headers=H)
    assert e.status_code == 201, e.text
    data = e.json()
    t = http.post(
        "/api/sync/token",
        headers=H,
        json={"device_id": data["device_id"], "device_secret": data["device_secret"]},
    )
    assert t.status_code == 200, t.text
    return {
        "org": org.id,
        "code": code,
        **data,
        "token": t.json()["access_token"],
        "h": {**H, "Authorization": f"Bearer {t.json()['access_token']}"},
    }


def _op(kind: str, eid: str, fields: dict[str, Any], base: int = 0) -> dict[str, Any]:
    from core.clock import uuid7

    return {
        "op_id": uuid7(),
        "entity": "clients",
        "entity_id": eid,
        "kind": kind,
        "base_version": base,
        "fields": fields,
        "made_at": "0000000000000-00000-x",
    }


@pytest.mark.pg
def test_a_device_of_org_b_can_neither_read_nor_change_org_a(
    central: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url, store = central
    with httpx.Client(base_url=url, timeout=30) as http:
        a, b = _device(store, http, "Org A"), _device(store, http, "Org B")
        made = http.post(
            "/api/sync/push",
            headers=a["h"],
            json={
                "device_id": a["device_id"],
                "ops": [_op("create", "a-row", {"name": "secret A"})],
            },
        )
        assert made.json()["results"][0]["status"] == "applied", made.text
        # B pulls: nothing of A's, from any cursor.
        for after in (0, 1):
            page = http.get("/api/sync/pull", headers=b["h"], params={"after": after}).json()
            assert all(e["row"].get("org_id") == b["org"] for e in page["entries"])
            assert "secret A" not in json.dumps(page)
        snap = http.get("/api/sync/snapshot", headers=b["h"])
        assert "secret A" not in snap.text
        # B pushes updates and deletes of A's row id: refused as unknown in B's org.
        for kind, fields in (("update", {"name": "pwned"}), ("delete", {})):
            r = http.post(
                "/api/sync/push",
                headers=b["h"],
                json={"device_id": b["device_id"], "ops": [_op(kind, "a-row", fields, base=1)]},
            )
            assert r.json()["results"][0]["status"] == "rejected", r.text
        # B names A's device in the body: refused outright.
        r = http.post(
            "/api/sync/push",
            headers=b["h"],
            json={"device_id": a["device_id"], "ops": [_op("update", "a-row", {"name": "x"}, 1)]},
        )
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        # A device token with its org and subject edited (signature kept) is refused.
        head, _, sig = b["token"].split(".")
        claims = jwt.decode(b["token"], options={"verify_signature": False})
        claims.update(sub=a["device_id"])
        import base64

        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        r = http.get(
            "/api/sync/pull", headers={**H, "Authorization": f"Bearer {head}.{body}.{sig}"}
        )
        assert r.status_code == 401
        # A token signed with another key, or not a device token at all, is refused.
        now = int(time.time())
        forged = jwt.encode(
            {"sub": a["device_id"], "typ": "device", "exp": now + 60, "iat": now},
            "x" * 48,
            algorithm="HS256",
        )
        r = http.get("/api/sync/pull", headers={**H, "Authorization": f"Bearer {forged}"})
        assert r.status_code == 401
        # A's row is untouched.
        page = http.get("/api/sync/pull", headers=a["h"], params={"after": 0}).json()
        assert [e["row"]["name"] for e in page["entries"]] == ["secret A"]
        # Enrolment codes are one-time: B cannot reuse A's to join org A.
        again = http.post(
            "/api/sync/enroll", json={"code": a["code"], "device_name": "x"}, headers=H
        )
        assert again.status_code in (401, 403, 409, 410), again.text
    secrets = [a["code"], a["device_secret"], b["device_secret"], a["token"], b["token"]]
    logs = "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert not [s[:8] for s in secrets if s in logs]


def test_legacy_import_logs_no_pin(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from core.db import sqlite_url
    from core.legacy import read_export, run_import
    from core.site import ensure_site, open_store

    samples = Path(__file__).resolve().parents[3] / "shared" / "data" / "legacy-exports"
    factory = samples / "structura-export.json"
    if not factory.is_file():
        pytest.skip(f"legacy export samples not found at {samples}")
    caplog.set_level(logging.DEBUG)
    doc = json.loads(factory.read_text(encoding="utf-8"))
    pins = {str(u["pin"]) for u in doc["structura_erp_factory_data_v3"]["users"] if u.get("pin")}
    store = open_store(sqlite_url(tmp_path / "s.sqlite3"))
    try:
        site = ensure_site(store, org_name="legacy", site_name="t")
        report = run_import(store, [read_export(factory)], org_id=site.org_id)
    finally:
        store.dispose()
    logs = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    text = logs + json.dumps(report.__dict__, default=str)
    leaked = [p for p in pins if f'"{p}"' in text or f"'{p}'" in text or f"pin={p}" in text]
    assert pins and not leaked


@pytest.mark.pg
def test_central_refuses_unknown_hosts_and_oversized_bodies(pg_url: str) -> None:
    """The central server has the site API's request hardening too."""
    from central.app import create_central_app
    from central.context import CentralContext, open_central_store
    from central.settings import CentralSettings

    store = open_central_store(pg_url, pool_size=2)
    settings = CentralSettings(
        database_url=pg_url, jwt_secret=CENTRAL_SECRET, allowed_hosts=["127.0.0.1"],
        max_body_bytes=4096,
    )  # fmt: skip
    try:
        with EmbeddedServer(
            create_central_app(CentralContext(settings=settings, store=store))
        ) as srv:
            ok = httpx.get(f"{srv.url}/api/sync/pull", timeout=5)
            assert ok.status_code == 426  # reached the app (it asks for the schema version)
            evil = httpx.get(f"{srv.url}/api/sync/pull", headers={"Host": "evil.example"})
            assert evil.status_code == 400
            big = httpx.post(f"{srv.url}/api/sync/enroll", content=b"{" + b" " * 8192 + b"}",
                             headers={"Content-Type": "application/json"})  # fmt: skip
            assert big.status_code == 413
            assert big.headers["content-type"].startswith("application/problem+json")
    finally:
        store.dispose()
