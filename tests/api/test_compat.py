"""The compatibility APIs' rules: the same refusals as the native API (in the old apps'
field names), nothing half-written, last write wins without a version (audited), PIN-only
login only when the site allows it and with unique PINs, registration only when open,
a sync cursor that sees writes from every entry point, and a served frontend folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core import writes
from core.db import Store
from core.errors import Conflict
from core.identity import pins, throttle
from core.models import AuditEntry, InventoryItem, OutboxEntry, Show, ShowCost
from core.settings import Settings, SettingsError
from core.site import SiteInfo
from local_api.app import create_app
from local_api.context import AppContext
from tests.api.client import ASGIClient, asgi_client
from tests.api.conftest import PINS, People

F = "/compat/factory/api"
T = "/compat/tour/api"


def _fields(resp: Any) -> set[str]:
    return {e["field"] for e in resp.json().get("errors") or []}


def _count(store: Store, model: Any) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def machine(admin: ASGIClient) -> dict[str, Any]:
    r = admin.post("/api/machines", json={"name": "M1", "type": "PINTURA"})
    assert r.status_code == 201
    return dict(r.json())


CASES = [
    # (native path, native body, compat path, compat body, status, native field, legacy field)
    ("/api/inventory", {"sku": "A", "name": "n", "quantity": "-1"},
     "/inventory", {"sku": "A", "name": "n", "quantity": -1}, 422, "quantity", "quantity"),
    ("/api/inventory", {"sku": "A", "name": "n", "quantity": "1", "reorder_point": "-2"},
     "/inventory", {"sku": "A", "name": "n", "quantity": 1, "minQuantity": -2}, 422,
     "reorder_point", "minQuantity"),
    ("/api/jobs", {"title": "t", "machine_id": "nope", "quantity": "5"},
     "/jobs", {"title": "t", "machineId": "nope", "quantityMeters": 5}, 422,
     "machine_id", "machineId"),
    ("/api/machines", {"name": "x", "type": "PINTURA", "status": "EN_REPARACION"},
     "/machines", {"name": "x", "type": "PINTURA", "status": "EN_REPARACION"}, 422,
     "status", "status"),
]  # fmt: skip


@pytest.mark.parametrize(("npath", "nbody", "cpath", "cbody", "status", "nf", "cf"), CASES)
def test_compat_refuses_what_the_native_api_refuses(
    admin: ASGIClient,
    store: Store,
    npath: str,
    nbody: dict[str, Any],
    cpath: str,
    cbody: dict[str, Any],
    status: int,
    nf: str,
    cf: str,
) -> None:
    audit = _count(store, AuditEntry)
    native = admin.post(npath, json=nbody)
    compat = admin.post(F + cpath, json=cbody)
    assert (native.status_code, compat.status_code) == (status, status), compat.text
    assert nf in _fields(native) and cf in _fields(compat)
    assert native.json()["code"] == compat.json()["code"]
    assert _count(store, AuditEntry) == audit  # nothing written by either


def test_duplicates_roles_unknown_ids_and_stale_versions(
    admin: ASGIClient, as_: Callable[[str], dict[str, str]], machine: dict[str, Any]
) -> None:
    body = {"sku": "DUP", "name": "n", "quantity": 1}
    assert admin.post(F + "/inventory", json=body).status_code == 201
    dup = admin.post(F + "/inventory", json=body)
    assert dup.status_code == admin.post("/api/inventory", json=body).status_code == 409
    assert "sku" in _fields(dup)
    op = as_("operator")
    assert admin.post(F + "/clients", json={"name": "c"}, headers=op).status_code == 403
    assert admin.post("/api/clients", json={"name": "c"}, headers=op).status_code == 403
    assert admin.patch(F + "/machines/nope", json={"status": "IDLE"}).status_code == 404
    assert admin.get(F + "/machines/nope").status_code == 404
    assert admin.delete(F + "/machines/nope").status_code == 404
    assert admin.get(F + "/nothing").status_code in (404, 422)
    mid = machine["id"]
    assert admin.patch(F + f"/machines/{mid}", json={"status": "RUNNING"}).status_code == 200
    stale = admin.patch(F + f"/machines/{mid}", json={"status": "ERROR", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["current"]["status"] == "RUNNING"  # the current row, old shape
    assert "totalMetersProduced" in stale.json()["current"]
    assert admin.delete(F + f"/machines/{mid}?version=1").status_code == 409
    unknown = admin.patch(F + f"/machines/{mid}", json={"nonsense": 1})
    assert unknown.status_code == 422 and _fields(unknown) == {"nonsense"}
    assert admin.patch(F + f"/machines/{mid}", json=["not", "an", "object"]).status_code == 422


def test_last_write_wins_without_a_version_and_the_audit_keeps_the_old_values(
    admin: ASGIClient, store: Store, machine: dict[str, Any]
) -> None:
    mid = machine["id"]
    for status in ("RUNNING", "ERROR"):
        r = admin.patch(F + f"/machines/{mid}", json={"status": status})
        assert r.status_code == 200
    assert r.json()["version"] == 3 and r.json()["status"] == "ERROR"
    with store.read() as s:
        changes = [
            a.changes.get("status")
            for a in s.scalars(
                select(AuditEntry).where(AuditEntry.entity_id == mid).order_by(AuditEntry.seq)
            )
        ]
    assert changes[1:] == [["IDLE", "RUNNING"], ["RUNNING", "ERROR"]]


def test_a_show_with_a_bad_cost_leaves_nothing_behind(admin: ASGIClient, store: Store) -> None:
    before = [_count(store, m) for m in (Show, ShowCost, AuditEntry, OutboxEntry)]
    r = admin.post(
        T + "/shows",
        json={"id": "show-half", "city": "Lugo", "country": "ES",
              "dateEvent": "2027-01-01T20:00:00Z", "fee": 10, "feeCurrency": "EUR",
              "costs": [{"type": "sound", "amount": 5, "currency": "EUR"},
                        {"type": "sound", "amount": -5, "currency": "EUR"}]},
    )  # fmt: skip
    assert r.status_code == 400
    assert "costs.1.amount" in _fields(r)
    assert [_count(store, m) for m in (Show, ShowCost, AuditEntry, OutboxEntry)] == before
    bad_factory = admin.post(F + "/inventory", json={"sku": "Q", "name": "n", "quantity": "x"})
    assert bad_factory.status_code == 422 and _fields(bad_factory) == {"quantity"}
    assert _count(store, InventoryItem) == 0


def test_pin_only_login_is_off_unless_enabled(
    client: ASGIClient, store: Store, people: People
) -> None:
    off = client.post(F + "/auth/login", json={"pin": PINS["admin"]})
    assert off.status_code == 401
    pins.set_enabled(store, True)
    on = client.post(F + "/auth/login", json={"pin": PINS["admin"]})
    assert on.status_code == 200, on.text
    assert on.json()["user"]["id"] == people["admin"] and on.json()["user"]["role"] == "ADMIN"
    keypad = client.post(F + "/auth/login", json={"pin": PINS["crew"], "userId": people["crew"]})
    assert keypad.status_code == 200
    me = client.get(F + "/auth/me", headers={"Authorization": "Bearer " + on.json()["token"]})
    assert me.status_code == 200 and me.json()["id"] == people["admin"]
    assert "pin" not in me.json()


def test_pin_only_login_locks_out_like_the_keypad(
    client: ASGIClient, store: Store, people: People
) -> None:
    pins.set_enabled(store, True)
    # An unpaired device (no X-Device-Key): the unpaired callers' shared lockout.
    device = {"X-Device-Id": "tablet-7"}
    n = throttle.ACCOUNT_THRESHOLD
    codes = [
        client.post(F + "/auth/login", json={"pin": "9999"}, headers=device).status_code
        for _ in range(n + 1)
    ]
    assert codes[:n] == [401] * n and codes[n] == 429
    # Locked: even the right PIN waits on this device.
    locked = client.post(F + "/auth/login", json={"pin": PINS["admin"]}, headers=device)
    assert locked.status_code == 429


def test_unique_pins_are_enforced_by_the_write_path(
    store: Store, site: SiteInfo, people: People
) -> None:
    actor = writes.Actor.system(site.org_id)
    shared, own = "739204", "481956"  # new PINs meet the PIN policy (core.identity.pins)
    with store.write() as s:
        writes.update(s, actor=actor, entity="users", id=people["office"], data={"pin": shared})
    with store.write() as s:  # off: two users may share a PIN (the keypad names the user)
        writes.update(s, actor=actor, entity="users", id=people["crew"], data={"pin": shared})
    with store.write() as s:
        writes.update(s, actor=actor, entity="users", id=people["crew"], data={"pin": own})
    pins.set_enabled(store, True)
    with pytest.raises(Conflict) as exc, store.write() as s:
        writes.update(s, actor=actor, entity="users", id=people["crew"], data={"pin": shared})
    assert exc.value.details == [{"field": "pin", "message": "already in use"}]
    with pytest.raises(Conflict), store.write() as s:
        writes.create(s, actor=actor, entity="users",
                      data={"name": "New", "role": "crew", "pin": shared})  # fmt: skip
    with store.write() as s:  # a user keeping their own PIN is not a clash
        writes.update(s, actor=actor, entity="users", id=people["crew"], data={"pin": own})


def test_registration_is_closed_unless_the_site_opens_it(client: ASGIClient) -> None:
    r = client.post(
        T + "/auth/register",
        json={"email": "new@example.com", "password": "long enough!", "fullName": "New"},
    )
    assert r.status_code == 403
    assert client.post(T + "/auth/register", json={"email": 1}).status_code == 400
    assert client.post(T + "/auth/refresh", json={}).status_code == 401
    assert client.post(T + "/auth/refresh", json={"refreshToken": "x" * 40}).status_code == 401


def test_sync_events_see_writes_of_every_entry_point(admin: ASGIClient) -> None:
    start = admin.get(T + "/sync/events?since=0").json()["timestamp"]
    created = admin.post(
        T + "/shows",
        json={"city": "Ourense", "country": "ES", "dateEvent": "2027-02-01T20:00:00Z",
              "fee": 10, "feeCurrency": "EUR"},
    ).json()["show"]  # fmt: skip
    native = admin.get(f"/api/shows/{created['id']}").json()
    r = admin.patch(
        f"/api/shows/{created['id']}", json={"venue": "Auditorio"},
        headers={"If-Match": str(native["version"])},
    )  # fmt: skip
    assert r.status_code == 200
    page = admin.get(T + f"/sync/events?since={start}&limit=1").json()
    assert [e["type"] for e in page["events"]] == ["create"]
    rest = admin.get(T + f"/sync/events?since={page['timestamp']}").json()
    assert [e["type"] for e in rest["events"]] == ["update"]
    assert rest["events"][0]["changes"]["venue"]["after"] == "Auditorio"
    assert rest["events"][0]["data"]["venue"] == "Auditorio"
    assert admin.get(T + f"/sync/events?since={rest['timestamp']}").json()["events"] == []
    assert admin.get(T + "/sync/events?since=-1").status_code == 400


def test_flush_refuses_a_malformed_queue_whole(admin: ASGIClient, store: Store) -> None:
    audit = _count(store, AuditEntry)
    r = admin.post(T + "/sync/flush", json={"operations": [{"type": "update"}]})
    assert r.status_code == 400 and "operations.0.id" in _fields(r)
    r = admin.post(T + "/sync/flush", json={"operations": []})
    assert r.status_code == 400
    assert _count(store, AuditEntry) == audit


def test_list_settings_take_the_comma_form_and_bad_ones_name_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRUCTURA_CORS_ORIGINS", "http://localhost:5173, https://x.example")
    assert Settings.load().cors_origins == ["http://localhost:5173", "https://x.example"]
    monkeypatch.setenv("STRUCTURA_CORS_ORIGINS", '["http://a.example"]')
    assert Settings.load().cors_origins == ["http://a.example"]
    monkeypatch.setenv("STRUCTURA_PIN_ONLY_LOGIN", "maybe")
    with pytest.raises(SettingsError, match="STRUCTURA_PIN_ONLY_LOGIN"):
        Settings.load()


def test_a_built_frontend_is_served_from_its_folder(
    make_context: Callable[..., AppContext], api_settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>factory</title>")
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    settings = api_settings.model_copy(update={"frontend_dir": tmp_path})
    app = create_app(make_context(settings=settings), live=False, web=False)
    with asgi_client(app, base_url="http://testserver") as c:
        assert "factory" in c.get("/frontend/").text
        assert c.get("/frontend/assets/app.js").text == "console.log(1)"
        assert "factory" in c.get("/frontend/machines/42").text  # the app's own routes
        assert c.get("/frontend/assets/missing.js").status_code == 404
    empty = api_settings.model_copy(update={"frontend_dir": tmp_path / "none"})
    with pytest.raises(RuntimeError, match=r"index\.html"):
        create_app(make_context(settings=empty), live=False, web=False)


def test_a_show_patch_with_costs_replaces_them(admin: ASGIClient, store: Store) -> None:
    show = admin.post(
        T + "/shows",
        json={"city": "Soria", "country": "ES", "dateEvent": "2027-02-01T20:00:00Z",
              "fee": 10, "feeCurrency": "EUR",
              "costs": [{"id": "sc-a", "type": "sound", "amount": 5, "currency": "EUR"},
                        {"id": "sc-b", "type": "hotel", "amount": 7, "currency": "EUR"}]},
    ).json()["show"]  # fmt: skip
    r = admin.patch(
        T + f"/shows/{show['id']}",
        json={"costs": [{"id": "sc-a", "type": "sound", "amount": 6, "currency": "EUR"},
                        {"id": "sc-c", "type": "light", "amount": 3, "currency": "EUR"}]},
    )  # fmt: skip
    assert r.status_code == 200
    costs = {c["id"]: c["amount"] for c in r.json()["show"]["costs"]}
    assert costs == {"sc-a": 6, "sc-c": 3}
    assert admin.get("/api/show_costs/sc-b").status_code == 404  # a tombstone now
    assert admin.get("/api/show_costs/sc-b?include_deleted=true").status_code == 200


def test_an_operation_id_answers_only_its_own_user(
    admin: ASGIClient, as_: Callable[[str], dict[str, str]], store: Store
) -> None:
    op = {"id": "op-shared", "type": "create", "resourceType": "show",
          "payload": {"city": "Ávila", "country": "ES", "dateEvent": "2027-02-01T20:00:00Z",
                      "fee": 1, "feeCurrency": "EUR"}}  # fmt: skip
    mine = admin.post(T + "/sync/flush", json={"operations": [op, op]}).json()
    assert mine["results"][0]["success"] and mine["results"][1] == mine["results"][0]
    shows = _count(store, Show)
    theirs = admin.post(T + "/sync/flush", json={"operations": [op]}, headers=as_("office"))
    assert theirs.json()["results"][0]["status"] == 409
    assert "show" not in theirs.json()["results"][0]
    assert _count(store, Show) == shows


def test_compat_answers_are_api_answers(admin: ASGIClient) -> None:
    r = admin.get(F + "/machines")
    assert r.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    form = admin.post(F + "/clients", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415  # no cross-site "simple" form posts
