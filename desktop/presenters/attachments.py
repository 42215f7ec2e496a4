"""Files and photos of a record (a job, a show, a travel leg...): what the attachments
panel lists, adds, saves and deletes.

Rows go through the one write path (``core.attachments.service`` for new files,
``core.writes.delete`` to the trash); bytes come from the site's blob store. Everything
that touches bytes (reading a dropped file, hashing, copying out, decoding a thumbnail)
is a plain function meant for a worker thread (``desktop.views.long_work``): nothing
here runs on the UI thread but the list query.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy import select

from core.errors import DomainError

# Owners whose pages carry a Files tab (the entity names of core.attachments.schemas).
OWNERS = ("jobs", "downtimes", "machines", "shows", "travel")
# Above this a file is refused before it is read into memory (the site's own limit is
# checked again by the service; this only spares reading a 2 GB video for nothing).
READ_LIMIT = 512 * 1024 * 1024


@dataclass(frozen=True)
class FileItem:
    id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    caption: str
    created_at: datetime | None
    created_by: str  # the person's name
    version: int
    here: bool  # are the bytes on this computer yet?

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    @property
    def is_pdf(self) -> bool:
        return self.media_type == "application/pdf"


def blob_store(session: Any) -> Any:
    """The blob store beside the session's site database (``<data_dir>/blobs``, where
    ``site serve`` keeps it too): the desktop's store is the site's SQLite file."""
    from core.attachments.blobs import site_blob_store

    database = session.store.engine.url.database
    if not database or database == ":memory:":
        raise RuntimeError("attachments need a site store on disk")
    return site_blob_store(Path(database).resolve().parent)


def open_blob(blobs: Any, sha256: str) -> BinaryIO:
    """The bytes of ``sha256``; FileNotFoundError when they are not on this computer."""
    fh = blobs.open(sha256)
    if fh is None:
        raise FileNotFoundError(sha256)
    return cast(BinaryIO, fh)


def list_files(session: Any, blobs: Any, owner_entity: str, owner_id: str) -> list[FileItem]:
    """The live attachments of one record, newest first, each marked here or not."""
    from core.attachments.models import Attachment
    from core.models import User

    with session.read() as s:
        rows = s.execute(
            select(Attachment, User.name)
            .outerjoin(User, (User.org_id == Attachment.org_id)
                       & (User.id == Attachment.created_by))
            .where(Attachment.org_id == session.org_id,
                   Attachment.owner_entity == owner_entity,
                   Attachment.owner_id == owner_id,
                   Attachment.deleted_at.is_(None))
            .order_by(Attachment.created_at.desc(), Attachment.id.desc())
        ).all()  # fmt: skip
        return [
            FileItem(a.id, a.filename, a.media_type, int(a.size), a.sha256, a.caption or "",
                     a.created_at, name or "", int(a.version), bool(blobs.has(a.sha256)))
            for a, name in rows
        ]  # fmt: skip


class TooLarge(Exception):
    """A file bigger than ``READ_LIMIT``: refused before it is read."""

    def __init__(self, name: str, size: int) -> None:
        super().__init__(name)
        self.name, self.size = name, size


@dataclass(frozen=True)
class Incoming:
    """One file to attach: from a path (dropped, chosen) or bytes (a pasted image)."""

    filename: str
    path: Path | None = None
    data: bytes | None = None


def add_files(
    session: Any,
    blobs: Any,
    owner_entity: str,
    owner_id: str,
    files: Iterable[Incoming],
    *,
    caption: str | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[list[dict[str, Any]], list[tuple[str, BaseException]]]:
    """Attach each file (worker thread). Returns the rows made and, per refused file,
    its name and error: one bad file does not stop the others, and a refused one leaves
    nothing behind (the service stores bytes and row in one go or not at all)."""
    from core.attachments.service import add_attachment

    todo = list(files)
    made: list[dict[str, Any]] = []
    refused: list[tuple[str, BaseException]] = []
    for i, item in enumerate(todo):
        if cancelled():
            break
        progress(i, len(todo))
        try:
            data = item.data if item.data is not None else _read(item)
            with session.write() as s:
                made.append(add_attachment(s, session.actor, owner_entity=owner_entity,
                                           owner_id=owner_id, filename=item.filename,
                                           data=data, caption=caption or None,
                                           store=blobs))  # fmt: skip
        except (DomainError, OSError, TooLarge) as exc:
            refused.append((item.filename, exc))
    progress(len(todo), len(todo))
    return made, refused


def _read(item: Incoming) -> bytes:
    assert item.path is not None
    size = item.path.stat().st_size
    if size > READ_LIMIT:
        raise TooLarge(item.filename, size)
    return item.path.read_bytes()


def incoming_paths(paths: Iterable[str | Path]) -> list[Incoming]:
    """Regular files among ``paths`` (a dropped folder is skipped, not walked)."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_file():
            out.append(Incoming(path.name, path=path))
    return out


def save_copy(blobs: Any, item: FileItem, target: str | Path) -> Path:
    """Copy the bytes out under ``target`` (worker thread): written beside it under a
    temporary name and renamed, so a cancelled or failed copy leaves no half file."""
    target = Path(target)
    part = target.with_name(target.name + ".part")
    with open_blob(blobs, item.sha256) as src, part.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
        dst.flush()
        os.fsync(dst.fileno())
    part.replace(target)
    return target


def viewable_copy(blobs: Any, item: FileItem, folder: Path) -> Path:
    """A copy named as the original, for the system's viewer (a PDF drawing): the blob
    store's own file is named by hash and must not be opened for writing by anyone."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / item.filename
    if not target.exists() or target.stat().st_size != item.size:
        save_copy(blobs, item, target)
    return target


def delete_file(session: Any, item: FileItem, undo: Any = None) -> None:
    """Move an attachment to the trash (a tombstone, like any row); Undo restores it.
    Its bytes are collected later, once no live row refers to them."""
    from core import writes
    from desktop.presenters.undo import Undoable

    with session.write() as s:
        row = writes.delete(s, actor=session.actor, entity="attachments", id=item.id,
                            version=item.version)  # fmt: skip
        version = row.version
    if undo is not None:
        undo.record(Undoable("attachments", item.id, "delete", {}, version, item.filename))


def size_text(n: int) -> str:
    """1,2 MB / 1.2 MB in the user's language."""
    from desktop.models.formatting import number

    for unit, scale in (("MB", 1_000_000), ("KB", 1000)):
        if n >= scale:
            return f"{number(round(n / scale, 1))} {unit}"
    return f"{number(n)} B"
