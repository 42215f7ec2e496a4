"""Health and sync status."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from core.services.writes import Actor
from local_api.deps import Deps
from local_api.problems import AUTHED, COMMON, responses

API_VERSION = "1"


class Health(BaseModel):
    status: str
    api_version: str
    site_id: str
    site_name: str
    modules: list[str]


class SyncStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    state: str


def router(deps: Deps) -> APIRouter:
    ctx = deps.context
    r = APIRouter(tags=["system"])

    @r.get(
        "/api/health",
        response_model=Health,
        responses=responses(*COMMON),
        summary="Is the server up; which site it serves",
    )
    async def health() -> dict[str, Any]:
        # No database round trip: this answers discovery probes and load balancers.
        return {
            "status": "ok",
            "api_version": API_VERSION,
            "site_id": ctx.site.site_id,
            "site_name": ctx.site.site_name,
            "modules": list(ctx.site.modules),
        }

    @r.get(
        "/api/sync/status",
        response_model=SyncStatus,
        responses=responses(*AUTHED),
        summary="State of the sync agent (not configured when there is none)",
    )
    def sync_status(actor: Annotated[Actor, Depends(deps.current_actor)]) -> dict[str, Any]:
        if ctx.sync_status is None:
            return {"state": "not configured"}
        status = dict(ctx.sync_status())
        status.setdefault("state", "unknown")
        return status

    return r
