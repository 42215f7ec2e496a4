"""Users of one organisation. They sync so that PIN login works on a site offline;
only slow salted hashes of their secrets are ever stored or sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.orm.base import ID, Base, Synced, live_unique


class User(Synced, Base):
    __tablename__ = "users"
    __table_args__ = (live_unique("users", "email"),)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5), default="es")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))


class PairedDevice(Base):
    """A tablet or browser paired with this site (``core.identity.devices``). Site-local:
    it never syncs. Until paired the row holds only the pairing code's digest; once
    paired, only the digest of the device key (256 random bits, so a fast digest)."""

    __tablename__ = "paired_devices"
    __table_args__ = (UniqueConstraint("code_hash"),)
    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str | None] = mapped_column(String(128))
    code_expires_at: Mapped[datetime | None]
    key_hash: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    paired_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AdminTotp(Base):
    """A central admin's TOTP second factor (``central.admin_auth``). The secret must
    be readable to check codes, so it cannot be hashed; it lives only on the central
    server, never syncs, and is only used once ``confirmed_at`` is set."""

    __tablename__ = "admin_totp"
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int | None] = mapped_column(Integer)


class LoginSession(Base):
    """One login (``core.identity.sessions``): its refresh family, with the device, IP
    address and browser it came from, so a user sees their active logins and ends
    any of them (an admin: anyone's). Site-local; never syncs."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_user", "org_id", "user_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the refresh family id
    org_id: Mapped[str] = mapped_column(ID)
    user_id: Mapped[str] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(String(64))
    paired: Mapped[bool] = mapped_column(Boolean, default=False)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
