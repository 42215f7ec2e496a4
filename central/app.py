"""The central server: the sync hub and organisation/site/device admin on PostgreSQL.

Central admins browse and correct any organisation's rows in the local API's shape
under ``/api/orgs/{org_id}/{entity}`` (``central.data_routes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from central import admin_routes, data_routes, sync_routes
from central.context import CentralContext
from local_api import problems, security

VERSION = "1"


def create_central_app(ctx: CentralContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if ctx.notifier is not None:
            ctx.notifier.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            if ctx.notifier is not None:
                ctx.notifier.stop()

    app = FastAPI(
        title="Structura central server",
        version=VERSION,
        description=(
            "Sync hub (enrol, push, pull, snapshot, conflicts) and organisation admin. "
            "Every /api/sync request carries the X-Structura-Schema header; errors are "
            "application/problem+json."
        ),
        lifespan=lifespan,
    )
    app.state.context = ctx
    problems.install(app)
    settings = ctx.settings
    security.install(
        app,
        allowed_hosts=settings.allowed_hosts,
        max_body_bytes=settings.max_body_bytes,
        cors_origins=settings.cors_origins,
    )
    app.include_router(sync_routes.router(ctx))
    app.include_router(admin_routes.router(ctx))
    app.include_router(data_routes.router(ctx))

    @app.get("/api/health", tags=["system"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # /healthz, /readyz, /metrics, X-Request-ID and JSON access lines (packaging, issue 7).
    from local_api.metrics import observe_central

    observe_central(app, ctx)
    return app


def app_from_env() -> FastAPI:
    """One worker's app, settings from the environment: what ``structura central serve
    --workers N`` (and ``uvicorn --factory central.app:app_from_env``) starts per process."""
    from central.settings import CentralSettings
    from core.logging_setup import configure

    settings = CentralSettings()
    configure(settings.log_level)  # a spawned worker starts with no logging set up
    return create_central_app(CentralContext.open(settings))
