"""Access tokens (JWT) and refresh tokens (opaque, rotated, revoked by family).

Access tokens are short-lived JWTs (HS256 only, ``kid`` names the site's key) carrying
the user, organisation, role, device and the login's refresh family (``sid``). Refresh
tokens are opaque random strings; only their SHA-256 digest is stored. Every refresh
rotates the token; presenting an already-used token means it was copied, so the whole
family (that login on every device it reached) is revoked.

Refresh is never throttled together with logins: it costs one indexed read (and a
write only for a valid token), so a login flood cannot log a page out.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.clock import new_token, utcnow, uuid7
from core.db import Store
from core.errors import Unauthenticated
from core.identity import sessions
from core.identity.security import token_digest
from core.models import RefreshToken, User
from core.writes import Actor

AUDIENCE = "structura"
ALGORITHM = "HS256"
ACCESS = "access"
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "aud", "iss", "sub", "jti", "typ", "org", "role")
# HS256 keys shorter than the hash output make brute-forcing the key the easy attack.
MIN_KEY_BYTES = 32


class WeakKey(ValueError):
    """A signing key below ``MIN_KEY_BYTES``."""


@dataclass(frozen=True)
class SigningKey:
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise WeakKey(f"signing keys need at least {MIN_KEY_BYTES} bytes")

    @property
    def kid(self) -> str:
        # Derived from the key, so rotating the key makes old tokens name an unknown kid.
        return hashlib.sha256(b"structura-kid:" + self.secret).hexdigest()[:16]


@dataclass(frozen=True)
class Claims:
    user_id: str
    org_id: str
    role: str
    device_id: str | None
    session_id: str | None  # the refresh family of the login
    jti: str
    expires_at: int

    def actor(self) -> Actor:
        return Actor(
            org_id=self.org_id, user_id=self.user_id, role=self.role, device_id=self.device_id
        )


def issue_access(
    key: SigningKey,
    *,
    issuer: str,
    user: User,
    device_id: str | None,
    session_id: str | None,
    minutes: int,
    now: float | None = None,
) -> tuple[str, int]:
    now_s = int(now if now is not None else time.time())
    exp = now_s + minutes * 60
    claims = {
        "sub": user.id,
        "org": user.org_id,
        "role": user.role,
        "dev": device_id,
        "sid": session_id,
        "iat": now_s,
        "nbf": now_s,
        "exp": exp,
        "aud": AUDIENCE,
        "iss": issuer,
        "typ": ACCESS,
        "jti": uuid7(),
    }
    token = jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, exp


def decode_access(key: SigningKey, token: str, *, issuer: str) -> Claims:
    """Strict decode: HS256 only, our kid, required claims, audience, issuer, type."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated("token algorithm not accepted")
    if not isinstance(header.get("kid"), str) or not hmac.compare_digest(header["kid"], key.kid):
        raise Unauthenticated("token signed with an unknown key")
    try:
        data = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=issuer,
            options={"require": list(REQUIRED_CLAIMS)},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.PyJWTError:
        raise Unauthenticated("invalid token") from None
    if data.get("typ") != ACCESS:
        raise Unauthenticated("not an access token")
    if not all(isinstance(data.get(k), str) for k in ("sub", "org", "role")):
        raise Unauthenticated("invalid token")
    return Claims(
        user_id=data["sub"],
        org_id=data["org"],
        role=data["role"],
        device_id=data.get("dev") if isinstance(data.get("dev"), str) else None,
        session_id=data.get("sid") if isinstance(data.get("sid"), str) else None,
        jti=data["jti"],
        expires_at=int(data["exp"]),
    )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_at: int
    refresh_token: str
    refresh_expires_at: datetime
    user: User
    # Set at a PIN login whose PIN no longer meets the policy (core.identity.pins).
    pin_change_required: bool = False

    def as_json(self, user_json: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": max(0, self.expires_at - int(time.time())),
            "refresh_token": self.refresh_token,
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
            "pin_change_required": self.pin_change_required,
            "user": dict(user_json),
        }


@dataclass(frozen=True)
class TokenPolicy:
    key: SigningKey
    issuer: str
    access_minutes: int = 15
    refresh_days: int = 14


