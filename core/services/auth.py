"""Login, tokens and who may see which rows. Free of any web framework: the LAN API, the
central server and the desktop call these functions and map ``core.errors``.

Tokens
------
Access tokens are short-lived JWTs (HS256 only, ``kid`` names the site's key) carrying
the user, organisation, role, device and the login's refresh family (``sid``). Refresh
tokens are opaque random strings; only their SHA-256 digest is stored. Every refresh
rotates the token; presenting an already-used token means it was copied, so the whole
family (that login on every device it reached) is revoked.

Lockout (why it cannot lock out a whole floor)
----------------------------------------------
Failures are counted per *account*, never per client IP (the floor shares one NAT and
a few terminals), under two keys:

- ``dev:<org>:<user>:<device>`` — the account on one device (``X-Device-Id``). After
  ``DEVICE_THRESHOLD`` failures that device is locked for that account with exponential
  backoff (30 s, 60 s, ... capped at 15 min). Other users of the same terminal are not
  affected: the key includes the user.
- ``acct:<org>:<user>`` — the account on all devices. After ``ACCOUNT_THRESHOLD``
  failures the account is locked for *unknown* devices (short windows, capped at 5 min).
  A device on which this account has logged in before (``known:<org>:<user>:<device>``)
  ignores the account-wide lock and is only subject to its own counter.

So someone hammering PINs from a phone locks that account for unknown devices only; the
operator's own terminal still lets them in, and no other account is touched. Guessing
from a spoofed known device id still meets the per-device backoff. Locked attempts are
refused before any hash is computed, so they cost nothing. A success resets the
device's counter; the account counter decays when no failure happened for
``WINDOW`` (a success does not reset it, or an attacker would get fresh tries each time
the real user logs in).
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
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.clock import new_token, utcnow, uuid7
from core.db import Store
from core.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from core.models import LoginThrottle, Message, RefreshToken, User
from core.registry import EntitySpec
from core.security import token_digest, verify_secret
from core.services.writes import Actor

AUDIENCE = "structura"
ALGORITHM = "HS256"
ACCESS = "access"
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "aud", "iss", "sub", "jti", "typ", "org", "role")

DEVICE_THRESHOLD = 5
ACCOUNT_THRESHOLD = 10
DEVICE_BASE_LOCK = 30.0
DEVICE_MAX_LOCK = 15 * 60.0
ACCOUNT_BASE_LOCK = 30.0
ACCOUNT_MAX_LOCK = 5 * 60.0
WINDOW = timedelta(minutes=15)
BAD_CREDENTIALS = "wrong user, e-mail, password or PIN"


# ---------------------------------------------------------------- signing key and JWTs


@dataclass(frozen=True)
class SigningKey:
    secret: bytes

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


# ---------------------------------------------------------------- lockout


def _lock_seconds(failures: int, threshold: int, base: float, cap: float) -> float:
    if failures < threshold:
        return 0.0
    return min(cap, base * 2 ** (failures - threshold))


def _throttle(session: Session, key: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, key)


def _keys(org_id: str, subject: str, device_id: str | None) -> tuple[str, str | None, str | None]:
    acct = f"acct:{org_id}:{subject}"
    if not device_id:
        return acct, None, None
    return acct, f"dev:{org_id}:{subject}:{device_id}", f"known:{org_id}:{subject}:{device_id}"


def check_lock(session: Session, org_id: str, subject: str, device_id: str | None) -> None:
    """Refuse (429) while the account is locked for this device. Costs no hashing."""
    now = utcnow()
    acct_key, dev_key, known_key = _keys(org_id, subject, device_id)
    if dev_key:
        row = _throttle(session, dev_key)
        if row and row.locked_until and row.locked_until > now:
            raise _locked(row.locked_until, now)
    known = bool(known_key and _throttle(session, known_key))
    if not known:
        row = _throttle(session, acct_key)
        if row and row.locked_until and row.locked_until > now:
            raise _locked(row.locked_until, now)


def _locked(until: datetime, now: datetime) -> RateLimited:
    wait = max(1.0, (until - now).total_seconds())
    return RateLimited(
        "too many failed attempts; try again later",
        retry_after=wait,
        details={"retry_after": round(wait)},
    )


def _bump(session: Session, key: str, threshold: int, base: float, cap: float) -> None:
    # A sliding window: ``window_started_at`` holds the latest failure, and the count
    # starts over once a whole WINDOW passed without one.
    now = utcnow()
    row = _throttle(session, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now, locked_until=None)
        session.add(row)
    elif now - row.window_started_at > WINDOW:
        row.failures = 0
    row.failures += 1
    row.window_started_at = now
    lock = _lock_seconds(row.failures, threshold, base, cap)
    if lock:
        row.locked_until = now + timedelta(seconds=lock)


def record_failure(session: Session, org_id: str, subject: str, device_id: str | None) -> None:
    acct_key, dev_key, _ = _keys(org_id, subject, device_id)
    _bump(session, acct_key, ACCOUNT_THRESHOLD, ACCOUNT_BASE_LOCK, ACCOUNT_MAX_LOCK)
    if dev_key:
        _bump(session, dev_key, DEVICE_THRESHOLD, DEVICE_BASE_LOCK, DEVICE_MAX_LOCK)


def record_success(session: Session, org_id: str, subject: str, device_id: str | None) -> None:
    _, dev_key, known_key = _keys(org_id, subject, device_id)
    if dev_key:
        row = _throttle(session, dev_key)
        if row is not None:
            session.delete(row)
        if known_key and _throttle(session, known_key) is None:
            session.add(
                LoginThrottle(
                    key=known_key, failures=0, window_started_at=utcnow(), locked_until=None
                )
            )


# ---------------------------------------------------------------- login and refresh


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_at: int
    refresh_token: str
    refresh_expires_at: datetime
    user: User

    def as_json(self, user_json: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": max(0, self.expires_at - int(time.time())),
            "refresh_token": self.refresh_token,
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
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
) -> TokenPair:
    """A new login (or, with ``family_id``, the next link of one) for a user already
    authenticated some other way (the desktop's own session, tests)."""
    now = utcnow()
    family_id = family_id or uuid7()
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


# A fixed argon2 hash of a random string: verifying against it makes an unknown account
# cost the same time as a real one.
_DUMMY_HASH: list[str] = []


def _dummy_verify(secret: str) -> None:
    from core.security import hash_secret

    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_secret(new_token(16)))
    verify_secret(_DUMMY_HASH[0], secret)


