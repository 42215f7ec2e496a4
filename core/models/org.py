"""Organisations, their sites and enrolled devices (managed on the central server;
a site keeps its own rows so it knows who it is while offline)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import ID, Base


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    modules: Mapped[list[str]] = mapped_column(JSON, default=list)
    home_currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_at: Mapped[datetime]


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


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
