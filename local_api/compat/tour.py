"""``/compat/tour/api/...``: the old tour app's backend (set its ``VITE_API_URL`` to
``http://SITE/compat/tour/api``): accounts, shows with nested costs, batch, and the
offline sync trio, with the bodies and answers of the app's backend plan.

Statuses are the plan's: 400 for invalid input (the native API says 422), 401, 403,
404, 409 with the current show. Bodies of refusals are problem documents.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from apikit.problems import AUTHED, COMMON, problem_response, responses
from apikit.rows import json_response, write_tx
from core.compat import rows, tour, tour_sync
from core.errors import Invalid, Unauthenticated
from core.identity import auth
from core.models import User
from local_api.compat import AppDeps, Context, CurrentActor, current_claims
from local_api.deps import DeviceId

PREFIX = "/compat/tour/api"
MAX_OPS = 500


class TourRoute(APIRoute):
    """Invalid input is 400 in the tour plan: refusals of these routes say so."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [
                    {
                        "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body")
                        or "body",
                        "message": str(e.get("msg", "")),
                    }
                    for e in exc.errors()
                ]
                summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
                return problem_response(
                    request, 400, f"invalid request: {summary}", code="invalid", errors=errors
                )
            except Invalid as exc:
                details = exc.details if isinstance(exc.details, list) else None
                return problem_response(request, 400, exc.message, code=exc.code, errors=details)

        return route


router = APIRouter(prefix=PREFIX, tags=["compat: tour app"], route_class=TourRoute)
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Show = Annotated[dict[str, Any], Body(description="a show as the app keeps it (costs nested)")]


class _TourIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)


class TourRegister(_TourIn):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=8, max_length=256)
    full_name: str = Field(alias="fullName", min_length=1, max_length=200)


class TourLogin(_TourIn):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class TourRefresh(_TourIn):
    # Missing or malformed is an invalid refresh token (401, as the plan says), not 400:
    # the app's interceptor refreshes after any 401, even with no token stored.
    refresh_token: Any = Field(default=None, alias="refreshToken")


class TourOperations(_TourIn):
    operations: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_OPS)


class TourConflicts(_TourIn):
    conflicts: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_OPS)


class TourTokens(BaseModel):
    userId: str
    token: str
    refreshToken: str
    user: dict[str, Any]


class TourRefreshOut(BaseModel):
    token: str
    refreshToken: str


class TourSuccess(BaseModel):
    success: bool


# ---------------------------------------------------------------- auth


@router.post(
    "/auth/register",
    response_model=TourTokens,
    status_code=201,
    summary="Create an account (when the site opens registration)",
    responses=responses(*COMMON, 403, 409),
)
def register(body: TourRegister, ctx: Context, deps: AppDeps, device_id: DeviceId = None) -> Any:
    deps.login_global.check("all", "registrations")
    pair = tour.register(
        ctx.store,
        ctx.token_policy,
        org_id=ctx.site.org_id,
        role=ctx.settings.tour_register_role,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        device_id=device_id,
    )
    return json_response(tour.tokens_json(pair), 201)


@router.post(
    "/auth/login",
    response_model=TourTokens,
    summary="Log in with e-mail and password",
    responses=responses(*COMMON, 401),
)
def login(body: TourLogin, ctx: Context, deps: AppDeps, device_id: DeviceId = None) -> Any:
    deps.login_global.check("all", "login attempts")
    deps.login_buckets.check("email:" + body.email.lower(), "login attempts for this account")
    pair = auth.login_password(
        ctx.store,
        ctx.token_policy,
        org_id=ctx.site.org_id,
        email=body.email,
        password=body.password,
        device_id=device_id,
    )
    return tour.tokens_json(pair)


@router.post(
    "/auth/refresh",
    response_model=TourRefreshOut,
    summary="A new access token ({token}) and the next refresh token (rotated)",
    responses=responses(*COMMON, 401),
)
def refresh(body: TourRefresh, ctx: Context, deps: AppDeps, device_id: DeviceId = None) -> Any:
    deps.login_global.check("all", "token refreshes")
    token = body.refresh_token
    if not isinstance(token, str) or not 16 <= len(token) <= 200:
        raise Unauthenticated("refresh token not valid")
    try:
        pair = auth.refresh(ctx.store, ctx.token_policy, token=token, device_id=device_id)
    except auth.FamilyRefused:
        ctx.sessions.clear()
        raise
    return {"token": pair.access_token, "refreshToken": pair.refresh_token}


@router.post(
    "/auth/logout",
    response_model=TourSuccess,
    summary="End this login",
    responses=responses(*AUTHED),
)
def logout(claims: Annotated[auth.Claims, Depends(current_claims)], ctx: Context) -> Any:
    with ctx.store.write() as s:
        auth.logout(s, org_id=claims.org_id, user_id=claims.user_id, family_id=claims.session_id)
    ctx.sessions.clear()
    return {"success": True}


