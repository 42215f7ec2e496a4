"""Pairing tablets and browsers with the site, and proving a paired device at login.

Pairing happens once, started by an office user or admin (desktop, or
``POST /api/devices/pairing``): the site makes a short one-time code, valid for
``CODE_MINUTES``, shown as text and inside the pairing QR code. The tablet exchanges
the code (``POST /api/devices/pair``) for its device id and a 256-bit device key, which
it keeps and sends with every login (``X-Device-Id`` + ``X-Device-Key``). Only digests
are stored (the key is random, so a fast digest is enough, like refresh tokens).

What pairing buys (``core.identity.throttle``): guesses from anywhere else never lock a
paired device out, and a device id read off the network is worth nothing without its
key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import new_token, utcnow, uuid7
from core.db import Store
from core.errors import Forbidden, Invalid, NotFound
from core.identity.security import constant_time_equal, token_digest
from core.models import PairedDevice
from core.writes import SYSTEM, Actor

CODE_MINUTES = 10
# No 0/O or 1/I/L: read off a screen and typed on a tablet.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10  # ~49 bits; one use, ten minutes, and every try goes through a limit
PAIRING_ROLES = frozenset({"admin", "office"})


@dataclass(frozen=True)
class Pairing:
    code: str
    device_id: str
    expires_at: str


@dataclass(frozen=True)
class PairedCredential:
    device_id: str
    device_key: str
    name: str


def normalise_code(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


def start_pairing(session: Session, *, actor: Actor, name: str) -> Pairing:
    """A one-time code that pairs one device named ``name``."""
    if actor.role not in PAIRING_ROLES and actor.role != SYSTEM:
        raise Forbidden(f"role '{actor.role}' may not pair devices")
    name = name.strip()
    if not name or len(name) > 200 or "\x00" in name:
        raise Invalid("name: 1 to 200 characters", details=[{"field": "name"}])
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = utcnow()
    expires = now + timedelta(minutes=CODE_MINUTES)
    row = PairedDevice(
        org_id=actor.org_id,
        id="dev-" + uuid7(),
        name=name,
        code_hash=token_digest(code),
        code_expires_at=expires,
        key_hash=None,
        created_by=actor.user_id,
        created_at=now,
        paired_at=None,
        last_seen_at=None,
        revoked_at=None,
    )
    session.add(row)
    return Pairing(code=code, device_id=row.id, expires_at=expires.isoformat())


def complete_pairing(store: Store, *, org_id: str, code: str) -> PairedCredential:
    """Exchange a pairing code for the device's id and key (once)."""
    digest = token_digest(normalise_code(code))
    with store.write() as s:
        row = s.scalars(
            select(PairedDevice).where(
                PairedDevice.org_id == org_id, PairedDevice.code_hash == digest
            )
        ).first()
        now = utcnow()
        if (
            row is None
            or row.revoked_at is not None
            or row.code_expires_at is None
            or row.code_expires_at <= now
        ):
            raise Invalid("pairing code not valid or expired", details=[{"field": "code"}])
        key = new_token(32)
        row.key_hash = token_digest(key)
        row.code_hash = None
        row.code_expires_at = None
        row.paired_at = now
        return PairedCredential(device_id=row.id, device_key=key, name=row.name)


def is_paired(session: Session, org_id: str, device_id: str | None, key: str | None) -> bool:
    """True when ``key`` is the live key of the paired device ``device_id``."""
    if not device_id or not key:
        return False
    row = session.get(PairedDevice, (org_id, device_id))
    if row is None or row.key_hash is None or row.revoked_at is not None:
        return False
    return constant_time_equal(row.key_hash, token_digest(key))


def device_json(row: PairedDevice) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return v.isoformat() if v is not None else None

    return {
        "id": row.id,
        "name": row.name,
        "paired": row.key_hash is not None,
        "created_at": iso(row.created_at),
        "paired_at": iso(row.paired_at),
        "last_seen_at": iso(row.last_seen_at),
        "revoked_at": iso(row.revoked_at),
    }


def list_devices(session: Session, *, org_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(PairedDevice).where(PairedDevice.org_id == org_id).order_by(PairedDevice.created_at)
    )
    return [device_json(r) for r in rows]


def revoke_device(session: Session, *, actor: Actor, device_id: str) -> dict[str, Any]:
    if actor.role not in PAIRING_ROLES and actor.role != SYSTEM:
        raise Forbidden(f"role '{actor.role}' may not revoke devices")
    row = session.get(PairedDevice, (actor.org_id, device_id))
    if row is None:
        raise NotFound(f"device '{device_id}' not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.key_hash = None
        row.code_hash = None
    return device_json(row)


def touch(session: Session, org_id: str, device_id: str) -> None:
    row = session.get(PairedDevice, (org_id, device_id))
    if row is not None:
        row.last_seen_at = utcnow()
