"""The generic entity routes: CRUD, versions, filters, pagination, batch, CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from core.registry import registry
from tests.api.conftest import People

PROBLEM = "application/problem+json"


def _clients(admin: Any, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        r = admin.post("/api/clients", json={"name": f"Client {i:02d}", "tax_id": f"T{i % 3}"})
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def test_create_get_update_delete(admin: Any) -> None:
    r = admin.post("/api/clients", json={"name": "Acme", "email": "Sales@Acme.com"})
    assert r.status_code == 201
    row = r.json()
    assert r.headers["location"] == f"/api/clients/{row['id']}"
    assert r.headers["etag"] == '"1"'
    assert row["email"] == "sales@acme.com" and row["version"] == 1
    got = admin.get(f"/api/clients/{row['id']}")
    assert got.status_code == 200 and got.json() == row
    # Version by If-Match header...
    r = admin.patch(f"/api/clients/{row['id']}", json={"phone": "123"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["phone"] == "123"
    # ...or in the body.
    r = admin.patch(f"/api/clients/{row['id']}", json={"phone": "456", "version": 2})
    assert r.status_code == 200 and r.json()["version"] == 3
    r = admin.delete(f"/api/clients/{row['id']}", headers={"If-Match": "3"})
    assert r.status_code == 200 and r.json()["deleted_at"] is not None
    assert admin.get(f"/api/clients/{row['id']}").status_code == 404
    assert admin.get(f"/api/clients/{row['id']}?include_deleted=true").status_code == 200
    listed = admin.get("/api/clients").json()
    assert listed["total"] == 0
    assert admin.get("/api/clients?include_deleted=true").json()["total"] == 1


def test_client_chosen_id_and_duplicate(admin: Any) -> None:
    r = admin.post("/api/clients", json={"id": "legacy-7", "name": "Old"})
    assert r.status_code == 201 and r.json()["id"] == "legacy-7"
    dup = admin.post("/api/clients", json={"id": "legacy-7", "name": "Again"})
    assert dup.status_code == 409 and dup.headers["content-type"] == PROBLEM
    assert dup.json()["current"]["name"] == "Old"


def test_stale_version_is_409_with_current_row(admin: Any) -> None:
    row = admin.post("/api/clients", json={"name": "Acme"}).json()
    admin.patch(f"/api/clients/{row['id']}", json={"name": "Acme 2"}, headers={"If-Match": "1"})
    r = admin.patch(f"/api/clients/{row['id']}", json={"name": "Mine"}, headers={"If-Match": "1"})
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "conflict" and body["status"] == 409
    assert body["current"]["name"] == "Acme 2" and body["current"]["version"] == 2
    stale_delete = admin.delete(f"/api/clients/{row['id']}?version=1")
    assert stale_delete.status_code == 409


def test_missing_version_is_428(admin: Any) -> None:
    row = admin.post("/api/clients", json={"name": "Acme"}).json()
    r = admin.patch(f"/api/clients/{row['id']}", json={"name": "X"})
    assert r.status_code == 428 and r.json()["code"] == "precondition_required"
    assert admin.delete(f"/api/clients/{row['id']}").status_code == 428
    bad = admin.patch(f"/api/clients/{row['id']}", json={"name": "X"}, headers={"If-Match": "abc"})
    assert bad.status_code == 422


def test_validation_errors_list_fields(admin: Any) -> None:
    r = admin.post("/api/jobs", json={"title": "", "quantity": "-1", "bogus": 1})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"title", "quantity", "machine_id", "bogus"} <= fields
    # References are checked by the write path.
    r = admin.post("/api/jobs", json={"title": "x", "quantity": "1", "machine_id": "nope"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "machine_id"


def test_not_found_and_unknown_entity(admin: Any) -> None:
    assert admin.get("/api/clients/nope").status_code == 404
    r = admin.get("/api/nothing")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert admin.patch("/api/clients/nope", json={}, headers={"If-Match": "1"}).status_code == 404


def test_filters_search_sort(admin: Any) -> None:
    _clients(admin, 7)
    r = admin.get("/api/clients?tax_id=T1&sort=-name")
    names = [c["name"] for c in r.json()["items"]]
    assert names == ["Client 04", "Client 01"] and r.json()["total"] == 2
    r = admin.get("/api/clients?tax_id__in=T0,T2&name__gte=Client 03&sort=name")
    assert [c["name"] for c in r.json()["items"]] == ["Client 03", "Client 05", "Client 06"]
    assert admin.get("/api/clients?q=client 0&limit=1").json()["total"] == 7
    assert admin.get("/api/clients?q=05").json()["total"] == 1
    assert admin.get("/api/clients?email__isnull=true").json()["total"] == 7
    assert admin.get("/api/clients?version__gt=1").json()["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "nope=1",
        "name__like=x",
        "version=abc",
        "created_at__gte=yesterday",
        "sort=secret",
        "limit=0",
        "limit=501",
        "offset=-1",
        "cursor=garbage",
        "email__isnull=maybe",
    ],
)
def test_bad_list_queries_are_422(admin: Any, query: str) -> None:
    r = admin.get(f"/api/clients?{query}")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM


def test_offset_and_cursor_pagination(admin: Any) -> None:
    _clients(admin, 12)
    first = admin.get("/api/clients?sort=name&limit=5").json()
    assert first["total"] == 12 and len(first["items"]) == 5 and first["next_cursor"]
    by_offset = admin.get("/api/clients?sort=name&limit=5&offset=5").json()
    seen, cursor = [], None
    while True:
        url = "/api/clients?sort=name&limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = admin.get(url).json()
        seen += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(f"Client {i:02d}" for i in range(12))
    assert [c["name"] for c in by_offset["items"]] == seen[5:10]
    # A cursor keeps its place when rows are added before it (offsets would shift).
    second = admin.get(f"/api/clients?sort=name&limit=5&cursor={first['next_cursor']}").json()
    admin.post("/api/clients", json={"name": "A first"})
    again = admin.get(f"/api/clients?sort=name&limit=5&cursor={first['next_cursor']}").json()
    assert again["items"] == second["items"]
    # A cursor only fits the sort it was made for.
    assert admin.get(f"/api/clients?sort=-name&cursor={first['next_cursor']}").status_code == 422


def test_cursor_over_nullable_sort_key(admin: Any) -> None:
    for i, tax in enumerate([None, "B", None, "A", "C", None]):
        admin.post("/api/clients", json={"name": f"c{i}", "tax_id": tax})
    for order in ("tax_id", "-tax_id"):
        full = [c["id"] for c in admin.get(f"/api/clients?sort={order}&limit=100").json()["items"]]
        seen, cursor = [], None
        while True:
            page = admin.get(
                f"/api/clients?sort={order}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            ).json()
            seen += [c["id"] for c in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == full and len(full) == 6


def test_batch_mixed_results(admin: Any) -> None:
    existing = admin.post("/api/clients", json={"name": "Keep"}).json()
    gone = admin.post("/api/clients", json={"name": "Gone"}).json()
    ops = [
        {"op": "create", "data": {"name": "New"}},
        {"op": "create", "data": {"name": ""}},  # invalid
        {"op": "update", "id": existing["id"], "version": 1, "data": {"phone": "1"}},
        {"op": "update", "id": existing["id"], "version": 1, "data": {"phone": "2"}},  # stale
        {"op": "delete", "id": gone["id"], "version": 1},
        {"op": "delete", "id": "missing", "version": 1},
        {"op": "update", "id": existing["id"], "data": {"phone": "3"}},  # no version
    ]
    r = admin.post("/api/clients/batch", json={"operations": ops})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 422, 200, 409, 200, 404, 428]
    assert results[3]["problem"]["current"]["phone"] == "1"
    assert results[1]["row"] is None and results[1]["problem"]["errors"]
    names = {c["name"] for c in admin.get("/api/clients").json()["items"]}
    assert names == {"Keep", "New"}


def test_batch_limits(admin: Any) -> None:
    too_many = [{"op": "create", "data": {"name": f"c{i}"}} for i in range(501)]
    assert admin.post("/api/clients/batch", json={"operations": too_many}).status_code == 422
    assert admin.post("/api/clients/batch", json={"operations": []}).status_code == 422


def test_csv_export(admin: Any) -> None:
    _clients(admin, 3)
    admin.post("/api/clients", json={"name": '=HYPERLINK("http://x")'})
    for url in ("/api/clients.csv?sort=name", "/api/clients?format=csv&sort=name"):
        r = admin.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        # "=" sorts first; it comes out quoted, so no spreadsheet runs it as a formula.
        assert [x["name"] for x in rows] == [
            '\'=HYPERLINK("http://x")',
            "Client 00",
            "Client 01",
            "Client 02",
        ]
    filtered = list(csv.DictReader(io.StringIO(admin.get("/api/clients.csv?tax_id=T1").text)))
    assert [x["name"] for x in filtered] == ["Client 01"]
    assert admin.get("/api/clients.csv?nope=1").status_code == 422


def test_csv_streams_many_rows(admin: Any) -> None:
    ops = [{"op": "create", "data": {"name": f"c{i:04d}"}} for i in range(450)]
    admin.post("/api/clients/batch", json={"operations": ops})
    admin.post("/api/clients/batch", json={"operations": ops[:200]})
    r = admin.get("/api/clients.csv")
    assert len(r.text.strip().splitlines()) == 651


def test_users_never_show_secrets(admin: Any, people: People) -> None:
    body = admin.get("/api/users").json()
    assert body["total"] == len(people.ids)
    for u in body["items"]:
        assert not {"pin", "password", "pin_hash", "password_hash"} & u.keys()
    r = admin.post("/api/users", json={"name": "New", "role": "crew", "pin": "583920"})
    assert r.status_code == 201 and "pin" not in r.json()
    assert admin.get("/api/users.csv").text.count("hash") == 0


def test_messages_are_private_for_floor_roles(
    client: Any, admin: Any, people: People, as_: Any
) -> None:
    op, op2 = people["operator"], people["operator2"]
    to_op = admin.post("/api/messages", json={"to_user_id": op, "body": "hi op"}).json()
    admin.post("/api/messages", json={"to_user_id": op2, "body": "hi op2"})
    mine = client.get("/api/messages", headers=as_("operator")).json()
    assert [m["id"] for m in mine["items"]] == [to_op["id"]]
    other = admin.get(f"/api/messages?to_user_id={op2}").json()["items"][0]
    assert client.get(f"/api/messages/{other['id']}", headers=as_("operator")).status_code == 404
    assert admin.get("/api/messages").json()["total"] == 2
    # Sending: as oneself only.
    sent = client.post(
        "/api/messages", json={"to_user_id": op2, "body": "yo"}, headers=as_("operator")
    )
    assert sent.status_code == 201 and sent.json()["from_user_id"] == op
    forged = client.post(
        "/api/messages",
        json={"to_user_id": op2, "body": "yo", "from_user_id": op2},
        headers=as_("operator"),
    )
    assert forged.status_code == 403
    # Marking read: the recipient.
    r = client.post(f"/api/messages/{to_op['id']}/read", headers=as_("operator"))
    assert r.status_code == 200 and r.json()["read_at"]


def test_module_not_enabled(make_context: Any, store: Any, as_: Any, people: People) -> None:
    from dataclasses import replace

    from local_api.app import create_app
    from tests.api.client import asgi_client

    ctx = make_context()
    ctx.site = replace(ctx.site, modules=("factory",))
    with asgi_client(create_app(ctx), base_url="http://testserver") as c:
        login = c.post("/api/auth/pin", json={"user_id": people["admin"], "pin": "1000"}).json()
        h = {"Authorization": f"Bearer {login['access_token']}"}
        assert c.get("/api/machines", headers=h).status_code == 200
        r = c.get("/api/shows", headers=h)
        assert r.status_code == 403 and "tour" in r.json()["detail"]
        assert c.get("/api/reports/finance", headers=h).status_code == 403
        paths = c.get("/openapi.json").json()["paths"]
        assert "/api/machines" in paths and "/api/shows" not in paths


def test_every_entity_lists(admin: Any) -> None:
    for name in registry():
        r = admin.get(f"/api/{name}")
        assert r.status_code == 200, (name, r.text)
        assert admin.get(f"/api/{name}.csv").status_code == 200
