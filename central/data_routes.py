"""Central admins read and correct any organisation's rows, in the local API's shape.

One generic path for every registry entity (registered once per entity, as the local
API does, so the OpenAPI document names each entity's own models):
``/api/orgs/{org_id}/{entity}`` list (same filters, search, sort, offset and cursor as
``/api/{entity}`` on a site) and ``/{id}`` get, PATCH and DELETE. Reads use
``core.queries``; writes go through the one write path on the central store,
so the FeedRecorder puts them in the organisation's change feed and the sites pull them
like any other change. Plus ``/api/orgs/{org_id}/sync-state``.

Only central admin tokens are accepted (a site's device token is not an admin token).

(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations,
which name models made per entity.)
"""

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy import func, select

from apikit.problems import AUTHED, responses
from apikit.rows import (
    FILTER_HELP,
    RESERVED,
    IdPath,
    IfMatch,
    ListQuery,
    entity_models,
    etag,
    filter_params,
    filters_from,
    json_response,
    list_query,
    need_version,
    page_response,
    parse_version,
    write_tx,
)
from apikit.security import request_origin
from central import enroll as svc
from central.counter import feed_head
from central.deps import AdminId, CentralDep
from core import queries, writes
from core.errors import Forbidden
from core.fields import ID_CONSTRAINTS
from core.models import ConflictRecord, Device, Organisation
from core.registry import EntitySpec, registry
from core.writes import Actor

OrgPath = Annotated[str, Path(**ID_CONSTRAINTS)]
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


def build_router() -> APIRouter:
    """The sync-state route and every registry entity's routes (made per entity, as on
    a site, so the OpenAPI document names each entity's models)."""
    r = APIRouter(responses=responses(*AUTHED, 404, 409, 412, 422, 428))
    r.add_api_route(
        "/api/orgs/{org_id}/sync-state",
        sync_state,
        methods=["GET"],
        response_model=SyncState,
        tags=["admin"],
        summary="Devices of an organisation (last seen, revoked, cursor lag), feed head, "
        "open conflicts",
        responses=responses(*AUTHED, 404, 422),
    )
    for spec in registry().values():
        _register(r, spec)
    return r


def sync_state(_: AdminId, ctx: CentralDep, org_id: OrgPath) -> dict[str, Any]:
    with ctx.store.read() as s:
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


def _register(r: APIRouter, spec: EntitySpec) -> None:
    name = spec.name
    m = entity_models(spec)
    # FastAPI reads the entity's own model from the annotation at run time; to mypy it
    # is the pydantic model it derives from.
    if TYPE_CHECKING:
        Patch: TypeAlias = BaseModel
    else:
        Patch = m.patch
    base = f"/api/orgs/{{org_id}}/{name}"
    tags: list[str | Enum] = [f"orgs: {name}"]

    def actor(admin: str, org_id: str, request: Request) -> Actor:
        # The admin acts inside the organisation with the admin role; updated_by and the
        # audit entry name the central admin, and where the request came from.
        return Actor(org_id=org_id, user_id=admin, role="admin", **request_origin(request))

    @r.get(
        base,
        response_model=m.page,
        tags=tags,
        summary=f"List {name} of an organisation",
        description=FILTER_HELP,
        responses=responses(*AUTHED, 404, 422),
        openapi_extra={"parameters": filter_params(spec)},
    )
    def list_(
        request: Request,
        _: AdminId,
        ctx: CentralDep,
        org_id: OrgPath,
        lq: Annotated[ListQuery, Depends(list_query)],
    ) -> Any:
        with ctx.store.read() as s:
            svc.get_org(s, org_id)
            filters = filters_from(request, LIST_PARAMS)
            page = queries.list_rows(
                s, spec, org_id, filters=filters, q=lq.q, sort=lq.sort, limit=lq.limit,
                offset=lq.offset, cursor=lq.cursor, include_deleted=lq.include_deleted,
            )  # fmt: skip
            return page_response(spec, page)

    @r.get(
        f"{base}/{{id}}",
        response_model=m.read,
        tags=tags,
        summary=f"Get one of {name} of an organisation",
        responses=responses(*AUTHED, 404, 422),
    )
    def get_(
        _: AdminId, ctx: CentralDep, org_id: OrgPath, id: IdPath, include_deleted: bool = False
    ) -> Any:
        with ctx.store.read() as s:
            svc.get_org(s, org_id)
            row = queries.get_row(s, spec, org_id, id, include_deleted=include_deleted)
            return json_response(queries.row_json(spec, row), headers=etag(row))

    @r.patch(
        f"{base}/{{id}}",
        response_model=m.read,
        tags=tags,
        summary=f"Correct some fields of {name} (reaches the sites through the feed)",
        responses=responses(*AUTHED, 404, 409, 422, 428),
    )
    def update_(
        admin: AdminId,
        request: Request,
        ctx: CentralDep,
        org_id: OrgPath,
        id: IdPath,
        body: Patch,
        if_match: IfMatch = None,
    ) -> Any:
        data = body.model_dump(exclude_unset=True)
        version = need_version(parse_version(if_match, data.pop("version", None)), "an update")
        with write_tx(ctx.store) as s:
            _writable(s, spec, org_id)
            row = writes.update(
                s,
                actor=actor(admin, org_id, request),
                entity=name,
                id=id,
                data=body,
                version=version,
            )
            out = queries.row_json(spec, row)
        return json_response(out, headers=etag(row))

    @r.delete(
        f"{base}/{{id}}",
        response_model=m.read,
        tags=tags,
        summary=f"Delete one of {name} (a tombstone that reaches the sites)",
        responses=responses(*AUTHED, 404, 409, 422, 428),
    )
    def delete_(
        admin: AdminId,
        request: Request,
        ctx: CentralDep,
        org_id: OrgPath,
        id: IdPath,
        if_match: IfMatch = None,
        version: Annotated[int | None, Query(ge=1)] = None,
    ) -> Any:
        v = need_version(parse_version(if_match, version), "a delete")
        with write_tx(ctx.store) as s:
            _writable(s, spec, org_id)
            row = writes.delete(
                s, actor=actor(admin, org_id, request), entity=name, id=id, version=v
            )
            out = queries.row_json(spec, row)
        return json_response(out, headers=etag(row))