@dataclass(frozen=True)
class _Candidate:
    org_id: str
    subject: str  # throttle key part: the user id, or a digest for unknown accounts
    user_id: str | None
    secret_hash: str | None
    active: bool


def _attempt(
    store: Store, policy: TokenPolicy, cand: _Candidate, secret: str, device_id: str | None
) -> TokenPair:
    """Verify outside any transaction (argon2 takes tens of milliseconds and SQLite has
    one writer: hashing inside BEGIN IMMEDIATE would stall every other write on the
    floor), then record the outcome and issue tokens in one short write."""
    if cand.secret_hash:
        ok = verify_secret(cand.secret_hash, secret)
    else:
        _dummy_verify(secret)
        ok = False
    ok = ok and cand.active and cand.user_id is not None
    with store.write() as s:
        if not ok:
            record_failure(s, cand.org_id, cand.subject, device_id)
        else:
            user = s.get(User, (cand.org_id, cand.user_id))
            if user is None or user.deleted_at is not None or not user.is_active:
                ok = False
            else:
                record_success(s, cand.org_id, cand.subject, device_id)
                return issue_tokens(s, policy, user, device_id)
    # Raised after the commit, so the failure counts.
    raise Unauthenticated(BAD_CREDENTIALS)


def login_password(
    store: Store,
    policy: TokenPolicy,
    *,
    org_id: str,
    email: str,
    password: str,
    device_id: str | None = None,
) -> TokenPair:
    """E-mail and password (office staff)."""
    email = email.strip().lower()
    with store.read() as s:
        user = s.scalars(
            select(User).where(
                User.org_id == org_id, User.email == email, User.deleted_at.is_(None)
            )
        ).first()
        # Unknown e-mails are throttled under their own key so lock state tells nothing.
        subject = user.id if user is not None else "email:" + token_digest(email)[:32]
        check_lock(s, org_id, subject, device_id)
        cand = _Candidate(
            org_id,
            subject,
            user.id if user else None,
            user.password_hash if user else None,
            bool(user and user.is_active),
        )
    return _attempt(store, policy, cand, password, device_id)


