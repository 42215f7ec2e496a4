"""Attachment bytes between this site and the central server, beside the row sync.

Rows travel in the normal feed; their bytes travel here, by hash:

- **up**: after the rows are pushed, every live attachment whose bytes are here and not
  yet known to be at the central server is uploaded in chunks (``CHUNK``), resuming at
  the offset the server reports (an interrupted upload goes on where it stopped);
- **down, on demand**: hashes the content route was asked for and did not have
  (``core.attachments.wanted``);
- **down, ahead of time**: the bytes of the attachments of queued jobs (pending, in
  progress or paused) and of their machines, so the drawing is at the machine before
  the operator opens it.

Downloads accumulate in the blob store's partial file for that hash (resumed with a
Range request) and get their real name only once the whole file hashes right; a kill
-9 mid-transfer leaves no blob under a real name.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select

from core.attachments import wanted as wanted_list
from core.attachments.blobs import BlobStore, HashMismatch
from core.attachments.models import Attachment, BlobSent
from core.clock import utcnow
from core.factory.schemas import ACTIVE
from core.models import Job
from core.site import site_info
from sync_agent.client import CentralClient, CentralError

log = logging.getLogger(__name__)

CHUNK = 4 * 1024 * 1024
MARK_EVERY = 50  # uploads noted per write transaction


@dataclass
class BlobReport:
    uploaded: int = 0
    found: int = 0  # already at the central server
    fetched: int = 0
    missing: list[str] = field(default_factory=list)  # asked for, not held centrally yet

    def as_dict(self) -> dict[str, Any]:
        return {"uploaded": self.uploaded, "found": self.found, "fetched": self.fetched,
                "missing": len(self.missing)}  # fmt: skip


class BlobSync:
    def __init__(self, store: Any, client: CentralClient, blobs: BlobStore,
                 chunk: int = CHUNK) -> None:  # fmt: skip
        self.store, self.client, self.blobs, self.chunk = store, client, blobs, chunk

    def run(self, *, prefetch: bool = True) -> BlobReport:
        report = BlobReport()
        self.upload_pending(report)
        self.fetch_wanted(report)
        if prefetch:
            self.prefetch_queued(report)
        return report

    # -- up ----------------------------------------------------------------------------

    def pending_uploads(self) -> list[str]:
        with self.store.read() as s:
            sent = select(BlobSent.sha256)
            hashes = s.scalars(
                select(Attachment.sha256)
                .where(Attachment.deleted_at.is_(None), Attachment.sha256.not_in(sent))
                .distinct()
            ).all()
        return [h for h in hashes if self.blobs.has(h)]

    def upload_pending(self, report: BlobReport | None = None) -> BlobReport:
        report = report or BlobReport()
        done: list[str] = []
        try:
            for sha in self.pending_uploads():
                if self.upload(sha):
                    report.uploaded += 1
                else:
                    report.found += 1
                done.append(sha)
                if len(done) >= MARK_EVERY:
                    self._mark_sent(*done)
                    done = []
        finally:
            # Noted in batches (one durable write each): a blob sent but not noted is
            # only asked about again (HEAD says it is there).
            self._mark_sent(*done)
        return report

    def upload(self, sha: str) -> bool:
        """Send one blob, resuming where the server's copy stopped; False when the
        organisation held it already. The first chunk goes out without asking first
        (one round trip per photo instead of two): a server that has part of it answers
        409 with where to go on, one that has all of it answers complete."""
        total = self.blobs.size(sha) or 0
        fh = self.blobs.open(sha)
        if fh is None:
            return False
        offset = 0
        with fh:
            while True:
                fh.seek(offset)
                chunk = fh.read(self.chunk)
                got, complete, held = self.client.blob_put(sha, offset, total, chunk)
                if complete:
                    return not held
                if got == offset and not chunk:
                    raise CentralError(500, f"upload of {sha} makes no progress")
                offset = got

    def _mark_sent(self, *hashes: str) -> None:
        if not hashes:
            return
        with self.store.write() as s:
            for sha in hashes:
                if s.get(BlobSent, sha) is None:
                    s.add(BlobSent(sha256=sha, at=utcnow()))

    # -- down --------------------------------------------------------------------------

    def fetch(self, sha: str) -> bool:
        """Bring one blob here (resuming a partial download). False if the central
        server does not hold it (yet: the site that made it may not have uploaded)."""
        if self.blobs.has(sha):
            return True
        held, size = self.client.blob_state(sha)
        if not held:
            return False
        start = self.blobs.partial_size(sha)
        if start > size:  # a partial of something else: start over
            self.blobs.drop_partial(sha)
            start = 0
        if start < size:
            self.blobs.append_partial(sha, start, self.client.blob_get(sha, start),
                                      max_bytes=size)  # fmt: skip
        try:
            self.blobs.commit_partial(sha)
        except HashMismatch:
            # Discarded (commit_partial removed it); the next round fetches it again.
            log.warning("blob %s arrived corrupted; discarded, will fetch again", sha)
            return False
        self._mark_sent(sha)
        return True

    def fetch_wanted(self, report: BlobReport | None = None) -> BlobReport:
        report = report or BlobReport()
        done: set[str] = set()
        for sha in wanted_list.wanted(self.store):
            if self.fetch(sha):
                report.fetched += 1
                done.add(sha)
            else:
                report.missing.append(sha)
        wanted_list.forget(self.store, done)
        return report

    def queued_hashes(self) -> list[str]:
        """Hashes of the live attachments of queued jobs and of those jobs' machines.

        Read from the attachments, each checked against the jobs through an index (the
        job's key; a machine's queue): the cost follows the attachments, not the jobs.
        Reading every queued job first cost a plant with 100,000 of them 100 to 300 ms of
        CPU at every wake of the byte loop — and every job change wakes it."""
        site = site_info(self.store)
        if site is None:
            return []
        with self.store.read() as s:
            found = s.connection().execute(_queued_hashes(), {"org": site.org_id})
            return sorted({sha for (sha,) in found})

    def prefetch_queued(self, report: BlobReport | None = None) -> BlobReport:
        report = report or BlobReport()
        for sha in self.queued_hashes():
            if self.blobs.has(sha):
                continue
            if self.fetch(sha):
                report.fetched += 1
        return report


@functools.cache
def _queued_hashes() -> Any:
    a, j = Attachment.__table__.c, Job.__table__.c
    queued = (j.org_id == a.org_id, j.deleted_at.is_(None), j.status.in_(ACTIVE))
    of_job = exists().where(*queued, j.id == a.owner_id)
    of_machine = exists().where(*queued, j.machine_id == a.owner_id)
    return select(a.sha256).where(
        a.org_id == bindparam("org"),
        a.deleted_at.is_(None),
        or_(
            and_(a.owner_entity == "jobs", of_job),
            and_(a.owner_entity == "machines", of_machine),
        ),
    )
