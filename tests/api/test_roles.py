"""Role checks on every route, table-driven from the registry and the action rules."""

from __future__ import annotations

from typing import Any

import pytest

from core.registry import registry
from tests.api.conftest import ROLES


@pytest.mark.parametrize("entity", list(registry()))
@pytest.mark.parametrize("role", ROLES)
def test_entity_roles(client: Any, as_: Any, entity: str, role: str) -> None:
    spec = registry()[entity]
    h = as_(role)
    listed = client.get(f"/api/{entity}", headers=h)
    assert listed.status_code == (200 if role in spec.read_roles else 403), listed.text
    got = client.get(f"/api/{entity}/missing", headers=h)
    assert got.status_code == (404 if role in spec.read_roles else 403)
    csv_export = client.get(f"/api/{entity}.csv", headers=h)
    assert csv_export.status_code == (200 if role in spec.read_roles else 403)
    # A valid (empty) change to a row that does not exist: the role check comes first.
    patched = client.patch(f"/api/{entity}/missing", json={}, headers={**h, "If-Match": "1"})
    assert patched.status_code == (404 if role in spec.write_roles else 403), patched.text
    deleted = client.delete(f"/api/{entity}/missing?version=1", headers=h)
    assert deleted.status_code == (404 if role in spec.write_roles else 403)
    batch = client.post(
        f"/api/{entity}/batch",
        headers=h,
        json={"operations": [{"op": "delete", "id": "missing", "version": 1}]},
    )
    assert batch.status_code == 200
    assert batch.json()["results"][0]["status"] == (404 if role in spec.write_roles else 403)


FLOOR = {"admin", "office", "operator"}
OFFICE = {"admin", "office"}
ALL = set(ROLES)

# (method, path, body, roles allowed, status when allowed)
ACTION_CASES = [
    ("POST", "/api/jobs/missing/start", None, FLOOR, 404),
    ("POST", "/api/jobs/missing/pause", None, FLOOR, 404),
    ("POST", "/api/jobs/missing/progress", {"produced": "1"}, FLOOR, 404),
    ("POST", "/api/jobs/missing/complete", None, FLOOR, 404),
    ("POST", "/api/machines/missing/status", {"status": "IDLE"}, FLOOR, 404),
    ("POST", "/api/machines/missing/downtime", {"reason": "SETUP"}, FLOOR, 422),
    ("POST", "/api/downtimes/missing/end", None, FLOOR, 404),
    ("POST", "/api/alerts/missing/dismiss", None, FLOOR, 404),
    ("POST", "/api/messages/missing/read", None, ALL, 404),
    ("GET", "/api/me/jobs", None, FLOOR, 200),
    ("GET", "/api/board", None, FLOOR, 200),
    ("GET", "/api/shows/missing/settlement", None, OFFICE, 404),
    ("GET", "/api/reports/finance", None, OFFICE, 200),
    ("GET", "/api/reports/oee", None, FLOOR, 200),
    ("GET", "/api/sync/status", None, ALL, 200),
    ("GET", "/api/auth/me", None, ALL, 200),
]


@pytest.mark.parametrize("role", ROLES)
def test_action_roles(client: Any, as_: Any, role: str) -> None:
    # One test per role (logging in costs an argon2 hash); the table is the cases.
    for method, path, body, allowed, ok in ACTION_CASES:
        r = client.request(method, path, json=body, headers=as_(role))
        assert r.status_code == (ok if role in allowed else 403), (role, path, r.text)
        unauthenticated = client.request(method, path, json=body)
        assert unauthenticated.status_code == 401, path


def test_role_is_checked_before_the_body(client: Any, as_: Any) -> None:
    """One check at the edge, before anything is parsed: a role that may not use a route
    hears 403 whatever it sent (docs/api.md), with the route's own wording."""
    crew = as_("crew")
    bad = {"produced": "not a number", "unknown": 1}
    r = client.post("/api/jobs/missing/progress", json=bad, headers=crew)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "forbidden"
    assert r.json()["detail"] == "role 'crew' may not report progress"
    # Allowed roles get the body checked (422), not the role.
    r = client.post("/api/jobs/missing/progress", json=bad, headers=as_("operator"))
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} >= {"produced"}
    spec = registry()["machines"]
    assert "crew" not in spec.write_roles
    r = client.post("/api/machines", json={"name": 5, "extra_field": True}, headers=crew)
    assert r.status_code == 403 and r.json()["detail"] == "role 'crew' may not create machines"