@router.get("/auth/me", summary="The logged-in user ({user})", responses=responses(*AUTHED))
def me(actor: CurrentActor, ctx: Context) -> Any:
    with ctx.store.read() as s:
        user = s.get(User, (actor.org_id, actor.user_id))
        if user is None or user.deleted_at is not None:
            raise Unauthenticated("user no longer exists")
        return {"user": tour.user_json(user)}


# ---------------------------------------------------------------- shows


@router.get(
    "/shows",
    summary="Shows ({shows, total}); every show unless limit is given",
    responses=responses(*AUTHED),
)
def list_shows(
    actor: CurrentActor,
    deps: AppDeps,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    with deps.context.store.read() as s:
        shows, total = tour.list_shows(s, actor, status=status, limit=limit, offset=offset)
        return json_response({"shows": tour.shows_json(s, actor, shows), "total": total})


@router.post(
    "/shows/batch",
    summary="Several creates, updates and deletes ({results}); each stands alone",
    responses=responses(*AUTHED),
)
def batch(body: TourOperations, actor: CurrentActor, deps: AppDeps) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    results = []
    with write_tx(deps.context.store) as s:
        for i, op in enumerate(body.operations):
            raw = op.get("data")
            data: dict[str, Any] = raw if isinstance(raw, dict) else {}
            if op.get("id") is not None:
                data = {**data, "id": op["id"]}
            results.append({"index": i, **tour.run_op(s, actor, str(op.get("op")), data)})
    return json_response({"results": results})


@router.get("/shows/{id}", summary="One show ({show})", responses=responses(*AUTHED, 404))
def get_show(id: Id, actor: CurrentActor, deps: AppDeps) -> Any:
    spec = tour.spec_for(tour.SHOWS)
    deps.module_enabled(spec)
    with deps.context.store.read() as s, rows.legacy_errors(spec):
        return json_response({"show": tour.show_json(s, actor, rows.get(s, actor, spec, id))})


@router.post(
    "/shows", status_code=201, summary="Create a show ({show})", responses=responses(*AUTHED, 409)
)
def create_show(body: Show, actor: CurrentActor, deps: AppDeps) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    with write_tx(deps.context.store) as s:
        out = tour.show_json(s, actor, tour.create_show(s, actor, body))
    return json_response({"show": out}, 201)


@router.patch(
    "/shows/{id}",
    summary="Change a show ({show}); with version, checked (409)",
    responses=responses(*AUTHED, 404, 409),
)
def update_show(id: Id, body: Show, actor: CurrentActor, deps: AppDeps) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    with write_tx(deps.context.store) as s:
        out = tour.show_json(s, actor, tour.update_show(s, actor, id, body))
    return json_response({"show": out})


@router.delete(
    "/shows/{id}", summary="Delete a show ({success})", responses=responses(*AUTHED, 404, 409)
)
def delete_show(
    id: Id,
    actor: CurrentActor,
    deps: AppDeps,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    with write_tx(deps.context.store) as s:
        tour.delete_show(s, actor, id, version)
    return {"success": True}


# ---------------------------------------------------------------- sync


@router.get(
    "/sync/events",
    summary="Changes after a cursor ({events, timestamp}); timestamp is the next cursor",
    responses=responses(*AUTHED),
)
def sync_events(
    actor: CurrentActor,
    deps: AppDeps,
    since: Annotated[int, Query(ge=0, description="timestamp of the previous answer")] = 0,
    limit: Annotated[int, Query(ge=1, le=tour_sync.MAX_EVENTS)] = tour_sync.MAX_EVENTS,
) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    with deps.context.store.read() as s:
        return json_response(tour_sync.events(s, actor, since=since, limit=limit))


@router.post(
    "/sync/flush",
    summary="Apply the offline queue, each operation once ({results, conflicts})",
    responses=responses(*AUTHED),
)
def sync_flush(body: TourOperations, actor: CurrentActor, deps: AppDeps) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    with write_tx(deps.context.store) as s:
        out = tour_sync.flush(s, actor, body.operations)
    return json_response(out)


@router.post(
    "/sync/resolve-conflicts",
    summary="Apply the chosen values of conflicts ({resolved}); all or nothing",
    responses=responses(*AUTHED, 404),
)
def sync_resolve(body: TourConflicts, actor: CurrentActor, deps: AppDeps) -> Any:
    deps.module_enabled(tour.spec_for(tour.SHOWS))
    with write_tx(deps.context.store) as s:
        out = tour_sync.resolve(s, actor, body.conflicts)
    return json_response(out)
