"""Bookkeeping written by the one write path: outbox, audit log, conflicts, and on the
central server the change feed and the record of applied operations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.orm.base import ID, Base


class OutboxEntry(Base):
    """A local change waiting to reach the central server (site side)."""

    __tablename__ = "outbox"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    op_id: Mapped[str] = mapped_column(ID, unique=True)
    org_id: Mapped[str] = mapped_column(ID)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(10))
    base_version: Mapped[int] = mapped_column(Integer)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    made_at: Mapped[str] = mapped_column(String(40))
    made_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    # pending → (pushed and answered) done; the central result is kept for the user.
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    done_at: Mapped[datetime | None]

    # AUTOINCREMENT: a sequence number is never handed out twice, even after the newest
    # entries were removed, so "everything after seq N" stays meaningful.
    __table_args__ = (Index("ix_outbox_pending", "status", "seq"), {"sqlite_autoincrement": True})


class AuditEntry(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ID)
    at: Mapped[datetime]
    actor_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID)
    # The request that made the change (HTTP edges), as the tour plan's audit_logs.
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(10))
    op_id: Mapped[str | None] = mapped_column(ID)
    version: Mapped[int] = mapped_column(Integer)
    # {field: [before, after]}; secrets appear as "***".
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_row", "org_id", "entity", "entity_id", "seq"),
        {"sqlite_autoincrement": True},
    )


UNFORWARDED = "resolved_at IS NOT NULL AND forwarded_at IS NULL"


class ConflictRecord(Base):
    """An edit that lost (or could not be applied) and is kept until a person decides."""

    __tablename__ = "conflicts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, index=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(ID)
    # field: same field changed on both sides; deleted: edit to a deleted row;
    # rejected: the central server refused the op (validation, permission).
    kind: Mapped[str] = mapped_column(String(10))
    op_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID)
    rule: Mapped[str | None] = mapped_column(String(20))
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    losing_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    winning_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(ID)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # On a site: when the agent closed the central copy of a conflict resolved here
    # (records of refused ops, which exist only here, count as forwarded once resolved).
    forwarded_at: Mapped[datetime | None]

    # The few resolved and not yet forwarded, looked for after every push; the few
    # open ones, counted and listed by the sync status, the desktop and the console.
    __table_args__ = (
        Index(
            "ix_conflicts_unforwarded", "resolved_at",
            sqlite_where=text(UNFORWARDED), postgresql_where=text(UNFORWARDED),
        ),
        Index(
            "ix_conflicts_open", "org_id", "created_at",
            sqlite_where=text("resolved_at IS NULL"), postgresql_where=text("resolved_at IS NULL"),
        ),
    )  # fmt: skip


class FeedCounter(Base):
    """Per-organisation feed position. Locking this row serialises position assignment,
    so positions become visible in commit order and a cursor never skips a change."""

    __tablename__ = "feed_counters"
    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The counter table's object id when this row was last used (central.counter): a
    # restore re-creates the table, so a stamp that no longer matches shows it.
    stamp: Mapped[int | None] = mapped_column(BigInteger)


class SyncEpoch(Base):
    """A period of the central server's history per organisation (central side). A new
    one begins when the server is restored from a backup (``structura central
    restore-epoch``, or found by a site whose cursor the restored feed no longer has):
    ``head`` is the feed position it began at, from which sites re-read the feed after
    giving back what the restored server lacks."""

    __tablename__ = "sync_epochs"
    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    epoch: Mapped[str] = mapped_column(ID, primary_key=True)
    started_at: Mapped[datetime]
    head: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))


class SyncVerification(Base):
    """The last divergence check each site reported (central side): what its copy
    differed in from the central copy, and what it repaired."""

    __tablename__ = "sync_verifications"
    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, index=True)
    at: Mapped[datetime]
    differences: Mapped[int] = mapped_column(Integer)
    repaired: Mapped[int] = mapped_column(Integer)
    rows: Mapped[list[Any]] = mapped_column(JSON)


class FeedEntry(Base):
    """The central change feed: one entry per row change, in commit order per org."""

    __tablename__ = "feed"
    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(ID)
    version: Mapped[int] = mapped_column(Integer)
    op_id: Mapped[str | None] = mapped_column(ID)
    device_id: Mapped[str | None] = mapped_column(ID)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    row: Mapped[dict[str, Any]] = mapped_column(JSON)
    committed_at: Mapped[datetime]


class AppliedOp(Base):
    """Every operation the central server has answered, with its answer: pushing the
    same op again returns this instead of applying it twice."""

    __tablename__ = "applied_ops"
    org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    op_id: Mapped[str] = mapped_column(ID, primary_key=True)
    device_id: Mapped[str | None] = mapped_column(ID)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    applied_at: Mapped[datetime]


class SyncState(Base):
    """Small key/value store of the site's sync agent (cursor, identity, last error)."""

    __tablename__ = "sync_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class RefreshToken(Base):
    """One refresh token of a login. Tokens of one login share a family; a reused token
    revokes the whole family."""

    __tablename__ = "refresh_tokens"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    family_id: Mapped[str] = mapped_column(ID, index=True)
    org_id: Mapped[str] = mapped_column(ID)
    user_id: Mapped[str] = mapped_column(ID)
    token_hash: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("token_hash"),)


class LoginThrottle(Base):
    """Failed login attempts per key (account, or account+device) for lockout."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
