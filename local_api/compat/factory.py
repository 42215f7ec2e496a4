"""``/compat/factory/api/...``: the old factory app's backend (set its
``VITE_API_URL`` to ``http://SITE/compat/factory``).

Lists are arrays of every row, single rows bare, rows in the app's own field names and
enum values (``core.legacy``); writes go through the one write path as the logged-in
user. Errors are problem documents with the native API's status codes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from apikit.problems import AUTHED, COMMON, responses
from apikit.rows import json_response, write_tx
from core.compat import factory as service
from core.compat import rows
from core.errors import Unauthenticated
from core.identity import auth
from core.identity.pins import LOGIN_PIN_PATTERN
from core.models import User
from local_api.compat import AppDeps, Context, CurrentActor
from local_api.deps import DeviceId

PREFIX = "/compat/factory/api"
router = APIRouter(prefix=PREFIX, tags=["compat: factory app"])

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Collection = Annotated[str, Path(pattern="^(" + "|".join(service.ENTITIES) + ")$")]
Row = Annotated[dict[str, Any], Body(description="a row as the old app keeps it")]


class FactoryPinLogin(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)
    # Login bounds, not the new-PIN policy: older 4-digit PINs still log in.
    pin: str = Field(pattern=LOGIN_PIN_PATTERN)
    user_id: str | None = Field(
        default=None, alias="userId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$"
    )


class FactoryLoginOut(BaseModel):
    token: str
    user: dict[str, Any]


class FactorySuccess(BaseModel):
    success: bool


@router.post(
    "/auth/login",
    response_model=FactoryLoginOut,
    summary="PIN login ({pin}; {userId, pin} for the keypad)",
    responses=responses(*COMMON, 401, 422),
)
def login(body: FactoryPinLogin, ctx: Context, deps: AppDeps, device_id: DeviceId = None) -> Any:
    deps.login_global.check("all", "login attempts")
    subject = f"user:{body.user_id}" if body.user_id else f"pin-only:{device_id or '-'}"
    deps.login_buckets.check(subject, "login attempts")
    return service.login(
        ctx.store,
        ctx.token_policy,
        org_id=ctx.site.org_id,
        pin=body.pin,
        user_id=body.user_id,
        device_id=device_id,
        hours=ctx.settings.compat_token_hours,
    )


@router.post(
    "/auth/logout",
    response_model=FactorySuccess,
    summary="End this login",
    description="The app forgets its token before it calls this, so a call without one "
    "is answered too (there is nothing to end).",
    responses=responses(*COMMON),
)
def logout(
    ctx: Context,
    authorization: Annotated[
        str | None, Header(description="Bearer token, if the app still has one")
    ] = None,
) -> Any:
    # Read by hand, not as a security requirement: a call without a token is answered.
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and token:
        try:
            claims = ctx.authenticate(token.strip())
        except Unauthenticated:
            return {"success": True}  # already ended or expired: nothing to end
        with ctx.store.write() as s:
            auth.logout(
                s, org_id=claims.org_id, user_id=claims.user_id, family_id=claims.session_id
            )
        ctx.sessions.clear()
    return {"success": True}


@router.get(
    "/auth/me",
    summary="The logged-in user (bare, as the app stores it)",
    responses=responses(*AUTHED),
)
def me(actor: CurrentActor, ctx: Context) -> Any:
    with ctx.store.read() as s:
        user = s.get(User, (actor.org_id, actor.user_id))
        if user is None or user.deleted_at is not None:
            raise Unauthenticated("user no longer exists")
        return json_response(service.user_json(user))


@router.get(
    "/{collection}",
    summary="Every row of a collection (an array)",
    responses=responses(*AUTHED, 404),
)
def list_all(collection: Collection, actor: CurrentActor, deps: AppDeps) -> Any:
    spec = service.spec(collection)
    deps.module_enabled(spec)
    with deps.context.store.read() as s:
        return json_response([rows.present(spec, r) for r in rows.list_all(s, actor, spec)])


@router.get(
    "/{collection}/{id}",
    summary="One row (404 if unknown)",
    responses=responses(*AUTHED, 404),
)
def get_one(collection: Collection, id: Id, actor: CurrentActor, deps: AppDeps) -> Any:
    spec = service.spec(collection)
    deps.module_enabled(spec)
    with deps.context.store.read() as s, rows.legacy_errors(spec):
        return json_response(rows.present(spec, rows.get(s, actor, spec, id)))


@router.post(
    "/{collection}",
    status_code=201,
    summary="Create a row (with the app's id if it sends one)",
    responses=responses(*AUTHED, 404, 409, 422),
)
def create(collection: Collection, body: Row, actor: CurrentActor, deps: AppDeps) -> Any:
    spec = service.spec(collection)
    deps.module_enabled(spec)
    with write_tx(deps.context.store) as s:
        out = rows.present(spec, rows.create(s, actor, spec, body))
    return json_response(out, 201)


@router.patch(
    "/{collection}/{id}",
    summary="Change some fields (last write wins unless the body carries version)",
    responses=responses(*AUTHED, 404, 409, 422),
)
def update(collection: Collection, id: Id, body: Row, actor: CurrentActor, deps: AppDeps) -> Any:
    spec = service.spec(collection)
    deps.module_enabled(spec)
    with write_tx(deps.context.store) as s:
        out = rows.present(spec, rows.update(s, actor, spec, id, body))
    return json_response(out)


@router.delete(
    "/{collection}/{id}",
    summary="Delete a row (a tombstone that syncs)",
    responses=responses(*AUTHED, 404, 409, 422),
)
def delete(
    collection: Collection,
    id: Id,
    actor: CurrentActor,
    deps: AppDeps,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    spec = service.spec(collection)
    deps.module_enabled(spec)
    with write_tx(deps.context.store) as s:
        rows.delete(s, actor, spec, id, version)
    return {"success": True}
