"""``/api/devices``: pairing tablets and browsers (core.identity.devices). An office
user or admin makes a one-time code; the device exchanges it for its id and key."""

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from apikit.problems import AUTHED, COMMON, responses
from core.identity import devices
from core.writes import Actor
from local_api.deps import ContextDep, ThrottlesDep, require


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PairingIn(_In):
    name: str = Field(min_length=1, max_length=200, description="e.g. 'Tablet line 2'")


class PairingOut(BaseModel):
    code: str = Field(description="one-time code, valid a few minutes; type or scan it")
    device_id: str
    expires_at: str


class PairIn(_In):
    code: str = Field(min_length=6, max_length=32, pattern=r"^[A-Za-z0-9 -]+$")


class PairOut(BaseModel):
    device_id: str = Field(description="send as X-Device-Id")
    device_key: str = Field(description="send as X-Device-Key; keep it private")
    name: str


class DeviceOut(BaseModel):
    id: str
    name: str
    paired: bool
    created_at: str | None
    paired_at: str | None
    last_seen_at: str | None
    revoked_at: str | None


router = APIRouter(prefix="/api/devices", tags=["devices"])
Staff = Annotated[Actor, require(devices.PAIRING_ROLES, "pair devices")]


@router.post(
    "/pairing",
    status_code=201,
    response_model=PairingOut,
    responses=responses(*AUTHED, 422),
    summary="Start pairing a device: a one-time code (office or admin)",
)
def start(ctx: ContextDep, body: PairingIn, actor: Staff) -> dict[str, Any]:
    with ctx.store.write() as s:
        p = devices.start_pairing(s, actor=actor, name=body.name)
    return {"code": p.code, "device_id": p.device_id, "expires_at": p.expires_at}


@router.post(
    "/pair",
    response_model=PairOut,
    responses=responses(*COMMON, 422),
    summary="Exchange a pairing code for this device's id and key (once)",
)
def pair(ctx: ContextDep, throttles: ThrottlesDep, body: PairIn) -> dict[str, Any]:
    # Every try spends from the site-wide login bucket: codes cannot be sprayed.
    throttles.login_global.check("all", "pairing attempts")
    cred = devices.complete_pairing(ctx.store, org_id=ctx.site.org_id, code=body.code)
    return {"device_id": cred.device_id, "device_key": cred.device_key, "name": cred.name}


@router.get(
    "",
    response_model=list[DeviceOut],
    responses=responses(*AUTHED),
    summary="Paired devices and pending pairings",
)
def list_(ctx: ContextDep, actor: Staff) -> list[dict[str, Any]]:
    with ctx.store.read() as s:
        return devices.list_devices(s, org_id=actor.org_id)


@router.post(
    "/{device_id}/revoke",
    response_model=DeviceOut,
    responses=responses(*AUTHED, 404),
    summary="Unpair a device (its key stops working at once)",
)
def revoke(ctx: ContextDep, device_id: str, actor: Staff) -> dict[str, Any]:
    with ctx.store.write() as s:
        return devices.revoke_device(s, actor=actor, device_id=device_id)
