"""``/api/auth``: password and PIN login, refresh with rotation, logout, me, and the
keypad's user list. The logic is ``core.services.auth``; this parses and maps."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from core.errors import Unauthenticated
from core.models import User
from core.registry import registry
from core.schemas.people import Pin
from core.services import auth
from core.services.queries import row_json
from core.services.writes import Actor
from local_api.deps import Deps, DeviceId
from local_api.problems import AUTHED, COMMON, responses


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PasswordLogin(_In):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class PinLogin(_In):
    user_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    pin: Pin


class RefreshIn(_In):
    refresh_token: str = Field(min_length=16, max_length=200)


class MeIn(_In):
    language: Literal["es", "en"]


class LogoutIn(_In):
    refresh_token: str | None = Field(default=None, min_length=16, max_length=200)


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
    user: dict[str, Any]


class Ok(BaseModel):
    ok: bool


def router(deps: Deps) -> APIRouter:
    ctx = deps.context
    r = APIRouter(prefix="/api/auth", tags=["auth"])
    users = registry()["users"]
    UserRead = users.read

    def _user_json(user: User) -> dict[str, Any]:
        return row_json(users, user)

    def _throttle(account: str) -> None:
        deps.login_global.check("all", "login attempts")
        deps.login_buckets.check(account, "login attempts for this account")

    @r.post(
        "/login",
        response_model=TokenOut,
        summary="Log in with e-mail and password",
        responses=responses(*COMMON, 401, 422),
    )
    def login(body: PasswordLogin, device_id: DeviceId = None) -> dict[str, Any]:
        _throttle("email:" + body.email.strip().lower())
        pair = auth.login_password(
            ctx.store,
            ctx.token_policy,
            org_id=ctx.site.org_id,
            email=body.email,
            password=body.password,
            device_id=device_id,
        )
        return pair.as_json(_user_json(pair.user))

    @r.post(
        "/pin",
        response_model=TokenOut,
        summary="Log in with user and PIN (keypad)",
        responses=responses(*COMMON, 401, 422),
    )
    def pin_login(body: PinLogin, device_id: DeviceId = None) -> dict[str, Any]:
        _throttle("user:" + body.user_id)
        pair = auth.login_pin(
            ctx.store,
            ctx.token_policy,
            org_id=ctx.site.org_id,
            user_id=body.user_id,
            pin=body.pin,
            device_id=device_id,
        )
        return pair.as_json(_user_json(pair.user))

    @r.get(
        "/pin-users",
        response_model=list[PinUser],
        summary="Active users who can log in with a PIN (for the keypad)",
        responses=responses(*COMMON),
    )
    def pin_users() -> list[dict[str, Any]]:
        with ctx.store.read() as s:
            return auth.pin_users(s, org_id=ctx.site.org_id)

    @r.post(
        "/refresh",
        response_model=TokenOut,
        responses=responses(*COMMON, 401, 422),
        summary="Exchange a refresh token for new tokens (the old one stops working)",
    )
    def refresh(body: RefreshIn, device_id: DeviceId = None) -> dict[str, Any]:
        deps.login_global.check("all", "token refreshes")
        try:
            pair = auth.refresh(
                ctx.store, ctx.token_policy, token=body.refresh_token, device_id=device_id
            )
        except auth.FamilyRefused:
            ctx.sessions.clear()  # access tokens of the ended login stop at once
            raise
        return pair.as_json(_user_json(pair.user))

    @r.post(
        "/logout",
        response_model=Ok,
        responses=responses(*AUTHED, 422),
        summary="End this login (its refresh tokens stop working at once)",
    )
    def logout(
        claims: Annotated[auth.Claims, Depends(deps.current_claims)],
        body: LogoutIn | None = None,
    ) -> dict[str, bool]:
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

    @r.get(
        "/me", response_model=UserRead, responses=responses(*AUTHED), summary="The logged-in user"
    )
    def me(actor: Annotated[Actor, Depends(deps.current_actor)]) -> Any:
        with ctx.store.read() as s:
            user = s.get(User, (actor.org_id, actor.user_id))
            if user is None:
                raise Unauthenticated("user no longer exists")
            return _user_json(user)

    @r.patch(
        "/me",
        response_model=UserRead,
        responses=responses(*AUTHED, 422),
        summary="Change your own preferences (language)",
    )
    def update_me(body: MeIn, actor: Annotated[Actor, Depends(deps.current_actor)]) -> Any:
        with ctx.store.write() as s:
            user = auth.set_own_preferences(s, actor=actor, language=body.language)
            return _user_json(user)

    return r
