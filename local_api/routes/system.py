"""Health and sync status."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from apikit.problems import AUTHED, COMMON, responses
from local_api.deps import ContextDep, CurrentActor

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


router = APIRouter(tags=["system"])


@router.get(
    "/api/health",
    response_model=Health,
    responses=responses(*COMMON),
    summary="Is the server up; which site it serves",
)
async def health(ctx: ContextDep) -> dict[str, Any]:
    # No database round trip: this answers discovery probes and load balancers.
    return {
        "status": "ok",
        "api_version": API_VERSION,
        "site_id": ctx.site.site_id,
        "site_name": ctx.site.site_name,
        "modules": list(ctx.site.modules),
    }


@router.get(
    "/api/sync/status",
    response_model=SyncStatus,
    responses=responses(*AUTHED),
    summary="State of the sync agent (not configured when there is none)",
)
def sync_status(_: CurrentActor, ctx: ContextDep) -> dict[str, Any]:
    if ctx.sync_status is None:
        return {"state": "not configured"}
    status = dict(ctx.sync_status())
    status.setdefault("state", "unknown")
    return status
