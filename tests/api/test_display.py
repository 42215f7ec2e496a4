"""Board screens: made by the office, read the board only, end when revoked."""

from __future__ import annotations

from typing import Any


def test_screen_key_reads_the_board_only_until_revoked(
    client: Any, as_: Any, factory: dict[str, Any]
) -> None:
    assert client.post("/api/display/screens", json={"name": "TV"},
                       headers=as_("operator")).status_code == 403  # fmt: skip
    r = client.post("/api/display/screens", json={"name": "TV nave"}, headers=as_("admin"))
    assert r.status_code == 201, r.text
    out = r.json()
    key = out["key"]
    assert out["url"] == "/app/display#key=" + key and key.startswith("dsp_")
    screen = {"Authorization": "Display " + key}
    board = client.get("/api/display/board", headers=screen)
    assert board.status_code == 200 and {c["id"] for c in board.json()} >= {
        factory["job"]["machine_id"]
    }
    assert all("open_downtime" in c for c in board.json())
    # Nothing else takes the key, as a display key or as a bearer token.
    assert client.get("/api/board", headers={"Authorization": "Bearer " + key}).status_code == 401
    job = factory["job"]["id"]
    assert client.post(f"/api/jobs/{job}/start", headers=screen).status_code == 401
    # Listed without its secret; revoked, it stops at once.
    listed = client.get("/api/display/screens", headers=as_("admin")).json()
    assert [s["name"] for s in listed] == ["TV nave"] and "key" not in listed[0]
    r = client.post(f"/api/display/screens/{out['id']}/revoke", headers=as_("admin"))
    assert r.status_code == 204
    assert client.get("/api/display/board", headers=screen).status_code == 401
    assert (
        client.get("/api/display/board", headers={"Authorization": "Display x"}).status_code == 401
    )
