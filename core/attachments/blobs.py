"""The content-addressed blob store: one file per SHA-256 under ``<root>/ab/cdef...``.

A blob is written to a temporary name in its final directory, fsynced, renamed to its
hash and the directory fsynced: a crash (power cut, kill -9) leaves either nothing or
the whole file under the real name, never half a file. Leftover temporary files are
removed by ``clean_temp`` when the store is opened again (``site serve``, the agent).
Putting the same bytes twice stores nothing new.

Downloads that may be resumed (the sync agent's, in chunks) write to ``partial(sha)``
and call ``commit_partial``, which checks the hash before the rename: a mismatch is
refused and the partial file discarded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from core.errors import RuleBroken
from core.private import fsync_dir
from core.rules import refuse

CHUNK = 1 << 20
HEAD = 8192  # the first bytes kept for content sniffing (core.attachments.sniff)
HEX64 = re.compile(r"^[0-9a-f]{64}$")
TEMP_SUFFIX = ".tmp"
PARTIAL_DIR = "partial"
# A temporary or partial file this old belongs to nobody any more.
STALE_SECONDS = 24 * 3600

Source = bytes | BinaryIO | Iterable[bytes]


class TooLarge(RuleBroken):
    """The bytes went past the limit while being stored (the temporary file is gone)."""

    def __init__(self, limit: int) -> None:
        super().__init__("attachment_too_large", {"max_bytes": limit}, status=413, field="file")


class HashMismatch(RuleBroken):
    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            "blob_hash_mismatch", {"expected": expected, "got": got}, status=422, field="sha256"
        )


def valid_sha(sha: str) -> bool:
    return bool(HEX64.match(sha))


def chunks(source: Source) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for i in range(0, len(view), CHUNK):
            yield bytes(view[i : i + CHUNK])
        return
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            block = read(CHUNK)
            if not block:
                return
            yield block
        return
    yield from source


class BlobStore:
    """Blobs on a local file system under ``root`` (made on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- naming ----------------------------------------------------------------------

    def path(self, sha256: str) -> Path:
        if not valid_sha(sha256):
            raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return valid_sha(sha256) and self.path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size if valid_sha(sha256) else None
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> BinaryIO | None:
        if not valid_sha(sha256):
            return None
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError:
            return None

    # -- writing ---------------------------------------------------------------------

    def put(
        self,
        stream: Source,
        *,
        max_bytes: int | None = None,
        expect_sha256: str | None = None,
        verify: Callable[[Path, bytes], None] | None = None,
    ) -> tuple[str, int]:
        """Store the bytes of ``stream``; returns (sha256, size).

        ``max_bytes``: refuse (``TooLarge``) as soon as more arrive, before reading the
        rest. ``expect_sha256``: refuse (``HashMismatch``) bytes that hash otherwise.
        ``verify(temp_path, head)``: a last look (content sniffing) before the bytes get
        their real name; whatever it raises, the temporary file is removed."""
        writer = self.writer(max_bytes=max_bytes)
        try:
            for block in chunks(stream):
                writer.write(block)
        except BaseException:
            writer.abort()
            raise
        return writer.finish(expect_sha256=expect_sha256, verify=verify)

    def writer(self, *, max_bytes: int | None = None) -> BlobWriter:
        """An incremental ``put`` for callers that receive the bytes piece by piece (the
        upload route reads a multipart stream); end with ``finish`` or ``abort``."""
        self.root.mkdir(parents=True, exist_ok=True)
        return BlobWriter(self, max_bytes)

    def _install(self, tmp: Path, sha: str) -> None:
        final = self.path(sha)
        if final.is_file():
            tmp.unlink()  # the same bytes are there already: dedup
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        # Same file system (both under root): the rename is atomic.
        os.replace(tmp, final)
        fsync_dir(final.parent)
        if final.parent != self.root:
            fsync_dir(self.root)

    # -- resumable downloads (sync) --------------------------------------------------

    def partial(self, sha256: str, tag: str = "") -> Path:
        """Where a resumable transfer of ``sha256`` accumulates (never a real name).
        ``tag`` keeps transfers apart (the central server: one per organisation)."""
        if not valid_sha(sha256) or not re.match(r"^[A-Za-z0-9._:-]{0,64}$", tag):
            raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
        folder = self.root / PARTIAL_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (f"{tag}.{sha256}.part" if tag else f"{sha256}.part")

    def partial_size(self, sha256: str, tag: str = "") -> int:
        try:
            return self.partial(sha256, tag).stat().st_size
        except FileNotFoundError:
            return 0

    def append_partial(self, sha256: str, offset: int, data: Source, tag: str = "",
                       max_bytes: int | None = None) -> int:  # fmt: skip
        """Write ``data`` at ``offset`` of the partial file (an offset beyond what is
        there is refused: chunks come in order; ``max_bytes`` bounds the whole file).
        Returns the partial's new size."""
        part = self.partial(sha256, tag)
        have = part.stat().st_size if part.exists() else 0
        if offset > have:
            raise refuse("blob_offset_gap", 409, offset=offset, have=have)
        end = offset
        with part.open("r+b" if part.exists() else "wb") as fh:
            fh.seek(offset)
            fh.truncate()
            for block in chunks(data):
                end += len(block)
                if max_bytes is not None and end > max_bytes:
                    fh.truncate(offset)
                    raise TooLarge(max_bytes)
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        return end

    def drop_partial(self, sha256: str, tag: str = "") -> None:
        with contextlib.suppress(FileNotFoundError):
            self.partial(sha256, tag).unlink()

    def verify_partial(self, sha256: str, tag: str = "") -> Path:
        """The finished partial file, hashed: a mismatch removes it and raises
        ``HashMismatch``."""
        part = self.partial(sha256, tag)
        digest = hashlib.sha256()
        with part.open("rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
        got = digest.hexdigest()
        if got != sha256:
            part.unlink()
            raise HashMismatch(sha256, got)
        return part

    def commit_partial(self, sha256: str, tag: str = "") -> int:
        """Hash the finished partial file and give it its real name; a mismatch removes
        it and raises ``HashMismatch``. Returns the blob's size."""
        part = self.verify_partial(sha256, tag)
        size = part.stat().st_size
        self._install(part, sha256)
        return size

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    # -- housekeeping ----------------------------------------------------------------

    def clean_temp(self, *, stale_after: float = STALE_SECONDS) -> int:
        """Remove temporary files left by a crash (all of them: a new process owns none
        yet) and resumable partials older than ``stale_after`` seconds."""
        removed = 0
        if not self.root.is_dir():
            return 0
        now = time.time()
        for path in self.root.rglob(f"*{TEMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        part_dir = self.root / PARTIAL_DIR
        if part_dir.is_dir():
            for path in part_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if now - path.stat().st_mtime > stale_after:
                        path.unlink()
                        removed += 1
        return removed

    def hashes(self) -> Iterator[str]:
        """Every stored blob's hash."""
        if not self.root.is_dir():
            return
        for sub in self.root.iterdir():
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for f in sub.iterdir():
                sha = sub.name + f.name
                if valid_sha(sha):
                    yield sha

    def collect(self, live_hashes: Iterable[str], *, grace_seconds: float = 3600) -> int:
        """Remove blobs no live row refers to; returns how many. Blobs younger than
        ``grace_seconds`` stay: their row may be committing right now."""
        live = set(live_hashes)
        now = time.time()
        removed = 0
        for sha in list(self.hashes()):
            if sha in live:
                continue
            path = self.path(sha)
            try:
                if now - path.stat().st_mtime < grace_seconds:
                    continue
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed


class BlobWriter:
    def __init__(self, store: BlobStore, max_bytes: int | None) -> None:
        fd, name = _mkstemp(store.root)
        self.store = store
        self.max_bytes = max_bytes
        self.tmp = Path(name)
        self.fh: BinaryIO | None = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""

    def write(self, block: bytes) -> None:
        assert self.fh is not None, "writer already finished"
        self.size += len(block)
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.abort()
            raise TooLarge(self.max_bytes)
        if len(self.head) < HEAD:
            self.head += block[: HEAD - len(self.head)]
        self.digest.update(block)
        self.fh.write(block)

    def abort(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def finish(
        self,
        *,
        expect_sha256: str | None = None,
        verify: Callable[[Path, bytes], None] | None = None,
    ) -> tuple[str, int]:
        assert self.fh is not None, "writer already finished"
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            self.fh = None
            sha = self.digest.hexdigest()
            if expect_sha256 is not None and sha != expect_sha256:
                raise HashMismatch(expect_sha256, sha)
            if verify is not None:
                verify(self.tmp, self.head)
            self.store._install(self.tmp, sha)
        except BaseException:
            self.abort()
            raise
        return sha, self.size


def _mkstemp(folder: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(dir=folder, prefix=".put-", suffix=TEMP_SUFFIX)


def site_blob_store(data_dir: Path) -> BlobStore:
    """The site's blob store, beside its database: ``<data_dir>/blobs``."""
    return BlobStore(Path(data_dir) / "blobs")


def blob_store_beside(store: Any) -> BlobStore | None:
    """The blob store beside a SQLite site store (``<its folder>/blobs``), for callers
    that have the store and not the settings (the sync agent); None for other stores."""
    from sqlalchemy.engine import make_url

    url = make_url(str(store.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return BlobStore(Path(url.database).parent / "blobs")
