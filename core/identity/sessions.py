"""Logins as sessions a person can see and end: each login (a refresh family) records
the device, IP address and browser it came from; its user lists their active logins
and ends any of them, an admin does the same for anyone. Ending one revokes its
refresh family, so its access tokens stop at the next session check (the edge clears
its session cache at once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Forbidden, NotFound
from core.models import LoginSession, RefreshToken
from core.writes import Actor

ADMIN = "admin"


@dataclass(frozen=True)
class ClientInfo:
    """Where a login comes from (what the edge knows of the request)."""

    ip_address: str | None = None
    user_agent: str | None = None


def revoke_family(session: Session, family_id: str) -> None:
    """End a login: every refresh token of its family stops working."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def record(
    session: Session,
    *,
    family_id: str,
    org_id: str,
    user_id: str,
    device_id: str | None,
    paired: bool,
    client: ClientInfo | None,
) -> None:
    now = utcnow()
    client = client or ClientInfo()
    session.add(
        LoginSession(
            id=family_id,
            org_id=org_id,
            user_id=user_id,
            device_id=device_id,
            paired=paired,
            ip_address=(client.ip_address or None) and client.ip_address[:45],
            user_agent=(client.user_agent or None) and client.user_agent[:300],
            created_at=now,
            last_seen_at=now,
            ended_at=None,
        )
    )


def touch(session: Session, family_id: str) -> None:
    row = session.get(LoginSession, family_id)
    if row is not None:
        row.last_seen_at = utcnow()


def _json(row: LoginSession, current: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "device_id": row.device_id,
        "paired": row.paired,
        "ip_address": row.ip_address,
        "user_agent": row.user_agent,
        "created_at": row.created_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "current": row.id == current,
    }


def _whose(actor: Actor, user_id: str | None) -> str:
    target = user_id or actor.user_id
    if target is None:
        raise Forbidden("only a logged-in user has sessions")
    if target != actor.user_id and actor.role != ADMIN:
        raise Forbidden("only an admin sees or ends another user's logins")
    return target


def active(
    session: Session, *, actor: Actor, user_id: str | None = None, current: str | None = None
) -> list[dict[str, Any]]:
    """The active logins of ``user_id`` (default: the actor), newest first."""
    target = _whose(actor, user_id)
    rows = session.scalars(
        select(LoginSession)
        .where(
            LoginSession.org_id == actor.org_id,
            LoginSession.user_id == target,
            LoginSession.ended_at.is_(None),
        )
        .order_by(LoginSession.last_seen_at.desc())
    )
    return [_json(r, current) for r in rows]


def end(session: Session, *, actor: Actor, session_id: str) -> None:
    """End one login: the actor's own, or (admin) anyone's in the organisation."""
    row = session.get(LoginSession, session_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound(f"session '{session_id}' not found")
    _whose(actor, row.user_id)
    if row.ended_at is None:
        row.ended_at = utcnow()
    revoke_family(session, row.id)


def mark_ended(session: Session, family_id: str) -> None:
    row = session.get(LoginSession, family_id)
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
