"""Board screens: a wall TV or a tablet that shows the floor board and can change
nothing. The office makes one and gets a random secret once (shown as a link); the
site keeps only its digest. The secret opens the board read, nothing else: it is not
an access token, so no other route accepts it, and it never expires by idling.
Revoking the screen ends it at once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from core.identity.security import constant_time_equal, token_digest
from core.web.models import DisplayScreen
from core.writes import Actor

OFFICE_ROLES = frozenset({"admin", "office"})
LIFETIME = timedelta(days=180)  # a screen on the wall is re-linked twice a year at most
PREFIX = "dsp_"  # the secret names itself, so a leaked one is recognised as such


@dataclass(frozen=True)
class NewScreen:
    id: str
    name: str
    secret: str  # shown once; only its digest is kept
    expires_at: datetime


def create_screen(session: Session, *, actor: Actor, name: str) -> NewScreen:
    if actor.role not in OFFICE_ROLES:
        raise Forbidden(f"role '{actor.role}' may not create board screens")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("the screen needs a name", details=[{"field": "name", "message": "required"}])
    secret = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = DisplayScreen(id=str(uuid.uuid4()), org_id=actor.org_id, name=name,
                        digest=token_digest(secret), created_by=actor.user_id,
                        created_at=now, expires_at=now + LIFETIME, revoked_at=None)  # fmt: skip
    session.add(row)
    session.flush()
    return NewScreen(row.id, row.name, secret, row.expires_at)


def revoke_screen(session: Session, *, actor: Actor, screen_id: str) -> None:
    if actor.role not in OFFICE_ROLES:
        raise Forbidden(f"role '{actor.role}' may not revoke board screens")
    row = session.get(DisplayScreen, screen_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("no such screen")
    row.revoked_at = row.revoked_at or utcnow()


def list_screens(session: Session, *, actor: Actor) -> list[dict[str, Any]]:
    if actor.role not in OFFICE_ROLES:
        raise Forbidden(f"role '{actor.role}' may not see board screens")
    rows = session.scalars(select(DisplayScreen).where(DisplayScreen.org_id == actor.org_id))
    return [{"id": r.id, "name": r.name, "created_at": r.created_at.isoformat(),
             "expires_at": r.expires_at.isoformat(),
             "revoked": r.revoked_at is not None} for r in rows]  # fmt: skip


def screen_org(session: Session, secret: str) -> str:
    """The organisation whose board this secret may read. Raises Unauthenticated."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        raise Unauthenticated("not a board screen key")
    digest = token_digest(secret)
    row = session.scalar(select(DisplayScreen).where(DisplayScreen.digest == digest))
    if (
        row is None
        or not constant_time_equal(row.digest, digest)
        or row.revoked_at is not None
        or row.expires_at <= utcnow()
    ):
        raise Unauthenticated("this board screen key is not valid (revoked or expired)")
    return row.org_id


def open_stops(session: Session, *, org_id: str) -> dict[str, dict[str, Any]]:
    """The running stop of each machine that has one: {machine_id: {id, reason,
    started_at, planned}} (the newest, if a machine has several open)."""
    from core.factory.models import Downtime

    rows = session.scalars(
        select(Downtime)
        .where(
            Downtime.org_id == org_id,
            Downtime.ended_at.is_(None),
            Downtime.deleted_at.is_(None),
        )
        .order_by(Downtime.started_at)
    )
    return {
        d.machine_id: {
            "id": d.id,
            "reason": d.reason,
            "planned": d.planned,
            "started_at": d.started_at.isoformat(),
        }
        for d in rows
    }