def login_pin(
    store: Store,
    policy: TokenPolicy,
    *,
    org_id: str,
    user_id: str,
    pin: str,
    device_id: str | None = None,
) -> TokenPair:
    """User picked on the keypad plus numeric PIN (shop floor and crew)."""
    with store.read() as s:
        user = s.get(User, (org_id, user_id))
        if user is not None and user.deleted_at is not None:
            user = None
        subject = user_id if user is not None else "unknown:" + token_digest(user_id)[:32]
        check_lock(s, org_id, subject, device_id)
        cand = _Candidate(
            org_id,
            subject,
            user.id if user else None,
            user.pin_hash if user else None,
            bool(user and user.is_active),
        )
    return _attempt(store, policy, cand, pin, device_id)


def _revoke_family(session: Session, family_id: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


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
    refused: FamilyRefused | None = None
    with store.write() as s:
        row = s.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == token_digest(token))
        ).first()
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
            _revoke_family(s, row.family_id)
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
    if token:
        row = session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == token_digest(token))
        ).first()
        if row is not None and row.user_id == user_id and row.org_id == org_id:
            _revoke_family(session, row.family_id)
    if family_id:
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


def pin_users(session: Session, *, org_id: str) -> list[dict[str, Any]]:
    """The keypad list: active users with a PIN; nothing else about them."""
    rows = session.execute(
        select(User.id, User.name, User.role, User.language)
        .where(
            User.org_id == org_id,
            User.deleted_at.is_(None),
            User.is_active.is_(True),
            User.pin_hash.is_not(None),
        )
        .order_by(User.name)
    )
    return [{"id": r.id, "name": r.name, "role": r.role, "language": r.language} for r in rows]


# ---------------------------------------------------------------- row visibility

# Roles that see only the rows that concern them, per entity: a column predicate.
PERSONAL = frozenset({"operator", "crew"})


def row_scope(spec: EntitySpec, actor: Actor) -> Any | None:
    """An extra WHERE clause limiting what ``actor`` may see of ``spec`` (None: all)."""
    if spec.model is Message and actor.role in PERSONAL:
        return or_(Message.from_user_id == actor.user_id, Message.to_user_id == actor.user_id)
    return None


def can_see(spec: EntitySpec, actor: Actor, row: Any) -> bool:
    if spec.model is Message and actor.role in PERSONAL:
        return actor.user_id in (row.from_user_id, row.to_user_id)
    return True


def check_write_scope(
    spec: EntitySpec, actor: Actor, data: Mapping[str, Any], row: Any | None = None
) -> None:
    """Personal roles write only their own rows: a message is sent as oneself, and only
    one's own messages can be changed. Unseen rows are reported as missing."""
    if row is not None and not can_see(spec, actor, row):
        raise NotFound(f"{spec.name} '{row.id}' not found")
    if spec.model is Message and actor.role in PERSONAL:
        sender = data.get("from_user_id")
        if sender is not None and sender != actor.user_id:
            raise Forbidden("messages can only be sent as yourself")


# ---------------------------------------------------------------- cache of session checks


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


def set_own_preferences(session: Session, *, actor: Actor, language: str) -> User:
    """A user changes their own language (users are otherwise admin-only). Goes through
    the write path, so it is audited and syncs like any other change."""
    from core.services import writes

    if actor.user_id is None:
        raise Forbidden("only a logged-in user has preferences")
    return writes.update(
        session,
        actor=actor,
        entity="users",
        id=actor.user_id,
        data={"language": language},
        check=False,
    )
