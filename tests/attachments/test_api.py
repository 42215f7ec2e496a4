"""The attachment routes on the site API (in process): upload, read, the bytes, the
refusals. The real-server variants (uvicorn, a 2 GB stream, kill -9) are in
test_serve.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.client import ASGIClient
from tests.attachments import images


def upload(
    client: ASGIClient,
    owner: tuple[str, str],
    data: bytes,
    *,
    name: str = "photo.png",
    ctype: str = "image/png",
    caption: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    fields = {"owner_entity": owner[0], "owner_id": owner[1]}
    if caption is not None:
        fields["caption"] = caption
    return client.post(
        "/api/attachments", data=fields, files={"file": (name, data, ctype)}, headers=headers
    )


def raw_multipart(
    fields: dict[str, str], name: bytes, data: bytes, ctype: str
) -> tuple[bytes, str]:
    """A multipart body written by hand: httpx escapes control characters in a file
    name (as browsers do), and these tests need them as they could arrive."""
    b = "----structura-test-boundary"
    out = b"".join(
        f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    out += (f"--{b}\r\n".encode() + b'Content-Disposition: form-data; name="file"; filename="'
            + name + f'"\r\nContent-Type: {ctype}\r\n\r\n'.encode() + data
            + f"\r\n--{b}--\r\n".encode())  # fmt: skip
    return out, f"multipart/form-data; boundary={b}"


def test_upload_read_and_download(admin: ASGIClient, factory: dict[str, Any]) -> None:
    job = factory["job"]["id"]
    body = images.png()
    r = upload(admin, ("jobs", job), body, caption="Defect on the left edge")
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["media_type"] == "image/png" and row["size"] == len(body)
    assert len(row["sha256"]) == 64 and row["filename"] == "photo.png"
    assert admin.get(f"/api/attachments/{row['id']}").json() == row
    listed = admin.get("/api/attachments", params={"owner_entity": "jobs", "owner_id": job})
    assert [a["id"] for a in listed.json()["items"]] == [row["id"]]
    got = admin.get(f"/api/attachments/{row['id']}/content")
    assert got.status_code == 200 and got.content == body
    assert got.headers["content-type"] == "image/png"
    assert got.headers["etag"] == f'"{row["sha256"]}"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert got.headers["content-disposition"].startswith("inline;")
    dl = admin.get(f"/api/attachments/{row['id']}/content", params={"download": 1})
    assert dl.headers["content-disposition"].startswith("attachment;")
    again = admin.get(f"/api/attachments/{row['id']}/content",
                      headers={"If-None-Match": got.headers["etag"]})  # fmt: skip
    assert again.status_code == 304


def test_unicode_name_round_trips(admin: ASGIClient, factory: dict[str, Any]) -> None:
    r = upload(admin, ("jobs", factory["job"]["id"]), images.PDF, name="Plano ñ 1.pdf",
               ctype="application/pdf")  # fmt: skip
    assert r.status_code == 201, r.text
    got = admin.get(f"/api/attachments/{r.json()['id']}/content")
    assert "filename*=UTF-8''Plano%20%C3%B1%201.pdf" in got.headers["content-disposition"]
    assert "sandbox" not in got.headers["content-security-policy"]


def test_generic_create_is_not_offered(admin: ASGIClient, factory: dict[str, Any]) -> None:
    fake = {"owner_entity": "jobs", "owner_id": factory["job"]["id"], "filename": "x.png",
            "media_type": "image/png", "size": 1, "sha256": "0" * 64}  # fmt: skip
    r = admin.post("/api/attachments", json=fake)
    assert r.status_code == 415  # the upload route wants multipart
    batch = admin.post(
        "/api/attachments/batch", json={"operations": [{"op": "create", "data": fake}]}
    )
    assert batch.json()["results"][0]["problem"]["code"] == "attachment_needs_bytes"


def test_only_the_caption_changes(admin: ASGIClient, factory: dict[str, Any]) -> None:
    row = upload(admin, ("jobs", factory["job"]["id"]), images.png()).json()
    ok = admin.patch(f"/api/attachments/{row['id']}", json={"caption": "new"},
                     headers={"If-Match": f'"{row["version"]}"'})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["caption"] == "new"
    bad = admin.patch(f"/api/attachments/{row['id']}", json={"sha256": "1" * 64},
                      headers={"If-Match": f'"{ok.json()["version"]}"'})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["code"] == "attachment_field_fixed"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../../etc/passwd", "filename_separator"),
        ("a\\b.png", "filename_separator"),
        ("bad\x07name.png", "filename_control"),
        ("gpj\u202e.exe", "filename_control"),
        ("..", "filename_reserved"),
        ("x" * 300 + ".png", "filename_too_long"),
    ],
)
def test_bad_names_are_refused(
    admin: ASGIClient, factory: dict[str, Any], context: Any, name: str, code: str
) -> None:
    before = set(context.blobs.hashes())
    fields = {"owner_entity": "jobs", "owner_id": factory["job"]["id"]}
    body, ctype = raw_multipart(fields, name.encode(), images.png(9, 9), "image/png")
    r = admin.post("/api/attachments", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    assert set(context.blobs.hashes()) == before


def test_wrong_declared_type(admin: ASGIClient, factory: dict[str, Any], context: Any) -> None:
    r = upload(admin, ("jobs", factory["job"]["id"]), images.png(5, 7), name="a.pdf",
               ctype="application/pdf")  # fmt: skip
    assert r.status_code == 415 and r.json()["code"] == "attachment_type_mismatch"
    assert r.json()["params"] == {"declared": "application/pdf", "found": "image/png"}
    exe = upload(admin, ("jobs", factory["job"]["id"]), b"MZ\x90\x00" + b"\x00" * 100,
                 name="photo.jpg", ctype="application/octet-stream")  # fmt: skip
    assert exe.status_code == 415 and exe.json()["code"] == "attachment_type_not_allowed"
    assert not list(context.blobs.root.glob("*.tmp"))


def test_image_bomb_is_refused(admin: ASGIClient, factory: dict[str, Any], context: Any) -> None:
    bomb = images.png_bomb()
    assert len(bomb) < 20_000
    r = upload(admin, ("jobs", factory["job"]["id"]), bomb, name="bomb.png")
    assert r.status_code == 422 and r.json()["code"] == "attachment_too_many_pixels"
    assert not list(context.blobs.root.glob("*.tmp"))


def test_roles_decide_the_owners(
    client: ASGIClient, factory: dict[str, Any], admin: ASGIClient,
    as_: Callable[[str], dict[str, str]],
) -> None:  # fmt: skip
    job = factory["job"]["id"]
    ok = upload(client, ("jobs", job), images.png(2, 2), headers=as_("operator"))
    assert ok.status_code == 201, ok.text
    crew = upload(client, ("jobs", job), images.png(2, 3), headers=as_("crew"))
    assert crew.status_code == 403 and crew.json()["code"] == "attachment_owner_role"
    # The crew does not see the shop floor's files either.
    seen = client.get("/api/attachments", headers=as_("crew")).json()["items"]
    assert seen == []
    gone = upload(admin, ("jobs", "no-such-job"), images.png(3, 3))
    assert gone.status_code == 422 and gone.json()["code"] == "attachment_owner_missing"


def test_too_large_for_the_organisation(
    admin: ASGIClient, factory: dict[str, Any], context: Any
) -> None:
    from core.models import Organisation

    with context.store.write() as s:
        s.get(Organisation, context.site.org_id).attachment_limits = {"max_bytes": 1000}
    r = upload(admin, ("jobs", factory["job"]["id"]), b"a" * 5000, name="notes.txt",
               ctype="text/plain")  # fmt: skip
    assert r.status_code == 413 and r.json()["code"] == "attachment_too_large"
    assert r.json()["params"] == {"max_bytes": 1000}
    assert not list(context.blobs.root.glob("*.tmp"))


def test_delete_is_a_tombstone(admin: ASGIClient, factory: dict[str, Any]) -> None:
    row = upload(admin, ("jobs", factory["job"]["id"]), images.png(6, 6)).json()
    r = admin.delete(f"/api/attachments/{row['id']}", headers={"If-Match": f'"{row["version"]}"'})
    assert r.status_code == 200 and r.json()["deleted_at"]
    assert admin.get(f"/api/attachments/{row['id']}").status_code == 404


def test_missing_bytes_are_not_here_yet(
    admin: ASGIClient, factory: dict[str, Any], context: Any
) -> None:
    from core.attachments import wanted

    row = upload(admin, ("jobs", factory["job"]["id"]), images.png(7, 3)).json()
    context.blobs.path(row["sha256"]).unlink()
    r = admin.get(f"/api/attachments/{row['id']}/content")
    assert r.status_code == 404 and r.json()["code"] == "blob_not_here"
    assert row["sha256"] in wanted.wanted(context.store)


def test_range_and_scope_of_the_bytes(
    admin: ASGIClient, client: ASGIClient, factory: dict[str, Any],
    as_: Callable[[str], dict[str, str]],
) -> None:  # fmt: skip
    text = b"Cutting list: 12 panels of 2.4 m\n" * 40
    row = upload(admin, ("jobs", factory["job"]["id"]), text, name="list.txt",
                 ctype="text/plain; charset=utf-8").json()  # fmt: skip
    assert row["media_type"] == "text/plain"
    part = admin.get(f"/api/attachments/{row['id']}/content", headers={"Range": "bytes=8-11"})
    assert part.status_code == 206 and part.content == text[8:12]
    assert "content-encoding" not in part.headers or part.headers["content-encoding"] == "identity"
    hidden = client.get(f"/api/attachments/{row['id']}/content", headers=as_("crew"))
    assert hidden.status_code == 404
