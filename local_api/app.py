"""The site API's one app factory. Everything per app comes from the ``AppContext``
passed in and is kept on ``app.state`` (the context, the rate limits, the shared board),
where the module-level routers' dependencies (``local_api.deps``) find it; importing this
module does no work. The HTTP plumbing is ``apikit``'s, shared with the central server."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, FastAPI

from apikit import openapi, problems, security
from local_api.context import AppContext
from local_api.deps import Throttles

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
    from apikit import observe
    from local_api.routes import (
        actions,
        attachments,
        conflicts,
        devices,
        display,
        entities,
        reports,
        system,
    )
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
        telemetry=observe.NATIVE_TELEMETRY_OFF,
    )
    app.state.context = context
    app.state.throttles = Throttles(context.limits)
    app.state.board = actions.shared_board(context)
    app.state.queues = actions.shared_queues(context)
    # The shop-floor writes' threads (routes.actions.in_writer); started on first use.
    app.state.writers = ThreadPoolExecutor(4, thread_name_prefix="structura-writer")
    problems.install(app)
    # FastAPI tries the routers in order: the shop floor's, called all day, first.
    app.include_router(actions.router)
    app.include_router(system.router)
    app.include_router(auth_routes.router)
    app.include_router(devices.router)
    app.include_router(reports.router)
    app.include_router(conflicts.router)
    from local_api.compat import factory as compat_factory
    from local_api.compat import tour as compat_tour

    app.include_router(compat_factory.router)
    app.include_router(compat_tour.router)
    app.include_router(display.router)
    app.include_router(attachments.router)
    if live:
        live_router = _optional_router("local_api.live", "live_router", context)
        if live_router is not None:
            app.include_router(live_router)
    # Entity routes last: /api/{entity}/... must not shadow the fixed paths above.
    app.include_router(entities.router(context.site.modules))
    for extra in extra_routers:
        app.include_router(extra if isinstance(extra, APIRouter) else extra(context))
    if settings.frontend_dir is not None:
        from local_api.compat.frontend import mount_frontend

        mount_frontend(app, settings.frontend_dir, settings.frontend_path)
    if web:
        web_router = _optional_router("local_api.web", "web_router", context)
        if web_router is not None:
            app.include_router(web_router)
    # Inside the security layer (host and size checks first), outside the routes.
    from local_api import httpcache, idempotency

    idempotency.install(app)
    httpcache.install(app)
    security.install(
        app,
        allowed_hosts=settings.effective_allowed_hosts(),
        max_body_bytes=settings.max_body_bytes,
        cors_origins=list(settings.cors_origins),
        large_bodies={
            ("POST", attachments.UPLOAD_PATH): settings.attachment_max_bytes + attachments.ENVELOPE
        },
    )
    # Outermost: /healthz, /readyz, /metrics and the request id in the log context.
    from local_api.metrics import observe_site

    observe_site(app, context)
    openapi.install(app)
    return app
