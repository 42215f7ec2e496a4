"""Organisations, sites, enrolment codes, devices and their access tokens.

A device secret (256 random bits) is shown once and stored only as a keyed digest: a
slow hash adds nothing to a secret nobody can guess, and it made ``/api/sync/token`` an
argon2 CPU sink anyone could flood (a legitimate sync went from 80 ms to 2.3 s).
Devices enrolled before keep their argon2 hash until their next token request, which
replaces it with the digest. A device trades its secret for a short-lived signed access
token (``issue_device_token``); every request with that token still looks the device
up, so a revoked device is refused at once (guarantee 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import writes
from core.clock import new_token, utcnow, uuid7
from core.documents import code_from_name
from core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from core.identity.security import constant_time_equal, token_digest, verify_secret
from core.models import Device, EnrollmentCode, Organisation, Site, User
from core.serial import row_to_json
from core.writes import Actor

MODULES = ("factory", "tour")
CENTRAL_ORG = "central"  # the organisation whose admin users manage the central server
ALGORITHM = "HS256"
DIGEST = "sha256:"


class DeviceRevoked(Forbidden):
    """A revoked device: refused at once, on every request (its site keeps its data)."""

    code = "device_revoked"


@dataclass(frozen=True)
class TokenKey:
    secret: bytes
    minutes: int = 15
    issuer: str = "structura-central"


def create_org(
    session: Session, *, name: str, modules: list[str], home_currency: str = "EUR",
    org_id: str | None = None,
) -> Organisation:  # fmt: skip
    bad = [m for m in modules if m not in MODULES]
    if bad or not name.strip():
        raise Invalid(f"unknown modules {bad}" if bad else "name must not be empty")
    org = Organisation(
        id=org_id or uuid7(), name=name.strip(), modules=list(modules),
        home_currency=home_currency, created_at=utcnow(),
    )  # fmt: skip
    session.add(org)
    session.flush()
    return org


def get_org(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None or org.id == CENTRAL_ORG:
        raise NotFound(f"organisation '{org_id}' not found")
    return org


def find_org(session: Session, ref: str) -> Organisation:
    """By id, or by exact name (the CLI takes either)."""
    org = session.get(Organisation, ref)
    if org is None:
        org = session.scalars(select(Organisation).where(Organisation.name == ref)).first()
    if org is None or org.id == CENTRAL_ORG:
        raise NotFound(f"organisation '{ref}' not found")
    return org


def create_site(session: Session, *, org_id: str, name: str) -> Site:
    get_org(session, org_id)
    # A code distinct among the organisation's sites: its document numbers never collide.
    taken = session.scalars(select(Site.code).where(Site.org_id == org_id)).all()
    code = code_from_name(name.strip(), [t for t in taken if t])
    site = Site(id=uuid7(), org_id=org_id, name=name.strip(), created_at=utcnow(), code=code)
    session.add(site)
    session.flush()
    return site


def find_site(session: Session, ref: str) -> Site:
    site = session.get(Site, ref)
    if site is None:
        site = session.scalars(select(Site).where(Site.name == ref)).first()
    if site is None:
        raise NotFound(f"site '{ref}' not found")
    return site


def make_enrollment_code(
    session: Session, *, org_id: str, site_id: str, created_by: str | None = None,
    hours: float = 24.0,
) -> tuple[str, EnrollmentCode]:  # fmt: skip
    site = session.get(Site, site_id)
    if site is None or site.org_id != org_id:
        raise NotFound(f"site '{site_id}' not found in organisation '{org_id}'")
    code = new_token(15)  # 120 bits: a fast digest is enough, and it expires
    while code.startswith("-"):  # a shell or a command line would take it for an option
        code = new_token(15)
    now = utcnow()
    rec = EnrollmentCode(
        code_hash=token_digest(code), org_id=org_id, site_id=site_id, created_by=created_by,
        created_at=now, expires_at=now + timedelta(hours=hours),
    )  # fmt: skip
    session.add(rec)
    session.flush()
    return code, rec


def enroll(
    session: Session, *, code: str, device_name: str, schema_version: int | None
) -> dict[str, Any]:
    """Turn a one-time code into a device identity; the secret is returned only here."""
    rec = session.get(EnrollmentCode, token_digest(code or ""), with_for_update=True)
    now = utcnow()
    if rec is None or rec.used_at is not None or rec.expires_at <= now:
        raise Unauthenticated("enrolment code unknown, used or expired")
    secret = new_token(32)
    device = Device(
        id=uuid7(), org_id=rec.org_id, site_id=rec.site_id, name=(device_name or "site")[:200],
        credential_hash=DIGEST + token_digest(secret), schema_version=schema_version,
        created_at=now,
    )  # fmt: skip
    session.add(device)
    session.flush()
    rec.used_at, rec.device_id = now, device.id
    org = session.get(Organisation, rec.org_id)
    site = session.get(Site, rec.site_id)
    assert org is not None and site is not None
    return {
        "device_id": device.id,
        "device_secret": secret,
        "org": {"id": org.id, "name": org.name, "modules": list(org.modules or []),
                "home_currency": org.home_currency},
        "site": {"id": site.id, "name": site.name, "code": site.code},
    }  # fmt: skip


def issue_device_token(
    session: Session, key: TokenKey, *, device_id: str, secret: str
) -> dict[str, Any]:
    device = session.get(Device, device_id or "")
    if device is None or not _secret_matches(device, secret or ""):
        raise Unauthenticated("unknown device or wrong secret")
    if device.revoked_at is not None:
        raise DeviceRevoked("this device has been revoked")
    now = utcnow()
    device.last_seen_at = now
    claims = {
        "sub": device.id, "org": device.org_id, "typ": "device", "iss": key.issuer,
        "iat": int(now.timestamp()), "exp": int(now.timestamp()) + key.minutes * 60,
    }  # fmt: skip
    token = jwt.encode(claims, key.secret, algorithm=ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": key.minutes * 60}


def _secret_matches(device: Device, secret: str) -> bool:
    stored = device.credential_hash
    if stored.startswith(DIGEST):
        return constant_time_equal(stored, DIGEST + token_digest(secret))
    if not verify_secret(stored, secret):  # an older argon2 hash
        return False
    device.credential_hash = DIGEST + token_digest(secret)
    return True


def decode_token(key: TokenKey, token: str, typ: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token, key.secret, algorithms=[ALGORITHM], issuer=key.issuer,
            options={"require": ["exp", "sub", "typ"]},
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from None
    if claims.get("typ") != typ:
        raise Unauthenticated("wrong kind of token")
    return claims


def device_org(session: Session, device_id: str, org_id: str | None = None) -> str:
    """The organisation of the device behind a token, checked on every request: known,
    not revoked and (given ``org_id``) of that organisation. Two columns, not the ORM
    row: it runs in every pull."""
    found = session.execute(
        select(Device.org_id, Device.revoked_at).where(Device.id == device_id)
    ).one_or_none()
    return check_device_of(None if found is None else (found[0], found[1]), org_id)


def check_device_of(found: tuple[Any, Any] | None, org_id: str | None) -> str:
    """``found``: the device's (org_id, revoked_at), ``None`` if there is no such device.
    Its organisation, if it may sync: known, not revoked and (given ``org_id``, the one
    its token names) still of that organisation. A push reads the two columns in its
    first statement (``central.push``); other requests through ``device_org``."""
    if found is None or found[0] is None:
        raise Unauthenticated("unknown device")
    if found[1] is not None:
        raise DeviceRevoked("this device has been revoked")
    if org_id is not None and found[0] != org_id:
        raise Unauthenticated("the token's organisation is not the device's")
    return str(found[0])


def revoke_device(session: Session, device_id: str) -> Device:
    """Refuse the device from now on; its site keeps its data."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device '{device_id}' not found")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
    return device


def device_json(d: Device) -> dict[str, Any]:
    out = row_to_json(d)
    out.pop("credential_hash", None)
    return out


# --- central admins: users of the reserved "central" organisation ----------------------


def ensure_central_org(session: Session) -> None:
    if session.get(Organisation, CENTRAL_ORG) is None:
        create_org(session, name="Central administration", modules=[], org_id=CENTRAL_ORG)


def create_admin(session: Session, *, email: str, password: str, name: str | None = None) -> str:
    ensure_central_org(session)
    user = writes.create(
        session, actor=Actor.system(CENTRAL_ORG), entity="users",
        data={"name": name or email, "email": email, "role": "admin", "password": password},
    )  # fmt: skip
    return user.id


def admin_for_request(session: Session, user_id: str) -> User:
    user = session.get(User, (CENTRAL_ORG, user_id))
    if user is None or user.deleted_at is not None or not user.is_active:
        raise Unauthenticated("unknown or disabled admin")
    return user
