"""The one app factory. Everything comes from the ``AppContext`` passed in; importing
this module does no work. The central server reuses it (or the routers) with its own
context and ``extra_routers``."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from local_api import problems, security
from local_api.context import AppContext
from local_api.deps import Deps

log = logging.getLogger(__name__)

RouterFactory = Callable[[AppContext], APIRouter]


def _optional_router(module: str, attr: str, context: AppContext) -> APIRouter | None:
    """Routers other packages add when they exist (live stream, web pages)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    factory = getattr(mod, attr, None)
    return factory(context) if callable(factory) else None


def create_app(
    context: AppContext,
    *,
    extra_routers: Iterable[APIRouter | RouterFactory] = (),
    title: str = "Structura site API",
    live: bool = True,
    web: bool = True,
) -> FastAPI:
    from local_api.routes import actions, conflicts, entities, reports, system
    from local_api.routes import auth as auth_routes

    settings = context.settings
    app = FastAPI(
        title=title,
        version=system.API_VERSION,
        description=(
            "REST API of a Structura site. Errors are application/problem+json "
            "(RFC 9457). Authenticate with a bearer token from /api/auth/login or "
            "/api/auth/pin; send the row version (If-Match) with updates and deletes."
        ),
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.context = context
    deps = Deps(context)
    app.state.deps = deps
    problems.install(app)
    app.include_router(system.router(deps))
    app.include_router(auth_routes.router(deps))
    app.include_router(actions.router(deps))
    app.include_router(reports.router(deps))
    app.include_router(conflicts.router(deps))
    if live:
        live_router = _optional_router("local_api.live", "live_router", context)
        if live_router is not None:
            app.include_router(live_router)
    # Entity routes last: /api/{entity}/... must not shadow the fixed paths above.
    app.include_router(entities.router(deps))
    for extra in extra_routers:
        app.include_router(extra if isinstance(extra, APIRouter) else extra(context))
    if web:
        web_router = _optional_router("local_api.web", "web_router", context)
        if web_router is not None:
            app.include_router(web_router)
    security.install(
        app,
        allowed_hosts=list(settings.allowed_hosts),
        max_body_bytes=settings.max_body_bytes,
        cors_origins=list(settings.cors_origins),
    )
    # Outermost: /healthz, /readyz, /metrics and the request id in the log context.
    from local_api.metrics import observe_site

    observe_site(app, context)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    # FastAPI files every response model under application/json; problem documents are
    # application/problem+json, so move their schema there.
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for status, resp in op.get("responses", {}).items():
                content = resp.get("content", {})
                if not status.isdigit() or int(status) < 400:
                    continue
                js = content.pop("application/json", None)
                if js is not None:
                    content[problems.PROBLEM] = js
    app.openapi_schema = schema
    return schema
