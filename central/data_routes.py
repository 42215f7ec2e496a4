"""Central admins read and correct any organisation's rows, in the local API's shape.

One generic path for every registry entity (registered once per entity, as the local
API does, so the OpenAPI document names each entity's own models):
``/api/orgs/{org_id}/{entity}`` list (same filters, search, sort, offset and cursor as
``/api/{entity}`` on a site) and ``/{id}`` get, PATCH and DELETE. Reads use
``core.services.queries``; writes go through the one write path on the central store,
so the FeedRecorder puts them in the organisation's change feed and the sites pull them
like any other change. Plus ``/api/orgs/{org_id}/sync-state``.

Only central admin tokens are accepted (a site's device token is not an admin token).

(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations,
which name models made per entity.)
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import func, select

from central import enroll as svc
from central.context import CentralContext
from central.feed import feed_head
from core.errors import Forbidden, Unauthenticated
from core.models import ConflictRecord, Device, Organisation
from core.registry import EntitySpec, registry
from core.services import queries, writes
from core.services.writes import Actor
from local_api.problems import AUTHED, responses
from local_api.routes.entities import (
    FILTER_HELP,
    RESERVED,
    ListQuery,
    RefIdPath,
    entity_models,
    filters_from,
    json_response,
    list_query,
    need_version,
    page_response,
    parse_version,
    write_tx,
)

bearer = HTTPBearer(auto_error=False, description="Central admin token from /api/admin/login")
OrgPath = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
# No CSV export here: "format" is an ordinary (unknown) filter, refused as such.
LIST_PARAMS = RESERVED - {"format"}


class DeviceState(BaseModel):
    id: str
    site_id: str
    name: str
    schema_version: int | None = None
    created_at: datetime
    last_seen_at: datetime | None = None
    revoked: bool
    revoked_at: datetime | None = None
    last_cursor: int | None = None
    lag: int | None = None


class SyncState(BaseModel):
    org_id: str
    feed_head: int
    open_conflicts: int
    devices: list[DeviceState]


def router(ctx: CentralContext) -> APIRouter:
    store = ctx.store
    r = APIRouter()

    def admin_id(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated("central admin bearer token required")
        # The admin key's issuer differs from the device key's: a device token fails here.
        claims = svc.decode_token(ctx.admin_key, credentials.credentials, "admin")
        with store.read() as s:
            return svc.admin_for_request(s, claims["sub"]).id

    Admin = Annotated[str, Depends(admin_id)]

    @r.get(
        "/api/orgs/{org_id}/sync-state",
        response_model=SyncState,
        tags=["admin"],
        summary="Devices of an organisation (last seen, revoked, cursor lag), feed head, "
        "open conflicts",
        responses=responses(*AUTHED, 404, 422),
    )
    def sync_state(_: Admin, org_id: Annotated[str, OrgPath]) -> dict[str, Any]:
        with store.read() as s:
            svc.get_org(s, org_id)
            head = feed_head(s, org_id)
            open_conflicts = s.scalar(
                select(func.count()).where(
                    ConflictRecord.org_id == org_id, ConflictRecord.resolved_at.is_(None)
                )
            )
            devices = s.scalars(
                select(Device).where(Device.org_id == org_id).order_by(Device.created_at)
            )
            return {
                "org_id": org_id,
                "feed_head": head,
                "open_conflicts": int(open_conflicts or 0),
                "devices": [_device_state(d, head) for d in devices],
            }

    for spec in registry().values():
        _register(r, ctx, Admin, spec)
    return r


def _device_state(d: Device, head: int) -> dict[str, Any]:
    # last_cursor is only known if the server recorded it; no guess otherwise.
    lag = None if d.last_cursor is None else max(0, head - d.last_cursor)
    return {
        "id": d.id,
        "site_id": d.site_id,
        "name": d.name,
        "schema_version": d.schema_version,
        "created_at": d.created_at,
        "last_seen_at": d.last_seen_at,
        "revoked": d.revoked_at is not None,
        "revoked_at": d.revoked_at,
        "last_cursor": d.last_cursor,
        "lag": lag,
    }


def _writable(s: Any, spec: EntitySpec, org_id: str) -> None:
    """The organisation exists and has the entity's module (as a site would check)."""
    org: Organisation = svc.get_org(s, org_id)
    if spec.module != "core" and spec.module not in (org.modules or ()):
        raise Forbidden(f"the {spec.module} module is not enabled for this organisation")


