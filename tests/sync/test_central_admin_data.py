"""Central admins read and correct any organisation's rows (/api/orgs/{org}/{entity}),
and the corrections reach the sites through the feed like any other change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from central.enroll import create_admin
from core import writes
from core.registry import spec_for
from core.serial import row_to_json
from core.site import site_info
from core.sync.conflicts import SCHEMA_HEADER, SCHEMA_VERSION
from core.writes import Actor
from tests.sync.conftest import CentralApp, new_org

pytestmark = pytest.mark.pg

EMAIL, PASSWORD = "root@central.example", "a long admin password"


@pytest.fixture
def admin(hub: CentralApp) -> Iterator[httpx.Client]:
    with hub.store.write() as s:
        create_admin(s, email=EMAIL, password=PASSWORD)
    token = hub.http.post("/api/admin/login", json={"email": EMAIL, "password": PASSWORD})
    assert token.status_code == 200, token.text
    with httpx.Client(
        transport=hub.transport,
        base_url=hub.url,
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    ) as client:
        yield client


def _site_write(store: Any, entity: str, **data: Any) -> str:
    with store.write() as s:
        actor = Actor(org_id=site_info(store).org_id, user_id=None, role="admin")
        return writes.create(s, actor=actor, entity=entity, data=data).id


def _site_row(store: Any, entity: str, id: str) -> dict[str, Any] | None:
    with store.read() as s:
        r = s.get(spec_for(entity).model, (site_info(store).org_id, id))
        return None if r is None else row_to_json(r)


@pytest.fixture
def pushed(hub: CentralApp, org_id: str, tmp_path: Any) -> dict[str, Any]:
    """A site of ``org_id`` that pushed a machine and three jobs."""
    store, agent = hub.new_site(tmp_path, org_id, "Plant")
    machine = _site_write(store, "machines", name="Roll former", type="CONFORMADORA")
    jobs = [
        _site_write(
            store, "jobs", title=f"Panel {c}", machine_id=machine, quantity="10", sequence=i
        )
        for i, c in enumerate("ABC", start=1)
    ]
    agent.sync_once()
    return {"store": store, "agent": agent, "machine": machine, "jobs": jobs}


def test_admin_lists_an_orgs_rows_like_the_site_api(
    hub: CentralApp, admin: httpx.Client, org_id: str, pushed: dict[str, Any]
) -> None:
    base = f"/api/orgs/{org_id}/jobs"
    page = admin.get(base).json()
    assert page["total"] == 3 and [j["title"] for j in page["items"]] == [
        "Panel A", "Panel B", "Panel C"]  # fmt: skip
    assert {j["id"] for j in page["items"]} == set(pushed["jobs"])
    # Filters, search, sort and cursor pages as on the site.
    assert [j["title"] for j in admin.get(base, params={"sequence__gte": "2"}).json()["items"]] == [
        "Panel B", "Panel C"]  # fmt: skip
    assert admin.get(base, params={"q": "nel c"}).json()["total"] == 1
    first = admin.get(base, params={"sort": "-sequence", "limit": 2}).json()
    assert [j["sequence"] for j in first["items"]] == [3, 2] and first["next_cursor"]
    rest = admin.get(base, params={"sort": "-sequence", "limit": 2,
                                   "cursor": first["next_cursor"]}).json()  # fmt: skip
    assert [j["sequence"] for j in rest["items"]] == [1] and rest["next_cursor"] is None
    bad = admin.get(base, params={"nope": "1"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    one = admin.get(f"{base}/{pushed['jobs'][0]}")
    assert one.status_code == 200 and one.headers["etag"] == '"1"'
    assert admin.get(f"{base}/missing").status_code == 404
    # Another organisation's rows are not mixed in.
    other = new_org(hub.store, "Other")
    assert admin.get(f"/api/orgs/{other}/jobs").json()["total"] == 0


def test_device_token_and_no_token_are_refused(
    hub: CentralApp, org_id: str, pushed: dict[str, Any]
) -> None:
    agent = pushed["agent"]
    token = hub.http.post(
        "/api/sync/token",
        headers={SCHEMA_HEADER: str(SCHEMA_VERSION)},
        json={"device_id": agent.device_id, "device_secret": agent.client.device_secret},
    ).json()["access_token"]
    for headers in ({"Authorization": f"Bearer {token}"}, {}):
        for method, path in (
            ("GET", f"/api/orgs/{org_id}/jobs"),
            ("GET", f"/api/orgs/{org_id}/sync-state"),
            ("PATCH", f"/api/orgs/{org_id}/jobs/{pushed['jobs'][0]}"),
        ):
            resp = hub.http.request(method, path, headers={**headers, "If-Match": "1"},
                                    json={"title": "x"})  # fmt: skip
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.headers["content-type"] == "application/problem+json"


def test_unknown_org_is_404(admin: httpx.Client, org_id: str) -> None:
    for org in ("no-such-org", "central"):  # the admins' own org is not a customer org
        for path in (f"/api/orgs/{org}/jobs", f"/api/orgs/{org}/sync-state",
                     f"/api/orgs/{org}/users/x"):  # fmt: skip
            resp = admin.get(path)
            assert resp.status_code == 404, (path, resp.text)
        resp = admin.patch(f"/api/orgs/{org}/clients/x", json={"name": "y"},
                           headers={"If-Match": "1"})  # fmt: skip
        assert resp.status_code == 404


def test_patch_by_central_admin_reaches_the_site(
    admin: httpx.Client, org_id: str, pushed: dict[str, Any], hub: CentralApp
) -> None:
    job = pushed["jobs"][1]
    url = f"/api/orgs/{org_id}/jobs/{job}"
    assert admin.patch(url, json={"title": "x"}).status_code == 428
    resp = admin.patch(url, json={"title": "Panel B (fixed)"},
                       headers={"If-Match": '"1"', "User-Agent": "AdminTool/2.0"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == 2 and resp.headers["etag"] == '"2"'
    # The central audit entry says where the correction came from.
    from sqlalchemy import select

    from core.models import AuditEntry

    with hub.store.read() as s:
        entry = s.scalars(select(AuditEntry).where(
            AuditEntry.entity_id == job, AuditEntry.version == 2)).one()  # fmt: skip
    assert entry.user_agent == "AdminTool/2.0" and entry.ip_address == "127.0.0.1"
    # A stale version is refused with the current row, and changes nothing.
    stale = admin.patch(url, json={"title": "lost"}, headers={"If-Match": "1"})
    assert stale.status_code == 409
    assert stale.json()["current"]["title"] == "Panel B (fixed)"
    assert admin.get(url).json()["version"] == 2
    # The site hears of it on its next pull, without pushing it back.
    store, agent = pushed["store"], pushed["agent"]
    assert _site_row(store, "jobs", job)["title"] == "Panel B"
    assert agent.sync_once()["pulled"] >= 1
    row = _site_row(store, "jobs", job)
    assert row["title"] == "Panel B (fixed)" and row["sync_version"] == 2
    assert agent.status()["pending_ops"] == 0


def test_delete_by_central_admin_is_a_tombstone_on_the_site(
    admin: httpx.Client, org_id: str, pushed: dict[str, Any]
) -> None:
    job = pushed["jobs"][2]
    url = f"/api/orgs/{org_id}/jobs/{job}"
    assert admin.delete(url).status_code == 428
    assert admin.delete(url, params={"version": 5}).status_code == 409
    resp = admin.delete(url, headers={"If-Match": "1"})
    assert resp.status_code == 200 and resp.json()["deleted_at"]
    assert admin.get(url).status_code == 404
    assert admin.get(url, params={"include_deleted": "true"}).status_code == 200
    pushed["agent"].sync_once()
    assert _site_row(pushed["store"], "jobs", job)["deleted_at"] is not None


def test_append_only_and_disabled_modules_are_refused(
    hub: CentralApp, admin: httpx.Client, tmp_path: Any
) -> None:
    org = new_org(hub.store, "Factory only", modules=("factory",))
    store, agent = hub.new_site(tmp_path, org, "P")
    event = _site_write(store, "events", type="NOTE", payload={})
    agent.sync_once()
    resp = admin.patch(f"/api/orgs/{org}/events/{event}", json={"type": "X"},
                       headers={"If-Match": "1"})  # fmt: skip
    assert resp.status_code == 403
    resp = admin.patch(f"/api/orgs/{org}/shows/x", json={"city": "x"}, headers={"If-Match": "1"})
    assert resp.status_code == 403


def test_sync_state(admin: httpx.Client, org_id: str, pushed: dict[str, Any]) -> None:
    # A pull "after C" tells the central server the site holds everything up to C: pull
    # everything, then once more (what the agent's next long-poll does).
    pushed["agent"].pull_available()
    pushed["agent"].pull_available()
    state = admin.get(f"/api/orgs/{org_id}/sync-state")
    assert state.status_code == 200, state.text
    body = state.json()
    assert body["org_id"] == org_id and body["feed_head"] == 4 and body["open_conflicts"] == 0
    [dev] = body["devices"]
    assert dev["id"] == pushed["agent"].device_id and dev["revoked"] is False
    assert dev["last_seen_at"] is not None
    assert dev["last_cursor"] == body["feed_head"] and dev["lag"] == 0


def test_openapi_names_each_entitys_models(hub: CentralApp) -> None:
    doc = hub.app.openapi()
    op = doc["paths"]["/api/orgs/{org_id}/jobs/{id}"]["patch"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/JobPatch")
    assert "/api/orgs/{org_id}/show_costs" in doc["paths"]
