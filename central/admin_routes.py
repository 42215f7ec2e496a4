"""Organisation, site and device administration for central admins.

(No `from __future__ import annotations`: FastAPI reads the handlers' annotations.)
"""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from apikit.problems import AUTHED, responses
from apikit.security import request_origin
from central import admin_auth
from central import enroll as svc
from central.counter import feed_head
from central.deps import AdminId as Admin
from central.deps import CentralDep
from core.errors import Invalid, NotFound
from core.fields import Name
from core.models import ConflictRecord, Device, Organisation, Site
from core.serial import row_to_json
from core.sync.conflicts import list_conflicts, resolve_conflict
from core.writes import Actor


class LoginBody(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, pattern=r"^[0-9]{6}$", description="if set up")


class TotpCode(BaseModel):
    code: str = Field(pattern=r"^[0-9]{6}$")


class OrgBody(BaseModel):
    name: Name
    modules: list[str] = Field(default_factory=lambda: ["factory", "tour"])
    home_currency: str = Field(default="EUR", min_length=3, max_length=3)


class SiteBody(BaseModel):
    name: Name


class CodeBody(BaseModel):
    hours: float = Field(default=24.0, gt=0, le=24 * 30)


class ResolveBody(BaseModel):
    choice: str = Field(pattern="^(server|mine|values|rename|merge|discard)$")
    values: dict[str, Any] | None = None


# Every problem these routes can answer, documented (schemathesis checks it).
router = APIRouter(prefix="/api/admin", tags=["admin"], responses=responses(*AUTHED, 404, 409, 422))


@router.post("/login", summary="Central admin login (email + password) -> bearer token")
def login(ctx: CentralDep, body: LoginBody) -> dict[str, Any]:
    return admin_auth.limited_login(ctx, email=body.email, password=body.password, totp=body.totp)


@router.post("/totp", summary="Start setting up a TOTP second factor for yourself")
def totp_start(ctx: CentralDep, admin_id: Admin) -> dict[str, str]:
    return admin_auth.start_totp(ctx.store, user_id=admin_id)


@router.post("/totp/confirm", summary="Turn the second factor on with a current code")
def totp_confirm(ctx: CentralDep, admin_id: Admin, body: TotpCode) -> dict[str, bool]:
    admin_auth.confirm_totp(ctx.store, user_id=admin_id, code=body.code)
    return {"ok": True}


@router.get("/orgs")
def orgs(ctx: CentralDep, _: Admin) -> list[dict[str, Any]]:
    with ctx.store.read() as s:
        rows = s.scalars(select(Organisation).where(Organisation.id != svc.CENTRAL_ORG))
        return [row_to_json(o) for o in rows]


@router.post("/orgs", status_code=201)
def create_org(ctx: CentralDep, _: Admin, body: OrgBody) -> dict[str, Any]:
    with ctx.store.write() as s:
        org = svc.create_org(s, name=body.name, modules=body.modules,
                             home_currency=body.home_currency)  # fmt: skip
        return row_to_json(org)


@router.get("/orgs/{org_id}/sites")
def sites(ctx: CentralDep, _: Admin, org_id: str) -> list[dict[str, Any]]:
    with ctx.store.read() as s:
        svc.get_org(s, org_id)
        return [row_to_json(x) for x in s.scalars(select(Site).where(Site.org_id == org_id))]


@router.post("/orgs/{org_id}/sites", status_code=201)
def create_site(ctx: CentralDep, _: Admin, org_id: str, body: SiteBody) -> dict[str, Any]:
    with ctx.store.write() as s:
        return row_to_json(svc.create_site(s, org_id=org_id, name=body.name))


@router.post("/orgs/{org_id}/sites/{site_id}/enrollment-codes", status_code=201)
def enrollment_code(
    ctx: CentralDep, admin_id: Admin, org_id: str, site_id: str, body: CodeBody | None = None
) -> dict[str, Any]:
    with ctx.store.write() as s:
        code, rec = svc.make_enrollment_code(
            s, org_id=org_id, site_id=site_id, created_by=admin_id,
            hours=(body or CodeBody()).hours,
        )  # fmt: skip
        return {"code": code, "expires_at": rec.expires_at.isoformat()}


@router.get("/orgs/{org_id}/devices", summary="Devices and their sync state")
def devices(ctx: CentralDep, _: Admin, org_id: str) -> dict[str, Any]:
    with ctx.store.read() as s:
        svc.get_org(s, org_id)
        rows = s.scalars(select(Device).where(Device.org_id == org_id))
        open_conflicts = s.scalar(
            select(func.count()).where(
                ConflictRecord.org_id == org_id, ConflictRecord.resolved_at.is_(None)
            )
        )
        return {
            "feed_head": feed_head(s, org_id),
            "open_conflicts": open_conflicts,
            "devices": [svc.device_json(d) for d in rows],
        }


@router.get("/orgs/{org_id}/sync-health",
            summary="Epochs (restores), last verify per site, open conflicts by kind")  # fmt: skip
def sync_health(ctx: CentralDep, _: Admin, org_id: str) -> dict[str, Any]:
    from central.epoch import sync_health as health

    with ctx.store.read() as s:
        svc.get_org(s, org_id)
        return health(s, org_id)


@router.post("/devices/{device_id}/revoke", summary="Refuse a device from now on")
def revoke(ctx: CentralDep, _: Admin, device_id: str) -> dict[str, Any]:
    with ctx.store.write() as s:
        return svc.device_json(svc.revoke_device(s, device_id))


@router.get("/orgs/{org_id}/conflicts")
def conflicts(
    ctx: CentralDep, _: Admin, org_id: str, open_only: bool = True
) -> list[dict[str, Any]]:
    with ctx.store.read() as s:
        svc.get_org(s, org_id)
        return list_conflicts(s, org_id, open_only=open_only)


@router.post("/orgs/{org_id}/conflicts/{conflict_id}/resolve")
def resolve(
    ctx: CentralDep,
    admin_id: Admin,
    request: Request,
    org_id: str,
    conflict_id: str,
    body: ResolveBody,
) -> dict[str, Any]:
    if org_id == svc.CENTRAL_ORG:
        raise Invalid("not an organisation")
    actor = Actor(org_id=org_id, user_id=admin_id, role="admin", **request_origin(request))
    with ctx.store.write() as s:
        if s.get(Organisation, org_id) is None:
            raise NotFound(f"organisation '{org_id}' not found")
        return resolve_conflict(s, actor=actor, conflict_id=conflict_id,
                                choice=body.choice, values=body.values)  # fmt: skip
