"""The central blob store in an S3-compatible object store: moto's server on 127.0.0.1
(a real HTTP S3 endpoint, boto3 talking to it over loopback), no PostgreSQL needed for
the backend itself; the upload path's index is exercised in test_sync.py."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.blobs import CentralBlobs, S3Backend
from core.attachments.blobs import BlobStore, HashMismatch
from tests.attachments import images


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Backend]:
    from moto.server import ThreadedMotoServer

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        backend = S3Backend("structura-blobs", endpoint_url=f"http://{host}:{port}",
                            region="us-east-1")  # fmt: skip
        backend.client.create_bucket(Bucket="structura-blobs")
        yield backend
    finally:
        server.stop()


def test_blobs_in_s3_store_read_range_backup_and_delete(s3: S3Backend, tmp_path: Path) -> None:
    blobs = CentralBlobs(s3, BlobStore(tmp_path / "staging"))
    data = bytes(range(256)) * 5000  # 1.28 MB
    sha = hashlib.sha256(data).hexdigest()
    org = "org-1"
    half = len(data) // 2
    blobs.staging.append_partial(sha, 0, data[:half], tag=org)
    blobs.staging.append_partial(sha, half, data[half:], tag=org)
    s3.store_file(blobs.staging.verify_partial(sha, org), sha)
    assert s3.has(sha) and s3.size(sha) == len(data)
    assert not blobs.staging.partial(sha, org).exists()  # the staging copy is gone
    assert b"".join(s3.read(sha)) == data
    assert b"".join(s3.read(sha, 1000, 1999)) == data[1000:2000]
    assert list(s3.hashes()) == [sha]
    copied, kept = blobs.backup_to(tmp_path / "backup")
    assert (copied, kept) == (1, 0) and BlobStore(tmp_path / "backup").has(sha)
    assert blobs.backup_to(tmp_path / "backup") == (0, 1)  # incremental
    s3.delete(sha)
    assert not s3.has(sha)
    assert blobs.restore_from(tmp_path / "backup") == 1
    assert b"".join(s3.read(sha)) == data


def test_a_corrupt_upload_never_reaches_the_bucket(s3: S3Backend, tmp_path: Path) -> None:
    staging = BlobStore(tmp_path / "staging")
    sha = hashlib.sha256(b"the real bytes").hexdigest()
    staging.append_partial(sha, 0, b"other bytes", tag="org")
    with pytest.raises(HashMismatch):
        staging.verify_partial(sha, "org")
    assert not s3.has(sha) and staging.partial_size(sha, "org") == 0


@pytest.mark.pg
def test_two_sites_through_a_central_server_on_s3(
    s3: S3Backend, central: Any, org_id: str, tmp_path: Path
) -> None:
    """The whole path with the central server's blobs in the bucket: upload from site A
    in chunks, download to site B, the bytes equal and the object under its hash."""
    from tests.attachments.test_sync import attach, make_job, site
    from tests.sync.conftest import CentralApp

    hub = CentralApp(central, tmp_path / "staging", blob_s3_bucket=s3.bucket,
                     blob_s3_endpoint_url=s3.client.meta.endpoint_url,
                     blob_s3_region="us-east-1")  # fmt: skip
    try:
        assert isinstance(hub.ctx.blobs.backend, S3Backend)
        a_store, a = site(hub, tmp_path, org_id, "A")
        _, b = site(hub, tmp_path, org_id, "B")
        _, job = make_job(a_store)
        photo = images.jpeg(120, 90, seed=9)
        row = attach(a_store, job, photo)
        a.blob_sync.chunk = 1024  # several chunks, through the staging partial
        assert a.sync_once()["blobs"]["uploaded"] == 1
        assert s3.size(row["sha256"]) == len(photo)
        assert b.sync_once()["blobs"]["fetched"] == 1
        assert BlobStore(tmp_path / "B" / "blobs").path(row["sha256"]).read_bytes() == photo
        assert list((tmp_path / "staging").rglob("*.part")) == []
    finally:
        hub.close()
