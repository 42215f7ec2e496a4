"""The central server's one app factory: the sync hub (``central.sync_routes``),
organisation/site/device admin (``central.admin_routes``) and the admins' view of any
organisation's rows in the site API's shape (``central.data_routes``), over
PostgreSQL. The HTTP plumbing (problem+json, request hardening, metrics and probes) is
the same as the site's, from ``apikit``; nothing here imports ``local_api``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from apikit import openapi, problems, security
from central import admin_routes, blob_routes, data_routes, sync_routes
from central.blobs import MAX_CHUNK
from central.console import pages as console
from central.console import records as console_records
from central.context import CentralContext
from central.metrics import observe_central, worker_exited

log = logging.getLogger(__name__)

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
            ctx.reads.dispose()  # the replica's pool, if any
            worker_exited()

    from apikit import observe

    app = FastAPI(
        title="Structura central server",
        version=VERSION,
        description=(
            "Sync hub (enrol, push, pull, snapshot, conflicts) and organisation admin. "
            "Every /api/sync request carries the X-Structura-Schema header; errors are "
            "application/problem+json."
        ),
        lifespan=lifespan,
        telemetry=observe.NATIVE_TELEMETRY_OFF,
    )
    app.state.context = ctx
    problems.install(app)
    settings = ctx.settings
    hosts = settings.effective_allowed_hosts()
    if hosts == ["*"] and settings.env == "production":
        log.warning("any Host header is answered: set STRUCTURA_CENTRAL_PUBLIC_URL "
                    "(or STRUCTURA_CENTRAL_ALLOWED_HOSTS) to the server's public name")  # fmt: skip
    security.install(
        app,
        allowed_hosts=hosts,
        max_body_bytes=settings.max_body_bytes,
        cors_origins=settings.cors_origins,
        large_bodies={("PUT", blob_routes.PREFIX): MAX_CHUNK},
    )
    app.include_router(sync_routes.router(ctx))
    app.include_router(blob_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(data_routes.build_router())
    app.include_router(console.router)  # the admins' web console, /console/
    app.include_router(console_records.router)

    @app.get("/api/health", tags=["system"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # Outermost: /healthz, /readyz, /metrics, X-Request-ID and JSON access lines.
    observe_central(app, ctx)
    # Problem documents under application/problem+json, as the site API documents them.
    openapi.install(app)
    return app


def app_from_env() -> FastAPI:
    """One worker's app, settings from the environment: what ``structura central serve
    --workers N`` (and ``uvicorn --factory central.app:app_from_env``) starts per process."""
    from central.settings import CentralSettings
    from core.logging_setup import configure

    settings = CentralSettings()
    configure(settings.log_level)  # a spawned worker starts with no logging set up
    return create_central_app(CentralContext.open(settings))
