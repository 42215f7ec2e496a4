"""Central admin login: throttled, constant-time, with an optional TOTP second factor.

- Lockout: ``core.identity.throttle`` on the central database, per admin account (or
  per unknown e-mail), exponential backoff; the right password is refused while locked.
  An in-memory bucket per e-mail and one for all logins cap the argon2 work first.
- Constant time: unknown, disabled and wrong-password answers all cost one argon2
  verification against a real hash (a disabled admin used to answer in 13 ms against
  107 ms for an unknown address).
- TOTP (RFC 6238, pyotp): an admin may enrol an authenticator app
  (``start_totp``/``confirm_totp``); from then on a login needs a current code, and a
  code is accepted once (replays within its 30 s step are refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pyotp
from sqlalchemy import select

from central.context import CentralContext
from central.enroll import ALGORITHM, CENTRAL_ORG, TokenKey
from core.clock import utcnow
from core.db import Store
from core.errors import Invalid, NotFound, Unauthenticated
from core.identity import throttle
from core.identity.login import _dummy_verify
from core.identity.security import token_digest, verify_secret
from core.identity.throttle import Caller
from core.models import AdminTotp, User

BAD = "wrong email or password"
ISSUER_NAME = "Structura central"


class TotpRequired(Unauthenticated):
    code = "totp_required"


@dataclass(frozen=True)
class _Who:
    subject: str
    user_id: str | None
    password_hash: str | None
    active: bool
    totp_secret: str | None
    totp_last_step: int | None


def _lookup(store: Store, email: str) -> _Who:
    email = email.strip().lower()
    with store.read() as s:
        user = s.scalars(
            select(User).where(
                User.org_id == CENTRAL_ORG, User.email == email, User.deleted_at.is_(None)
            )
        ).first()
        subject = user.id if user is not None else "email:" + token_digest(email)[:32]
        throttle.check_lock(s, CENTRAL_ORG, subject, Caller())
        totp = s.get(AdminTotp, user.id) if user is not None else None
        live = totp is not None and totp.confirmed_at is not None
        return _Who(
            subject=subject,
            user_id=user.id if user else None,
            password_hash=user.password_hash if user else None,
            active=bool(user and user.is_active),
            totp_secret=totp.secret if live and totp else None,
            totp_last_step=totp.last_step if live and totp else None,
        )


def _totp_step(secret: str, code: str | None, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (now, or one step either side), or None."""
    if not code or not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = int(utcnow().timestamp())
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if totp.verify(code, for_time=datetime.fromtimestamp(at, UTC), valid_window=0):
            step = at // totp.interval
            return None if last_step is not None and step <= last_step else step
    return None


def admin_login(
    store: Store, key: TokenKey, *, email: str, password: str, totp: str | None = None
) -> dict[str, Any]:
    who = _lookup(store, email)
    # Always one argon2 verification, whatever the account's state (timing is equal).
    if who.password_hash:
        ok = verify_secret(who.password_hash, password)
    else:
        _dummy_verify(password)
        ok = False
    ok = ok and who.active and who.user_id is not None
    step: int | None = None
    if ok and who.totp_secret:
        if not totp:
            # The password was right: no failure counted, but no token either.
            raise TotpRequired("this admin uses a second factor: send the current code")
        step = _totp_step(who.totp_secret, totp, who.totp_last_step)
        ok = step is not None
    with store.write() as s:
        if not ok:
            throttle.record_failure(s, CENTRAL_ORG, who.subject, Caller())
        else:
            throttle.record_success(s, CENTRAL_ORG, who.subject, Caller())
            if step is not None:
                row = s.get(AdminTotp, who.user_id)
                if row is not None:
                    row.last_step = step
    if not ok:
        raise Unauthenticated(BAD)
    now = int(utcnow().timestamp())
    claims = {"sub": who.user_id, "org": CENTRAL_ORG, "typ": "admin", "iss": key.issuer,
              "iat": now, "exp": now + key.minutes * 60}  # fmt: skip
    return {
        "access_token": jwt.encode(claims, key.secret, algorithm=ALGORITHM),
        "token_type": "bearer",
        "expires_in": key.minutes * 60,
    }


def limited_login(
    ctx: CentralContext, *, email: str, password: str, totp: str | None = None
) -> dict[str, Any]:
    """``admin_login`` behind the app's in-memory buckets: per e-mail and for all logins
    together, checked first so a flood spends no argon2 (the API and the console)."""
    ctx.login_buckets.check("email:" + email.strip().lower(), "admin login attempts")
    ctx.login_global.check("all", "admin login attempts")
    return admin_login(ctx.store, ctx.admin_key, email=email, password=password, totp=totp)


def start_totp(store: Store, *, user_id: str) -> dict[str, str]:
    """A new (unconfirmed) TOTP secret for an admin, as text and as an otpauth URI."""
    secret = pyotp.random_base32()
    with store.write() as s:
        user = s.get(User, (CENTRAL_ORG, user_id))
        if user is None:
            raise NotFound("admin not found")
        row = s.get(AdminTotp, user_id)
        if row is not None and row.confirmed_at is not None:
            raise Invalid("a second factor is already set up; remove it first")
        if row is None:
            s.add(AdminTotp(user_id=user_id, secret=secret, created_at=utcnow()))
        else:
            row.secret, row.created_at = secret, utcnow()
        label = user.email or user.id
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER_NAME)
    return {"secret": secret, "otpauth_uri": uri}


def confirm_totp(store: Store, *, user_id: str, code: str) -> None:
    """Turn the second factor on once the admin proves the app shows the right code."""
    with store.write() as s:
        row = s.get(AdminTotp, user_id)
        if row is None:
            raise NotFound("no second factor is being set up")
        step = _totp_step(row.secret, code, row.last_step)
        if step is None:
            raise Invalid("wrong code", details=[{"field": "code", "message": "wrong code"}])
        row.confirmed_at = utcnow()
        row.last_step = step
