"""Organisation, site and device administration for central admins.

(No `from __future__ import annotations`: FastAPI must see the dependency aliases
defined inside `router()`.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from central import enroll as svc
from central.context import CentralContext
from central.feed import feed_head
from core.errors import Invalid, NotFound, Unauthenticated
from core.models import ConflictRecord, Device, Organisation, Site
from core.serial import row_to_json
from core.services.sync_apply import list_conflicts, resolve_conflict
from core.services.writes import Actor


class LoginBody(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class OrgBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    modules: list[str] = Field(default_factory=lambda: ["factory", "tour"])
    home_currency: str = Field(default="EUR", min_length=3, max_length=3)


class SiteBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class CodeBody(BaseModel):
    hours: float = Field(default=24.0, gt=0, le=24 * 30)


class ResolveBody(BaseModel):
    choice: str = Field(pattern="^(server|mine|values)$")
    values: dict[str, Any] | None = None


def router(ctx: CentralContext) -> APIRouter:
    store = ctx.store
    r = APIRouter(prefix="/api/admin", tags=["admin"])

    def admin(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise Unauthenticated("admin bearer token required")
        claims = svc.decode_token(ctx.admin_key, auth[7:].strip(), "admin")
        with store.read() as s:
            return svc.admin_for_request(s, claims["sub"]).id

    Admin = Annotated[str, Depends(admin)]

    @r.post("/login", summary="Central admin login (email + password) -> bearer token")
    def login(body: LoginBody) -> dict[str, Any]:
        with store.read() as s:
            return svc.admin_login(s, ctx.admin_key, email=body.email, password=body.password)

    @r.get("/orgs")
    def orgs(_: Admin) -> list[dict[str, Any]]:
        with store.read() as s:
            rows = s.scalars(select(Organisation).where(Organisation.id != svc.CENTRAL_ORG))
            return [row_to_json(o) for o in rows]

    @r.post("/orgs", status_code=201)
    def create_org(_: Admin, body: OrgBody) -> dict[str, Any]:
        with store.write() as s:
            org = svc.create_org(s, name=body.name, modules=body.modules,
                                 home_currency=body.home_currency)  # fmt: skip
            return row_to_json(org)

    @r.get("/orgs/{org_id}/sites")
    def sites(_: Admin, org_id: str) -> list[dict[str, Any]]:
        with store.read() as s:
            svc.get_org(s, org_id)
            return [row_to_json(x) for x in s.scalars(select(Site).where(Site.org_id == org_id))]

    @r.post("/orgs/{org_id}/sites", status_code=201)
    def create_site(_: Admin, org_id: str, body: SiteBody) -> dict[str, Any]:
        with store.write() as s:
            return row_to_json(svc.create_site(s, org_id=org_id, name=body.name))

    @r.post("/orgs/{org_id}/sites/{site_id}/enrollment-codes", status_code=201)
    def enrollment_code(
        admin_id: Admin, org_id: str, site_id: str, body: CodeBody | None = None
    ) -> dict[str, Any]:
        with store.write() as s:
            code, rec = svc.make_enrollment_code(
                s, org_id=org_id, site_id=site_id, created_by=admin_id,
                hours=(body or CodeBody()).hours,
            )  # fmt: skip
            return {"code": code, "expires_at": rec.expires_at.isoformat()}

    @r.get("/orgs/{org_id}/devices", summary="Devices and their sync state")
    def devices(_: Admin, org_id: str) -> dict[str, Any]:
        with store.read() as s:
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

    @r.post("/devices/{device_id}/revoke", summary="Refuse a device from now on")
    def revoke(_: Admin, device_id: str) -> dict[str, Any]:
        with store.write() as s:
            return svc.device_json(svc.revoke_device(s, device_id))

    @r.get("/orgs/{org_id}/conflicts")
    def conflicts(_: Admin, org_id: str, open_only: bool = True) -> list[dict[str, Any]]:
        with store.read() as s:
            svc.get_org(s, org_id)
            return list_conflicts(s, org_id, open_only=open_only)

    @r.post("/orgs/{org_id}/conflicts/{conflict_id}/resolve")
    def resolve(
        admin_id: Admin, org_id: str, conflict_id: str, body: ResolveBody
    ) -> dict[str, Any]:
        if org_id == svc.CENTRAL_ORG:
            raise Invalid("not an organisation")
        actor = Actor(org_id=org_id, user_id=admin_id, role="admin")
        with store.write() as s:
            if s.get(Organisation, org_id) is None:
                raise NotFound(f"organisation '{org_id}' not found")
            return resolve_conflict(s, actor=actor, conflict_id=conflict_id,
                                    choice=body.choice, values=body.values)  # fmt: skip

    return r
