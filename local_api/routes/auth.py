"""``/api/auth``: password and PIN login, refresh with rotation, logout, me, and the
keypad's user list. The logic is ``core.identity.auth``; this parses and maps."""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from apikit.problems import AUTHED, COMMON, responses
from core.errors import Unauthenticated
from core.fields import ID_MAX_LENGTH, RefId
from core.identity import auth, sessions
from core.identity.pins import LOGIN_PIN_PATTERN
from core.identity.schemas import Pin
from core.identity.security import token_digest
from core.models import User
from core.queries import row_json
from core.registry import registry
from local_api.deps import (
    ContextDep,
    CurrentActor,
    CurrentClaims,
    DeviceId,
    DeviceKey,
    Throttles,
    ThrottlesDep,
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PasswordLogin(_In):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class PinLogin(_In):
    user_id: RefId
    pin: str = Field(pattern=LOGIN_PIN_PATTERN)


class PinChange(_In):
    current_pin: str = Field(pattern=LOGIN_PIN_PATTERN)
    new_pin: Pin


class RefreshIn(_In):
    refresh_token: str = Field(min_length=16, max_length=200)


class MeIn(_In):
    language: Literal["es", "en"]


class LogoutIn(_In):
    refresh_token: str | None = Field(default=None, min_length=16, max_length=200)


class SessionOut(BaseModel):
    id: str
    user_id: str
    device_id: str | None
    paired: bool
    ip_address: str | None
    user_agent: str | None
    created_at: str
    last_seen_at: str
    current: bool


class PinUser(BaseModel):
    id: str
    name: str
    role: str
    language: str


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str
    refresh_expires_at: str
    pin_change_required: bool = Field(
        default=False, description="the PIN no longer meets the policy: ask for a new one"
    )
    user: dict[str, Any]


class Ok(BaseModel):
    ok: bool


router = APIRouter(prefix="/api/auth", tags=["auth"])


def _user_json(user: User) -> dict[str, Any]:
    return row_json(registry()["users"], user)


def _client(request: Request) -> sessions.ClientInfo:
    return sessions.ClientInfo(
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _throttle(throttles: Throttles, account: str, caller: auth.Caller) -> None:
    # Per account *and* kind of caller: a flood from unpaired clients never empties
    # a paired tablet's bucket. The site-wide bucket (it caps argon2 work) applies
    # to unpaired callers only, after their own account's bucket.
    if caller.paired:
        throttles.login_buckets.check(f"{account}:{caller.device_id}", "login attempts")
        return
    throttles.login_buckets.check(f"{account}:unpaired", "login attempts for this account")
    throttles.login_global.check("all", "login attempts")


def _log_in(
    request: Request,
    ctx: Any,
    throttles: Throttles,
    device_id: str | None,
    device_key: str | None,
    account: str,
    login: Callable[..., Any],
    **credentials: str,
) -> dict[str, Any]:
    """Who is calling (a paired tablet or not), their bucket, then the core login."""
    caller = auth.identify(ctx.store, ctx.site.org_id, device_id, device_key)
    _throttle(throttles, account, caller)
    pair = login(ctx.store, ctx.token_policy, org_id=ctx.site.org_id, caller=caller,
                 client=_client(request), **credentials)  # fmt: skip
    return pair.as_json(_user_json(pair.user))


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Log in with e-mail and password",
    responses=responses(*COMMON, 401, 422),
)
def login(
    body: PasswordLogin,
    request: Request,
    ctx: ContextDep,
    throttles: ThrottlesDep,
    device_id: DeviceId = None,
    device_key: DeviceKey = None,
) -> dict[str, Any]:
    return _log_in(
        request, ctx, throttles, device_id, device_key, "email:" + body.email.strip().lower(),
        auth.login_password, email=body.email, password=body.password,
    )  # fmt: skip


@router.post(
    "/pin",
    response_model=TokenOut,
    summary="Log in with user and PIN (keypad)",
    responses=responses(*COMMON, 401, 422),
)
def pin_login(
    body: PinLogin,
    request: Request,
    ctx: ContextDep,
    throttles: ThrottlesDep,
    device_id: DeviceId = None,
    device_key: DeviceKey = None,
) -> dict[str, Any]:
    return _log_in(
        request, ctx, throttles, device_id, device_key, "user:" + body.user_id,
        auth.login_pin, user_id=body.user_id, pin=body.pin,
    )  # fmt: skip


@router.get(
    "/pin-users",
    response_model=list[PinUser],
    summary="Active users who can log in with a PIN (for the keypad)",
    responses=responses(*COMMON),
)
def pin_users(ctx: ContextDep) -> list[dict[str, Any]]:
    with ctx.store.read() as s:
        return auth.pin_users(s, org_id=ctx.site.org_id)


@router.post(
    "/refresh",
    response_model=TokenOut,
    responses=responses(*COMMON, 401, 422),
    summary="Exchange a refresh token for new tokens (the old one stops working)",
)
def refresh(
    body: RefreshIn, ctx: ContextDep, throttles: ThrottlesDep, device_id: DeviceId = None
) -> dict[str, Any]:
    # Its own bucket per presented token: a login flood must never log a page out.
    throttles.refresh_buckets.check(token_digest(body.refresh_token), "token refreshes")
    try:
        pair = auth.refresh(
            ctx.store, ctx.token_policy, token=body.refresh_token, device_id=device_id
        )
    except auth.FamilyRefused:
        ctx.sessions.clear()  # access tokens of the ended login stop at once
        raise
    return pair.as_json(_user_json(pair.user))


@router.post(
    "/logout",
    response_model=Ok,
    responses=responses(*AUTHED, 422),
    summary="End this login (its refresh tokens stop working at once)",
)
def logout(claims: CurrentClaims, ctx: ContextDep, body: LogoutIn | None = None) -> dict[str, bool]:
    with ctx.store.write() as s:
        auth.logout(
            s,
            org_id=claims.org_id,
            user_id=claims.user_id,
            family_id=claims.session_id,
            token=body.refresh_token if body else None,
        )
    ctx.sessions.clear()
    return {"ok": True}


def _user_read() -> Any:
    return registry()["users"].read


@router.get(
    "/me", response_model=_user_read(), responses=responses(*AUTHED), summary="The logged-in user"
)
def me(actor: CurrentActor, ctx: ContextDep) -> Any:
    with ctx.store.read() as s:
        user = s.get(User, (actor.org_id, actor.user_id))
        if user is None:
            raise Unauthenticated("user no longer exists")
        return _user_json(user)


@router.patch(
    "/me",
    response_model=_user_read(),
    responses=responses(*AUTHED, 422),
    summary="Change your own preferences (language)",
)
def update_me(body: MeIn, actor: CurrentActor, ctx: ContextDep) -> Any:
    with ctx.store.write() as s:
        user = auth.set_own_preferences(s, actor=actor, language=body.language)
        return _user_json(user)


@router.get(
    "/sessions",
    response_model=list[SessionOut],
    responses=responses(*AUTHED, 422),
    summary="Active logins: your own, or (admin) another user's with ?user_id=",
)
def list_sessions(
    claims: CurrentClaims,
    ctx: ContextDep,
    user_id: Annotated[str | None, Query(max_length=ID_MAX_LENGTH)] = None,
) -> list[dict[str, Any]]:
    with ctx.store.read() as s:
        return sessions.active(s, actor=claims.actor(), user_id=user_id, current=claims.session_id)


@router.post(
    "/sessions/{session_id}/end",
    response_model=Ok,
    responses=responses(*AUTHED, 404),
    summary="End one login (yours, or anyone's for an admin); its tokens stop working",
)
def end_session(session_id: str, actor: CurrentActor, ctx: ContextDep) -> dict[str, bool]:
    with ctx.store.write() as s:
        sessions.end(s, actor=actor, session_id=session_id)
    ctx.sessions.clear()
    return {"ok": True}


@router.post(
    "/pin/change",
    response_model=_user_read(),
    responses=responses(*AUTHED, 422),
    summary="Change your own PIN (current PIN required; the new one meets the policy)",
)
def change_pin(body: PinChange, actor: CurrentActor, ctx: ContextDep) -> Any:
    user = auth.change_own_pin(
        ctx.store, actor=actor, current_pin=body.current_pin, new_pin=body.new_pin
    )
    return _user_json(user)
