"""Adding an attachment: the bytes into the blob store, then the row through the one
write path. Free of FastAPI and Qt: the site API, the desktop and tests call it.

The bytes are stored *before* the write transaction (``store_bytes``), so a slow upload
never holds the store's write lock; ``add_stored`` then makes the row. ``add_attachment``
does both for callers that already hold the bytes (the desktop's drag and drop).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import queries, rules, writes
from core.attachments import sniff
from core.attachments.blobs import BlobStore, BlobWriter, Source, TooLarge, chunks
from core.attachments.models import Attachment
from core.attachments.rules import check_owner
from core.attachments.schemas import MEDIA_TYPES, clean_filename, filename_problem
from core.models import Organisation, OutboxEntry
from core.registry import spec_for
from core.rules import refuse
from core.sync.unit import unit_of

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
# What a browser or a client says when it does not know: not a declaration.
__all__ = ["TooLarge"]
UNDECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream"})


@dataclass(frozen=True)
class Limits:
    """An organisation's attachment limits (``organisations.attachment_limits``
    overrides the defaults, which come from the settings)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    media_types: tuple[str, ...] = MEDIA_TYPES
    max_pixels: int = sniff.DEFAULT_MAX_PIXELS


def limits_for(session: Session, org_id: str, default: Limits | None = None) -> Limits:
    base = default or Limits()
    org = session.get(Organisation, org_id)
    given = getattr(org, "attachment_limits", None) if org is not None else None
    if not isinstance(given, dict):
        return base
    # An organisation may narrow the defaults, never widen them past the allow-list.
    types = tuple(t for t in given.get("media_types", base.media_types) if t in MEDIA_TYPES)
    return Limits(
        max_bytes=min(int(given.get("max_bytes", base.max_bytes)), base.max_bytes),
        media_types=types,
        max_pixels=min(int(given.get("max_pixels", base.max_pixels)), base.max_pixels),
    )


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    media_type: str


def check_filename(filename: str) -> str:
    """The cleaned name, or ``RuleBroken`` with the precise code (422)."""
    name = clean_filename(filename or "")
    code = filename_problem(name)
    if code is not None:
        raise refuse(code, 422, "filename")  # filename_* codes (schemas.filename_problem)
    return name


def base_type(declared: str | None) -> str:
    return (declared or "").split(";", 1)[0].strip().lower()


def store_bytes(
    store: BlobStore, data: Source, *, limits: Limits, declared_type: str | None = None
) -> StoredBlob:
    """Stream ``data`` into ``store`` within ``limits``; the type is sniffed from the
    bytes and must be allowed and agree with ``declared_type`` (when one is given).
    Refused bytes leave nothing behind."""
    declared = base_type(declared_type)
    if declared not in UNDECLARED and declared not in limits.media_types:
        raise refuse("attachment_type_not_allowed", 415, "file", media_type=declared)
    writer = store.writer(max_bytes=limits.max_bytes)
    try:
        for block in chunks(data):
            writer.write(block)
    except BaseException:
        writer.abort()
        raise
    return finish_upload(writer, limits, declared_type)


def finish_upload(writer: BlobWriter, limits: Limits, declared_type: str | None) -> StoredBlob:
    """Give the bytes written so far their real name if they pass the checks: a type
    sniffed from the bytes, allowed and agreeing with ``declared_type``, and an image
    that is no decompression bomb. Anything refused leaves no file behind."""
    declared = base_type(declared_type)
    if declared not in UNDECLARED and declared not in limits.media_types:
        writer.abort()
        raise refuse("attachment_type_not_allowed", 415, "file", media_type=declared)
    if writer.size == 0:
        writer.abort()
        raise refuse("attachment_empty", 422, "file")
    found: dict[str, str] = {}

    def verify(path: Path, head: bytes) -> None:
        media = sniff.sniff_head(head, complete=len(head) < sniff.HEAD_BYTES)
        if media is None or media not in limits.media_types:
            kind = media or "unknown"
            raise refuse("attachment_type_not_allowed", 415, "file", media_type=kind)
        if declared not in UNDECLARED and declared != media:
            raise refuse("attachment_type_mismatch", 415, "file", declared=declared, found=media)
        sniff.check_image(path, media, max_pixels=limits.max_pixels)
        found["media_type"] = media

    sha, size = writer.finish(verify=verify)
    return StoredBlob(sha, size, found["media_type"])


def add_stored(
    session: Session,
    actor: writes.Actor,
    *,
    owner_entity: str,
    owner_id: str,
    filename: str,
    blob: StoredBlob,
    caption: str | None = None,
    origin: str = rules.LOCAL,
    id: str | None = None,
) -> dict[str, Any]:
    """The row for bytes ``store_bytes`` stored, through the one write path."""
    unit_of(session).blobs_stored.add(blob.sha256)
    row = writes.create(
        session,
        actor=actor,
        entity="attachments",
        id=id,
        origin=origin,
        data={
            "owner_entity": owner_entity,
            "owner_id": owner_id,
            "filename": check_filename(filename),
            "media_type": blob.media_type,
            "size": blob.size,
            "sha256": blob.sha256,
            "caption": caption or None,
            "created_by": actor.user_id,
        },
    )
    return queries.row_json(spec_for("attachments"), row)


def precheck(
    session: Session, actor: writes.Actor, *, owner_entity: str, owner_id: str, filename: str,
    origin: str = rules.LOCAL,
) -> None:  # fmt: skip
    """What can be refused before any byte is read: the name, the owner, the role."""
    check_filename(filename)
    writes.check_permission(spec_for("attachments"), actor, "create")
    check_owner(session, actor, owner_entity, owner_id, origin)


def add_attachment(
    session: Session,
    actor: writes.Actor,
    *,
    owner_entity: str,
    owner_id: str,
    filename: str,
    data: Source,
    caption: str | None = None,
    declared_type: str | None = None,
    store: BlobStore,
    origin: str = rules.LOCAL,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Store ``data`` and make its row; returns the row as the API shows it. Raises
    ``RuleBroken`` (codes in docs/api.md) or the write path's errors; nothing of a refused
    attachment remains (a blob stored for a row that is then refused is left for the
    collector, which removes unreferenced blobs after a grace period)."""
    precheck(session, actor, owner_entity=owner_entity, owner_id=owner_id, filename=filename,
             origin=origin)  # fmt: skip
    lim = limits or limits_for(session, actor.org_id)
    blob = store_bytes(store, data, limits=lim, declared_type=declared_type)
    return add_stored(session, actor, owner_entity=owner_entity, owner_id=owner_id,
                      filename=filename, blob=blob, caption=caption, origin=origin)  # fmt: skip


def needed_hashes(session: Session) -> set[str]:
    """Hashes whose bytes must stay on this store: those of live rows, and of deleted
    rows whose tombstone has not reached the central server yet (an unsent delete may
    still be refused there and the row come back)."""
    live = set(session.scalars(select(Attachment.sha256).where(Attachment.deleted_at.is_(None))))
    unsent = select(OutboxEntry.entity_id).where(
        OutboxEntry.entity == "attachments", OutboxEntry.status != "done"
    )
    live.update(session.scalars(select(Attachment.sha256).where(Attachment.id.in_(unsent))))
    return live


def collect_garbage(store: Any, blobs: BlobStore, *, grace_seconds: float = 3600) -> int:
    """Remove the bytes no live attachment needs any more (``store``: a core.db.Store)."""
    with store.read() as s:
        live = needed_hashes(s)
    return blobs.collect(live, grace_seconds=grace_seconds)