def _register(r: APIRouter, ctx: CentralContext, Admin: Any, spec: EntitySpec) -> None:
    store = ctx.store
    name = spec.name
    Read, _Create, Patch, PageOut, _Batch = entity_models(spec)
    base = f"/api/orgs/{{org_id}}/{name}"
    tags = [f"orgs: {name}"]
    filter_params = [
        {"name": col, "in": "query", "required": False, "schema": {"type": "string"},
         "description": f"equal to (see also {col}__gte, __lte, __in, ...)"}
        for col in queries.filterable(spec)
    ]  # fmt: skip

    def actor(admin: str, org_id: str) -> Actor:
        # The admin acts inside the organisation with the admin role; updated_by and the
        # audit entry name the central admin.
        return Actor(org_id=org_id, user_id=admin, role="admin")

    @r.get(
        base,
        response_model=PageOut,
        tags=tags,
        summary=f"List {name} of an organisation",
        description=FILTER_HELP,
        responses=responses(*AUTHED, 404, 422),
        openapi_extra={"parameters": filter_params},
    )
    def list_(
        request: Request,
        _: Admin,
        org_id: Annotated[str, OrgPath],
        lq: Annotated[ListQuery, Depends(list_query)],
    ) -> Any:
        with store.read() as s:
            svc.get_org(s, org_id)
            filters = filters_from(request, LIST_PARAMS)
            page = queries.list_rows(
                s, spec, org_id, filters=filters, q=lq.q, sort=lq.sort, limit=lq.limit,
                offset=lq.offset, cursor=lq.cursor, include_deleted=lq.include_deleted,
            )  # fmt: skip
            return page_response(spec, page)

    @r.get(
        f"{base}/{{id}}",
        response_model=Read,
        tags=tags,
        summary=f"Get one of {name} of an organisation",
        responses=responses(*AUTHED, 404, 422),
    )
    def get_(
        _: Admin,
        org_id: Annotated[str, OrgPath],
        id: Annotated[str, RefIdPath],
        include_deleted: bool = False,
    ) -> Any:
        with store.read() as s:
            svc.get_org(s, org_id)
            row = queries.get_row(s, spec, org_id, id, include_deleted=include_deleted)
            return json_response(queries.row_json(spec, row), headers=_etag(row))

    @r.patch(
        f"{base}/{{id}}",
        response_model=Read,
        tags=tags,
        summary=f"Correct some fields of {name} (reaches the sites through the feed)",
        responses=responses(*AUTHED, 404, 409, 422, 428),
    )
    def update_(
        admin: Admin,
        org_id: Annotated[str, OrgPath],
        id: Annotated[str, RefIdPath],
        body: Patch,  # type: ignore[valid-type]
        if_match: Annotated[str | None, Header(max_length=40)] = None,
    ) -> Any:
        data = body.model_dump(exclude_unset=True)
        version = need_version(parse_version(if_match, data.pop("version", None)), "an update")
        with write_tx(store) as s:
            _writable(s, spec, org_id)
            row = writes.update(
                s, actor=actor(admin, org_id), entity=name, id=id, data=data, version=version
            )
            out = queries.row_json(spec, row)
        return json_response(out, headers=_etag(row))

    @r.delete(
        f"{base}/{{id}}",
        response_model=Read,
        tags=tags,
        summary=f"Delete one of {name} (a tombstone that reaches the sites)",
        responses=responses(*AUTHED, 404, 409, 422, 428),
    )
    def delete_(
        admin: Admin,
        org_id: Annotated[str, OrgPath],
        id: Annotated[str, RefIdPath],
        if_match: Annotated[str | None, Header(max_length=40)] = None,
        version: Annotated[int | None, Query(ge=1)] = None,
    ) -> Any:
        v = need_version(parse_version(if_match, version), "a delete")
        with write_tx(store) as s:
            _writable(s, spec, org_id)
            row = writes.delete(s, actor=actor(admin, org_id), entity=name, id=id, version=v)
            out = queries.row_json(spec, row)
        return json_response(out, headers=_etag(row))


def _etag(row: Any) -> dict[str, str]:
    return {"ETag": f'"{row.version}"'}
