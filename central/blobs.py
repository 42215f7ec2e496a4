"""The central server's attachment bytes: on its file system (``blob_dir``) by default,
or in an S3-compatible object store (``blob_s3_bucket``; AWS, MinIO, Ceph ...).

Uploads from sites arrive in chunks and accumulate in a partial file on the server's
disk per organisation and hash (``staging``), so an interrupted upload resumes where it
stopped; the finished file is hashed and only then stored under its hash (file: an
atomic rename; S3: one ``upload_file`` of the verified file), so a blob under a real
name is always whole and correct. A blob is stored once whatever the number of
organisations holding it (``org_blobs``); each organisation's quota counts what it holds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, func, select

from core.attachments.blobs import BlobStore, valid_sha
from core.clock import utcnow
from core.models import Attachment, Organisation, OrgBlob
from core.rules import refuse

log = logging.getLogger(__name__)

# The largest chunk a site sends in one PUT (the agent sends 4 MiB).
MAX_CHUNK = 16 * 1024 * 1024
READ_BLOCK = 1 << 20


class BlobBackend(Protocol):
    def has(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int | None: ...
    def store_file(self, path: Path, sha256: str) -> None: ...
    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...
    def delete(self, sha256: str) -> None: ...
    def hashes(self) -> Iterator[str]: ...


class FileBackend:
    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def has(self, sha256: str) -> bool:
        return self.store.has(sha256)

    def size(self, sha256: str) -> int | None:
        return self.store.size(sha256)

    def store_file(self, path: Path, sha256: str) -> None:
        self.store._install(path, sha256)

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        fh = self.store.open(sha256)
        if fh is None:
            return
        with fh:
            fh.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                block = fh.read(READ_BLOCK if left is None else min(READ_BLOCK, left))
                if not block:
                    return
                if left is not None:
                    left -= len(block)
                yield block

    def delete(self, sha256: str) -> None:
        self.store.delete(sha256)

    def hashes(self) -> Iterator[str]:
        return self.store.hashes()


class S3Backend:
    """Blobs as objects ``<prefix>ab/cdef...`` of one bucket (boto3; credentials from
    the usual AWS_* environment or instance profile)."""

    def __init__(self, bucket: str, *, prefix: str = "blobs/", endpoint_url: str = "",
                 region: str = "", client: Any = None) -> None:  # fmt: skip
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            import boto3

            client = boto3.client(
                "s3", endpoint_url=endpoint_url or None, region_name=region or None
            )
        self.client = client

    def key(self, sha256: str) -> str:
        if not valid_sha(sha256):
            raise ValueError("not a SHA-256")
        return f"{self.prefix}{sha256[:2]}/{sha256[2:]}"

    def size(self, sha256: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    def has(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def store_file(self, path: Path, sha256: str) -> None:
        if not self.has(sha256):
            # Multipart for large files, with the checksum S3 verifies on arrival.
            self.client.upload_file(str(path), self.bucket, self.key(sha256))
        path.unlink()

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        rng = f"bytes={start}-{'' if end is None else end}"
        obj = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256), Range=rng)
        body = obj["Body"]
        try:
            yield from body.iter_chunks(READ_BLOCK)
        finally:
            body.close()

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def hashes(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for obj in page.get("Contents", ()):
                sha = obj["Key"][len(self.prefix) :].replace("/", "")
                if valid_sha(sha):
                    yield sha


class CentralBlobs:
    """The backend, the staging area for uploads, and the per-organisation index."""

    def __init__(self, backend: BlobBackend, staging: BlobStore, quota_bytes: int = 0) -> None:
        self.backend = backend
        self.staging = staging
        self.quota_bytes = quota_bytes

    @classmethod
    def from_settings(cls, settings: Any) -> CentralBlobs:
        root = Path(settings.blob_dir)
        staging = BlobStore(root)
        backend: BlobBackend
        if settings.blob_s3_bucket:
            backend = S3Backend(settings.blob_s3_bucket, prefix=settings.blob_s3_prefix,
                                endpoint_url=settings.blob_s3_endpoint_url,
                                region=settings.blob_s3_region)  # fmt: skip
        else:
            backend = FileBackend(staging)
        return cls(backend, staging, settings.blob_quota_bytes)

    # -- what an organisation holds --------------------------------------------------

    def held(self, session: Any, org_id: str, sha256: str) -> int | None:
        row = session.get(OrgBlob, (org_id, sha256))
        return None if row is None else int(row.size)

    def used(self, session: Any, org_id: str) -> int:
        return int(session.scalar(
            select(func.coalesce(func.sum(OrgBlob.size), 0)).where(OrgBlob.org_id == org_id)
        ) or 0)  # fmt: skip

    def quota_for(self, session: Any, org_id: str) -> int:
        org = session.get(Organisation, org_id)
        limits = getattr(org, "attachment_limits", None) or {}
        return int(limits.get("quota_bytes", self.quota_bytes) or 0)

    def check_quota(self, session: Any, org_id: str, total: int) -> None:
        quota = self.quota_for(session, org_id)
        if quota and self.used(session, org_id) + total > quota:
            used = self.used(session, org_id)
            raise refuse("blob_quota_exceeded", 507, quota_bytes=quota, used_bytes=used)

    # -- uploads ---------------------------------------------------------------------

    def receive(self, store: Any, org_id: str, sha256: str, offset: int, total: int,
                data: Iterable[bytes]) -> tuple[int, bool, bool]:  # fmt: skip
        """One chunk of an upload at ``offset`` of ``total`` bytes. Returns (bytes
        received so far, complete, held already: the chunk was not needed). On the last
        chunk the whole file is hashed: a mismatch discards it (``HashMismatch``, 422)."""
        with store.read() as s:
            if self.held(s, org_id, sha256) is not None:
                return total, True, True
            self.check_quota(s, org_id, total)
        have = self.staging.partial_size(sha256, org_id)
        if offset != have:
            raise refuse("blob_offset_mismatch", 409, offset=offset, have=have)
        end = self.staging.append_partial(sha256, offset, data, tag=org_id, max_bytes=total)
        if end < total:
            return end, False, False
        part = self.staging.verify_partial(sha256, org_id)
        self.backend.store_file(part, sha256)  # dedup: stores nothing if already there
        with store.write() as s:
            if s.get(OrgBlob, (org_id, sha256)) is None:
                s.add(OrgBlob(org_id=org_id, sha256=sha256, size=total, stored_at=utcnow()))
        return total, True, False

    def received(self, org_id: str, sha256: str) -> int:
        return self.staging.partial_size(sha256, org_id)

    # -- garbage collection ----------------------------------------------------------

    def collect(self, store: Any, *, grace: timedelta = timedelta(hours=1)) -> tuple[int, int]:
        """Drop organisations' holdings that no live attachment row refers to (older
        than ``grace``: bytes are uploaded after their row is pushed, but a row may be
        pending in a push at this moment), then delete blobs nobody holds. Returns
        (holdings dropped, blobs deleted)."""
        cutoff = utcnow() - grace
        with store.write() as s:
            live = select(Attachment.org_id, Attachment.sha256).where(
                Attachment.deleted_at.is_(None)
            )
            live_pairs = {(o, h) for o, h in s.execute(live)}
            stale = [
                (b.org_id, b.sha256)
                for b in s.scalars(select(OrgBlob).where(OrgBlob.stored_at < cutoff))
                if (b.org_id, b.sha256) not in live_pairs
            ]
            for org_id, sha in stale:
                s.execute(delete(OrgBlob).where(OrgBlob.org_id == org_id, OrgBlob.sha256 == sha))
            held = set(s.scalars(select(OrgBlob.sha256)))
        removed = 0
        for sha in {h for _, h in stale} - held:
            with contextlib.suppress(FileNotFoundError):
                self.backend.delete(sha)
                removed += 1
        self.staging.clean_temp()
        return len(stale), removed

    # -- backups ---------------------------------------------------------------------

    def backup_to(self, dest: Path) -> tuple[int, int]:
        """Copy every blob into ``dest`` (the same layout as a site's blob store),
        skipping those already there: a backup independent of pg_dump, incremental, each
        copy verified by its hash. Returns (copied, already there)."""
        target = BlobStore(dest)
        copied = kept = 0
        for sha in self.backend.hashes():
            if target.has(sha):
                kept += 1
                continue
            target.put(self.backend.read(sha), expect_sha256=sha)
            copied += 1
        return copied, kept

    def restore_from(self, src: Path) -> int:
        """Put back the blobs of a backup made by ``backup_to`` (verified by hash)."""
        source = BlobStore(src)
        restored = 0
        for sha in source.hashes():
            if self.backend.has(sha):
                continue
            fh = source.open(sha)
            assert fh is not None
            with fh:
                w = self.staging.writer()
                while block := fh.read(READ_BLOCK):
                    w.write(block)
                w.finish(expect_sha256=sha)  # installs into staging's own layout
            if not isinstance(self.backend, FileBackend):
                self.backend.store_file(self.staging.path(sha), sha)
            restored += 1
        return restored
