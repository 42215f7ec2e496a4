"""Over real sockets: the central server under uvicorn on 127.0.0.1 (PostgreSQL), two
sites (SQLite files) enrolled over HTTP with one-time codes a central admin made over
HTTP, and their agents running in the background. A change made on one site reaches
the other through push, NOTIFY and the long-poll within a couple of seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.app import create_central_app
from central.context import CentralContext, open_central_store
from central.enroll import create_admin
from central.settings import CentralSettings
from core import writes
from core.db import Store, sqlite_url
from core.registry import spec_for
from core.site import open_store, site_info
from core.sync import wire
from core.sync.wire import SCHEMA_HEADER, SCHEMA_VERSION
from core.writes import Actor
from local_api.server import EmbeddedServer
from sync_agent.agent import SyncAgent, enroll_site

pytestmark = pytest.mark.pg

EMAIL, PASSWORD = "ops@central.example", "another long password"
REACH_S = 2.0


def _wait_for(what: str, check: Callable[[], Any], timeout: float) -> float:
    """Seconds until ``check()`` is truthy; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def central_url(pg_url: str) -> Iterator[str]:
    store = open_central_store(pg_url, pool_size=4)
    ctx = CentralContext(
        settings=CentralSettings(database_url=pg_url, jwt_secret="w" * 48), store=store
    )
    with store.write() as s:
        create_admin(s, email=EMAIL, password=PASSWORD)
    try:
        # The app's lifespan starts and stops the NOTIFY listener with the server.
        with EmbeddedServer(create_central_app(ctx), host="127.0.0.1", port=0) as server:
            yield server.url
    finally:
        store.dispose()


def _enrolment_codes(url: str, names: list[str]) -> tuple[str, list[str]]:
    """A central admin, over HTTP: log in, make an organisation, a site per name and a
    one-time code for each."""
    with httpx.Client(base_url=url, timeout=10) as http:
        token = http.post("/api/admin/login", json={"email": EMAIL, "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        org = http.post("/api/admin/orgs", json={"name": "Wire Co"}).json()["id"]
        codes = []
        for name in names:
            site = http.post(f"/api/admin/orgs/{org}/sites", json={"name": name}).json()
            resp = http.post(f"/api/admin/orgs/{org}/sites/{site['id']}/enrollment-codes")
            assert resp.status_code == 201, resp.text
            codes.append(resp.json()["code"])
    return org, codes


@pytest.fixture
def sites(central_url: str, tmp_path: Path) -> Iterator[list[tuple[Store, SyncAgent]]]:
    org, codes = _enrolment_codes(central_url, ["A", "B"])
    made: list[tuple[Store, SyncAgent]] = []
    try:
        for name, code in zip("AB", codes, strict=True):
            store = open_store(sqlite_url(tmp_path / f"{name}.sqlite3"))
            enroll_site(store, central_url, code, device_name=name)
            # A short long-poll only so that stop() never waits long for one in flight.
            agent = SyncAgent(store, long_poll=5.0, backoff_cap=1.0)
            made.append((store, agent))
            assert site_info(store).org_id == org
        for _, agent in made:
            agent.start()
        for _, agent in made:
            _wait_for("agent online", lambda a=agent: a.status()["state"] == "online", 15)
        yield made
    finally:
        # In parallel: each stop waits for its agent's long-poll in flight to return.
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda a: a.stop(timeout=10), [agent for _, agent in made]))
        for store, _ in made:
            store.dispose()
    for _, agent in made:
        assert not agent.status()["running"]


def _write(store: Store, fn: Callable[..., Any], **kw: Any) -> Any:
    with store.write() as s:
        actor = Actor(org_id=site_info(store).org_id, user_id=None, role="admin")
        return fn(s, actor=actor, entity="clients", **kw)


def _name(store: Store, id: str) -> str | None:
    with store.read() as s:
        row = s.get(spec_for("clients").model, (site_info(store).org_id, id))
        return None if row is None else row.name


# slow: two agents long-polling a real central server; tests/sync/test_agent.py has the in-process
# round trip
@pytest.mark.slow
def test_a_change_on_one_site_reaches_the_other_over_http(
    sites: list[tuple[Store, SyncAgent]],
) -> None:
    (a_store, a), (b_store, b) = sites
    cid = _write(a_store, writes.create, data={"name": "Over the wire"}).id
    took = _wait_for("create A -> B", lambda: _name(b_store, cid) == "Over the wire", REACH_S)
    # And back: an edit on B reaches A the same way.
    _write(b_store, writes.update, id=cid, data={"name": "And back"})
    took_back = _wait_for("update B -> A", lambda: _name(a_store, cid) == "And back", REACH_S)
    assert took < REACH_S and took_back < REACH_S
    _wait_for("outboxes drained", lambda: a.status()["pending_ops"] == b.status()["pending_ops"]
              == 0, REACH_S)  # fmt: skip
    assert a.status()["last_error"] is None and b.status()["last_error"] is None


def test_a_push_that_does_not_match_the_wire_is_refused_naming_the_field(
    central_url: str, tmp_path: Path
) -> None:
    """The central server validates a push against ``wire.PushRequest`` before writing
    anything: a malformed op sinks the whole request with a 422 problem+json whose
    errors name the offending field by its place in the body."""
    _, [code] = _enrolment_codes(central_url, ["A"])
    store = open_store(sqlite_url(tmp_path / "A.sqlite3"))
    try:
        enroll_site(store, central_url, code, device_name="A")
        agent = SyncAgent(store)
        headers = {SCHEMA_HEADER: str(SCHEMA_VERSION),
                   "Authorization": f"Bearer {agent.client._access_token()}"}  # fmt: skip
        good = [wire_op(i) for i in range(5)]
        cases = [
            (3, {"base_version": "three"}, "ops.3.base_version"),
            (1, {"fields": ["not", "an", "object"]}, "ops.1.fields"),
            (4, {"kind": "upsert"}, "ops.4.kind"),
            (0, {"op_id": ""}, "ops.0.op_id"),
            (2, {"surprise": True}, "ops.2.surprise"),
        ]
        with httpx.Client(base_url=central_url, timeout=10) as http:
            for index, change, field in cases:
                ops = [dict(o) for o in good]
                ops[index] |= change
                resp = http.post("/api/sync/push", headers=headers, json={"ops": ops})
                assert resp.status_code == 422, resp.text
                assert resp.headers["content-type"] == "application/problem+json"
                body = resp.json()
                assert body["code"] == "invalid"
                assert [e["field"] for e in body["errors"]] == [field], body
                assert field in body["detail"]
            # Nothing of the refused batches was written; the same ops, well formed, go in
            # (as new ops: a refused request has no stored answer).
            resp = http.post("/api/sync/push", headers=headers, json={"ops": good})
            assert resp.status_code == 200, resp.text
            answer = wire.PushAnswer.model_validate(resp.json())
            assert [r.status for r in answer.results] == ["applied"] * 5
            pulled = wire.PullAnswer.model_validate(
                http.get("/api/sync/pull", headers=headers, params={"after": 0}).json()
            )
            assert [e.id for e in pulled.entries] == [f"w{i}" for i in range(5)]
        agent.client.close()
    finally:
        store.dispose()


def wire_op(i: int) -> dict[str, Any]:
    return wire.Op(op_id=f"op-{i}", entity="clients", entity_id=f"w{i}", kind="create",
                   fields={"name": f"W{i}"}).model_dump(mode="json")  # fmt: skip
