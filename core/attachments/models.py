"""The attachment row (synced) and the central server's per-organisation blob index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.orm.base import ID, Base, Synced


class Attachment(Synced, Base):
    """A file attached to a row of another entity. The bytes are named by ``sha256``
    and kept in the blob store; two rows with the same bytes share one blob."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_owner", "org_id", "owner_entity", "owner_id"),
        # Garbage collection and "which rows need these bytes" look up by hash.
        Index("ix_attachments_sha256", "sha256"),
    )
    owner_entity: Mapped[str] = mapped_column(String(20))
    # No database foreign key: the owner is one of several tables (the rules check it).
    owner_id: Mapped[str] = mapped_column(ID)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    caption: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(ID)


class OrgBlob(Base):
    """Central server: which organisation holds which blob (its quota counts each once,
    whatever the number of rows or sites that refer to it). A blob's bytes are stored
    once for all organisations; an organisation may read a blob only when it has a row
    here, i.e. when one of its sites uploaded those bytes."""

    __tablename__ = "org_blobs"
    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[datetime]


class BlobSent(Base):
    """Site: blobs the central server is known to hold for this organisation (uploaded
    from here, or found there), so the agent does not ask again. Local, never synced."""

    __tablename__ = "blobs_sent"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]
