"""Organisations, their sites and enrolled devices (managed on the central server;
a site keeps its own rows so it knows who it is while offline)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.orm.base import ID, Base


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    modules: Mapped[list[str]] = mapped_column(JSON, default=list)
    home_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_at: Mapped[datetime]
    # {"max_bytes", "media_types", "max_pixels"} narrowing the attachment defaults
    # (core.attachments.service.limits_for); None: the defaults.
    attachment_limits: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Prefix of the site's document numbers (VLC in VLC-OT-0042); unique per organisation.
    code: Mapped[str | None] = mapped_column(String(8))


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, ForeignKey("organisations.id"), index=True)
    site_id: Mapped[str] = mapped_column(ID, ForeignKey("sites.id"))
    name: Mapped[str] = mapped_column(String(200))
    credential_hash: Mapped[str] = mapped_column(String(255))
    schema_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    last_cursor: Mapped[int | None] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None]


class EnrollmentCode(Base):
    __tablename__ = "enrollment_codes"
    code_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, ForeignKey("organisations.id"))
    site_id: Mapped[str] = mapped_column(ID, ForeignKey("sites.id"))
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    device_id: Mapped[str | None] = mapped_column(ID)


class CentralAdminRole(Base):
    """What a central admin may do in the console: ``central`` (everything), ``org_admin``
    (one organisation, ``org_id``) or ``auditor`` (read only). An admin without a row is
    a central admin, as every admin was before roles existed."""

    __tablename__ = "central_admin_roles"
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[str | None] = mapped_column(ID, ForeignKey("organisations.id"))


class DocCounter(Base):
    """The last document number a site handed out per kind (core.documents). Local to
    the store, never synced: each site counts only its own numbers."""

    __tablename__ = "doc_counters"
    site_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    kind: Mapped[str] = mapped_column(String(4), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
