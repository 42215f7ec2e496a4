"""The console's login session: a signed cookie (HttpOnly, SameSite=Strict, Secure over
HTTPS) carrying the admin's id and the session's CSRF token; every form posts the token
back and a request whose token does not match is refused before anything is read.

The password check is the central admin login service (``central.admin_auth``, behind
the same in-memory buckets as ``/api/admin/login``), so whatever hardens that login
(throttling, lockout, constant-time answers, the TOTP second factor) applies to the
console too.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import jwt

from central import admin_auth
from central import enroll as svc
from central.enroll import ALGORITHM, TokenKey
from core.clock import utcnow
from core.errors import Forbidden, Unauthenticated

COOKIE = "structura_console"
LOGIN_CSRF_COOKIE = "structura_console_login"
ISSUER = "central-console"


class CsrfRefused(Forbidden):
    code = "csrf_refused"


def login(ctx: Any, *, email: str, password: str, totp: str | None = None) -> str:
    """Check the password (and the TOTP code, when the admin has one) with the admin
    login service; the admin's user id. A refusal with the code ``totp_required`` brings
    the login page back with a field for that code."""
    answer = admin_auth.limited_login(ctx, email=email, password=password, totp=totp)
    claims = svc.decode_token(ctx.admin_key, answer["access_token"], "admin")
    return str(claims["sub"])


def new_session(key: TokenKey, user_id: str, *, minutes: int) -> tuple[str, str]:
    """(cookie value, csrf token) of a fresh session."""
    csrf = secrets.token_urlsafe(24)
    now = int(utcnow().timestamp())
    claims = {
        "sub": user_id,
        "typ": "console",
        "iss": ISSUER,
        "csrf": csrf,
        "iat": now,
        "exp": now + minutes * 60,
    }
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM), csrf


def read_session(key: TokenKey, value: str | None) -> dict[str, Any]:
    if not value:
        raise Unauthenticated("no console session")
    try:
        claims = jwt.decode(
            value,
            key.secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "csrf"]},
        )
    except jwt.PyJWTError:
        raise Unauthenticated("console session expired or invalid") from None
    if claims.get("typ") != "console":
        raise Unauthenticated("not a console session")
    return claims


def check_csrf(expected: str | None, given: str | None) -> None:
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise CsrfRefused("the form is stale or was not made by this console; reload the page")


def cookie_args(secure: bool, max_age: int | None = None) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": secure,
        "path": "/console",
        "max_age": max_age,
    }