def issue_tokens(
    session: Session,
    policy: TokenPolicy,
    user: User,
    device_id: str | None,
    family_id: str | None = None,
    *,
    paired: bool = False,
    client: Any = None,
) -> TokenPair:
    """A new login (or, with ``family_id``, the next link of one) for a user already
    authenticated some other way (the desktop's own session, tests). A new login is
    recorded as a session (``core.identity.sessions``) with ``client``'s address and
    browser."""
    now = utcnow()
    if family_id is None:
        family_id = uuid7()
        sessions.record(
            session,
            family_id=family_id,
            org_id=user.org_id,
            user_id=user.id,
            device_id=device_id,
            paired=paired,
            client=client,
        )
    else:
        sessions.touch(session, family_id)
    refresh = new_token(32)
    expires = now + timedelta(days=policy.refresh_days)
    session.add(
        RefreshToken(
            id=uuid7(),
            family_id=family_id,
            org_id=user.org_id,
            user_id=user.id,
            token_hash=token_digest(refresh),
            issued_at=now,
            expires_at=expires,
            used_at=None,
            revoked_at=None,
        )
    )
    access, exp = issue_access(
        policy.key,
        issuer=policy.issuer,
        user=user,
        device_id=device_id,
        session_id=family_id,
        minutes=policy.access_minutes,
    )
    return TokenPair(access, exp, refresh, expires, user)


class FamilyRefused(Unauthenticated):
    """Refused, and the whole login (``family_id``) has been ended."""

    def __init__(self, message: str, *, family_id: str) -> None:
        super().__init__(message)
        self.family_id = family_id


class ReusedToken(FamilyRefused):
    code = "token_reused"


def refresh(
    store: Store, policy: TokenPolicy, *, token: str, device_id: str | None = None
) -> TokenPair:
    """Rotate a refresh token. The write transaction (SQLite: BEGIN IMMEDIATE) serialises
    two refreshes of the same token, so exactly one wins and the other is a reuse."""
    digest = token_digest(token)
    # A cheap read first: a flood of made-up tokens never takes the writer lock.
    with store.read() as s:
        known = s.scalar(select(RefreshToken.id).where(RefreshToken.token_hash == digest))
    if known is None:
        raise Unauthenticated("refresh token not valid")
    refused: FamilyRefused | None = None
    with store.write() as s:
        row = s.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest)).first()
        now = utcnow()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("refresh token not valid")
        if row.expires_at <= now:
            raise Unauthenticated("refresh token expired")
        user = s.get(User, (row.org_id, row.user_id))
        if row.used_at is not None:
            # Someone presents a token that was already exchanged: one of the two
            # holders is not the user. End the login everywhere.
            refused = ReusedToken(
                "refresh token already used; this login has been ended", family_id=row.family_id
            )
        elif user is None or user.deleted_at is not None or not user.is_active:
            refused = FamilyRefused("refresh token not valid", family_id=row.family_id)
        if refused is not None:
            from core.identity.sessions import mark_ended

            sessions.revoke_family(s, row.family_id)
            mark_ended(s, row.family_id)
        else:
            row.used_at = now
            assert user is not None
            return issue_tokens(s, policy, user, device_id, family_id=row.family_id)
    # Raised after the commit, so the revocation stands.
    raise refused


def logout(
    session: Session, *, org_id: str, user_id: str, family_id: str | None, token: str | None = None
) -> None:
    """End a login: revoke its refresh family (by the access token's sid or a token)."""
    from core.identity.sessions import mark_ended

    if token:
        row = session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == token_digest(token))
        ).first()
        if row is not None and row.user_id == user_id and row.org_id == org_id:
            sessions.revoke_family(session, row.family_id)
            mark_ended(session, row.family_id)
    if family_id:
        mark_ended(session, family_id)
        session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.family_id == family_id,
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )


def session_state(session: Session, claims: Claims) -> tuple[bool, str | None]:
    """(still valid, current role) for an access token's user and login.

    A token outlives neither its user's deactivation nor its logout."""
    user = session.get(User, (claims.org_id, claims.user_id))
    if user is None or user.deleted_at is not None or not user.is_active:
        return False, None
    if claims.session_id:
        live = session.scalar(
            select(RefreshToken.id)
            .where(RefreshToken.family_id == claims.session_id, RefreshToken.revoked_at.is_(None))
            .limit(1)
        )
        if live is None:
            return False, None
    return True, user.role


class SessionCache:
    """Remembers ``session_state`` for a few seconds so a request costs no extra query.

    Deactivating a user or logging out takes effect within ``ttl`` seconds (the writer
    calls ``clear()`` on user changes and logout, making it immediate in this process).
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str, str | None], tuple[float, bool, str | None]] = {}

    def get(
        self, claims: Claims, load: Callable[[], tuple[bool, str | None]]
    ) -> tuple[bool, str | None]:
        key = (claims.org_id, claims.user_id, claims.session_id)
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        ok, role = load()
        with self._lock:
            if len(self._data) > 10_000:
                self._data.clear()
            self._data[key] = (now + self.ttl, ok, role)
        return ok, role

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
