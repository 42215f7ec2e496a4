"""Attachment bytes between sites through the central server (in-process app, real
PostgreSQL, real SQLite files and blob stores): the two-site round trip, dedup, resume,
hash mismatch, prefetch for queued jobs, collection after a synced delete."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core import writes
from core.attachments import service, wanted
from core.attachments.blobs import BlobStore, blob_store_beside
from core.models import Attachment, OrgBlob
from core.site import site_info
from core.sync.wire import SCHEMA_HEADER, SCHEMA_VERSION
from core.writes import Actor
from tests.attachments import images

pytestmark = pytest.mark.pg


def admin(store: Any) -> Actor:
    return Actor(org_id=site_info(store).org_id, user_id=None, role="admin")


def make_job(store: Any, status: str = "PENDING") -> tuple[str, str]:
    with store.write() as s:
        m = writes.create(s, actor=admin(store), entity="machines",
                          data={"name": "Roll former", "type": "CONFORMADORA"})  # fmt: skip
        j = writes.create(s, actor=admin(store), entity="jobs",
                          data={"title": "Panel", "machine_id": m.id, "quantity": "10",
                                "status": status})  # fmt: skip
        return m.id, j.id


def attach(store: Any, job_id: str, data: bytes, name: str = "photo.jpg") -> dict[str, Any]:
    blobs = blob_store_beside(store)
    assert blobs is not None
    with store.write() as s:
        return service.add_attachment(s, admin(store), owner_entity="jobs", owner_id=job_id,
                                      filename=name, data=data, store=blobs)  # fmt: skip


def site(hub: Any, tmp_path: Path, org_id: str, name: str) -> tuple[Any, Any]:
    folder = tmp_path / name
    folder.mkdir()
    return hub.new_site(tmp_path, org_id, name, path=folder / "site.sqlite3")


def test_an_attachment_made_on_one_site_reaches_another(hub, org_id, tmp_path):
    a_store, a = site(hub, tmp_path, org_id, "A")
    b_store, b = site(hub, tmp_path, org_id, "B")
    _, job = make_job(a_store, status="CANCELED")  # not queued: no prefetch on B
    photo = images.jpeg(64, 48, seed=7)
    row = attach(a_store, job, photo)
    out = a.sync_once()
    assert out["pushed"] >= 3 and out["blobs"]["uploaded"] == 1
    b.sync_once()
    b_blobs = blob_store_beside(b_store)
    with b_store.read() as s:
        there = s.get(Attachment, (site_info(b_store).org_id, row["id"]))
        assert there is not None and there.sha256 == row["sha256"]
    assert not b_blobs.has(row["sha256"])  # on demand: asked for by the content route
    wanted.ask_for(b_store, row["sha256"])
    assert b.sync_once()["blobs"]["fetched"] == 1
    assert b_blobs.path(row["sha256"]).read_bytes() == photo
    assert hashlib.sha256(photo).hexdigest() == row["sha256"]
    assert wanted.wanted(b_store) == []


def test_queued_jobs_get_their_files_ahead_of_time(hub, org_id, tmp_path):
    a_store, a = site(hub, tmp_path, org_id, "A")
    b_store, b = site(hub, tmp_path, org_id, "B")
    _, job = make_job(a_store, status="PENDING")
    row = attach(a_store, job, images.PDF, name="drawing.pdf")
    a.sync_once()
    assert b.sync_once()["blobs"]["fetched"] == 1
    assert blob_store_beside(b_store).has(row["sha256"])


def test_two_jobs_sharing_a_file_store_it_once(hub, org_id, tmp_path):
    a_store, a = site(hub, tmp_path, org_id, "A")
    _, j1 = make_job(a_store)
    _, j2 = make_job(a_store)
    photo = images.jpeg(32, 32, seed=3)
    r1, r2 = attach(a_store, j1, photo), attach(a_store, j2, photo, name="same.jpg")
    assert r1["sha256"] == r2["sha256"] and r1["id"] != r2["id"]
    blobs = blob_store_beside(a_store)
    assert list(blobs.hashes()) == [r1["sha256"]]
    assert a.sync_once()["blobs"]["uploaded"] == 1
    with hub.store.read() as s:
        assert s.scalar(select(func.count()).select_from(OrgBlob)) == 1
    assert list(hub.ctx.blobs.backend.hashes()) == [r1["sha256"]]


def _put(hub, a, sha: str, offset: int, total: int, chunk: bytes):
    token = a.client._access_token()
    return hub.http.put(f"/api/sync/blobs/{sha}", params={"offset": offset, "total": total},
                        content=chunk, headers={SCHEMA_HEADER: str(SCHEMA_VERSION),
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/octet-stream"})  # fmt: skip


def test_a_chunk_with_the_wrong_bytes_is_refused_and_discarded(hub, org_id, tmp_path):
    _, a = site(hub, tmp_path, org_id, "A")
    good = b"x" * 3000
    sha = hashlib.sha256(good).hexdigest()
    first = _put(hub, a, sha, 0, 3000, good[:1000]).json()
    assert first == {"received": 1000, "complete": False, "held": False}
    r = _put(hub, a, sha, 1000, 3000, b"y" * 2000)  # the last chunk is not what was hashed
    assert r.status_code == 422 and r.json()["code"] == "blob_hash_mismatch"
    assert r.headers["content-type"] == "application/problem+json"
    assert not hub.ctx.blobs.backend.has(sha)
    assert hub.ctx.blobs.received(org_id, sha) == 0  # the partial upload is gone
    gap = _put(hub, a, sha, 500, 3000, good[500:])
    assert gap.status_code == 409 and gap.json()["code"] == "blob_offset_mismatch"


def test_an_interrupted_upload_resumes_where_it_stopped(hub, org_id, tmp_path):
    a_store, a = site(hub, tmp_path, org_id, "A")
    _, job = make_job(a_store, status="CANCELED")
    data = images.jpeg(400, 300, seed=11)  # a real JPEG of some kilobytes
    row = attach(a_store, job, data)
    sha, total = row["sha256"], row["size"]
    half = total // 2
    assert _put(hub, a, sha, 0, total, data[:half]).json()["complete"] is False
    assert a.client.blob_state(sha) == (False, half)
    a.blob_sync.chunk = 1024
    assert a.blob_sync.upload(sha) is True
    assert a.client.blob_state(sha) == (True, total)


def test_deleted_bytes_are_collected_after_the_tombstone_syncs(hub, org_id, tmp_path):
    a_store, a = site(hub, tmp_path, org_id, "A")
    _, job = make_job(a_store, status="CANCELED")
    row = attach(a_store, job, images.png(5, 5))
    a.sync_once()
    blobs = blob_store_beside(a_store)
    with a_store.write() as s:
        writes.delete(s, actor=admin(a_store), entity="attachments", id=row["id"])
    # Not pushed yet: the delete could still be refused, the bytes stay.
    assert service.collect_garbage(a_store, blobs, grace_seconds=0) == 0
    a.sync_once()
    assert service.collect_garbage(a_store, blobs, grace_seconds=0) == 1
    assert not blobs.has(row["sha256"])
    from datetime import timedelta

    assert hub.ctx.blobs.collect(hub.store, grace=timedelta(0)) == (1, 1)
    assert not hub.ctx.blobs.backend.has(row["sha256"])


def test_a_second_site_collects_once_the_tombstone_arrives(hub, org_id, tmp_path):
    a_store, a = site(hub, tmp_path, org_id, "A")
    b_store, b = site(hub, tmp_path, org_id, "B")
    _, job = make_job(a_store)  # queued: B fetches the bytes ahead of time
    row = attach(a_store, job, images.png(8, 8))
    a.sync_once()
    b.sync_once()
    b_blobs = blob_store_beside(b_store)
    assert b_blobs.has(row["sha256"])
    assert service.collect_garbage(b_store, b_blobs, grace_seconds=0) == 0  # still live
    with a_store.write() as s:
        writes.delete(s, actor=admin(a_store), entity="attachments", id=row["id"])
    a.sync_once()
    b.sync_once()
    assert service.collect_garbage(b_store, b_blobs, grace_seconds=0) == 1
    assert not b_blobs.has(row["sha256"])


def test_an_organisation_over_its_quota_is_refused(hub, org_id, tmp_path):
    _, a = site(hub, tmp_path, org_id, "A")
    hub.ctx.blobs.quota_bytes = 4000
    first = b"q" * 3000
    sha1 = hashlib.sha256(first).hexdigest()
    assert _put(hub, a, sha1, 0, 3000, first).json()["complete"] is True
    second = b"r" * 2000
    r = _put(hub, a, hashlib.sha256(second).hexdigest(), 0, 2000, second)
    assert r.status_code == 507 and r.json()["code"] == "blob_quota_exceeded"
    assert r.json()["params"] == {"quota_bytes": 4000, "used_bytes": 3000}


def test_blob_store_dedup_and_kill_leftovers(tmp_path):
    store = BlobStore(tmp_path / "blobs")
    sha, size = store.put(b"hello")
    assert store.put(b"hello") == (sha, size)
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [sha[2:]]
    (store.root / ".put-left.tmp").write_bytes(b"half")
    assert store.clean_temp() == 1 and store.has(sha)


def test_a_download_that_hashes_wrong_is_discarded_and_fetched_again(hub, org_id, tmp_path):
    a_store, a = site(hub, tmp_path, org_id, "A")
    b_store, b = site(hub, tmp_path, org_id, "B")
    _, job = make_job(a_store, status="CANCELED")
    row = attach(a_store, job, images.jpeg(50, 50, seed=2))
    a.sync_once()
    b.sync_once()
    b_blobs = blob_store_beside(b_store)
    sha = row["sha256"]
    # A partial of the right length with the wrong bytes (a disk that lost the tail).
    b_blobs.append_partial(sha, 0, b"\0" * row["size"])
    assert b.blob_sync.fetch(sha) is False
    assert not b_blobs.has(sha) and b_blobs.partial_size(sha) == 0
    assert b.blob_sync.fetch(sha) is True
    assert hashlib.sha256(b_blobs.path(sha).read_bytes()).hexdigest() == sha


def test_a_machines_files_come_ahead_of_time_while_it_has_queued_jobs(hub, org_id, tmp_path):
    """The byte loop's look for files to prefetch is driven by the attachments and uses
    the jobs' indexes (the job's key, the machine's queue): every job change wakes it,
    and reading every queued job cost a plant's 100,000 of them 100 to 300 ms each time."""
    from sync_agent.blobs import _queued_hashes

    a_store, a = site(hub, tmp_path, org_id, "A")
    b_store, b = site(hub, tmp_path, org_id, "B")
    busy, _ = make_job(a_store, status="PENDING")
    idle, _ = make_job(a_store, status="CANCELED")
    blobs = blob_store_beside(a_store)
    rows = {}
    for machine, seed in ((busy, 1), (idle, 2)):
        with a_store.write() as s:
            rows[machine] = service.add_attachment(
                s, admin(a_store), owner_entity="machines", owner_id=machine,
                filename="manual.jpg", data=images.jpeg(16, 16, seed=seed), store=blobs,
            )  # fmt: skip
    a.sync_once()
    b.sync_once()
    b_blobs = blob_store_beside(b_store)
    assert b_blobs.has(rows[busy]["sha256"])  # a queued job on it: fetched ahead
    assert not b_blobs.has(rows[idle]["sha256"])  # nothing queued: on demand only
    with b_store.read() as s:
        conn = s.connection()
        sql = str(_queued_hashes().params(org="o").compile(
            conn, compile_kwargs={"literal_binds": True}))  # fmt: skip
        plan = " | ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "SCAN" not in plan, plan
