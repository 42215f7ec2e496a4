"""The sync hub over HTTP: enrol, token, push, pull (long-poll), snapshot, conflicts.

Handlers parse, check the device and the schema version, call the services, and return
JSON built with ``json.dumps`` directly: the feed and push bodies are large and FastAPI's
generic encoder would walk every value of every row. (No ``from __future__ import
annotations``: FastAPI must resolve the dependency aliases defined inside ``router()``.)
"""

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import update

from central import enroll as svc
from central.context import CentralContext
from central.feed import read_feed, snapshot_lines
from central.push import MAX_BATCH, DeviceCtx, push_batch
from core.clock import utcnow
from core.errors import DomainError, Unauthenticated
from core.models import Device
from core.services.sync_apply import (
    MIN_SCHEMA_VERSION,
    SCHEMA_HEADER,
    SCHEMA_VERSION,
    list_conflicts,
    resolve_conflict,
)
from core.services.writes import Actor


class SchemaMismatch(DomainError):
    code = "schema_version_unsupported"
    status = 426


def check_schema(value: int | str | None) -> int:
    """Guarantee 9: a client we cannot serve is told so before anything is written."""
    supported = f"this server supports schema versions {MIN_SCHEMA_VERSION}..{SCHEMA_VERSION}"
    try:
        version = int(value) if value is not None else None
    except (TypeError, ValueError):
        version = None
    if version is None:
        raise SchemaMismatch(f"missing or malformed {SCHEMA_HEADER} header; {supported}",
                             details=[{"field": SCHEMA_HEADER, "message": supported}])  # fmt: skip
    if not MIN_SCHEMA_VERSION <= version <= SCHEMA_VERSION:
        word = "old" if version < MIN_SCHEMA_VERSION else "new"
        raise SchemaMismatch(
            f"schema version {version} is too {word}; {supported}; update the client",
            details=[{"field": SCHEMA_HEADER, "message": supported}],
        )
    return version


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status, media_type="application/json")


class EnrollBody(BaseModel):
    code: str = Field(min_length=1, max_length=200)
    device_name: str = Field(default="site", max_length=200)


class TokenBody(BaseModel):
    device_id: str = Field(min_length=1, max_length=64)
    device_secret: str = Field(min_length=1, max_length=200)


class ResolveBody(BaseModel):
    choice: str = Field(pattern="^(server|mine|values)$")
    values: dict[str, Any] | None = None


def router(ctx: CentralContext) -> APIRouter:
    store = ctx.store
    r = APIRouter(prefix="/api/sync", tags=["sync"])

    def schema(
        x_structura_schema: Annotated[str | None, Header(alias=SCHEMA_HEADER)] = None,
    ) -> int:
        return check_schema(x_structura_schema)

    def device(request: Request, _schema: Annotated[int, Depends(schema)]) -> DeviceCtx:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise Unauthenticated("device bearer token required")
        claims = svc.decode_token(ctx.device_key, auth[7:].strip(), "device")
        with store.read() as s:
            d = svc.device_for_request(s, claims["sub"])  # revoked: refused at once
            return DeviceCtx(org_id=d.org_id, device_id=d.id)

    Dev = Annotated[DeviceCtx, Depends(device)]

    @r.post("/enroll", summary="Turn a one-time enrolment code into a device identity")
    def enroll_device(body: EnrollBody, version: Annotated[int, Depends(schema)]) -> Response:
        with store.write() as s:
            data = svc.enroll(s, code=body.code, device_name=body.device_name,
                              schema_version=version)  # fmt: skip
        return _json(data | {"schema_version": SCHEMA_VERSION}, 201)

    @r.post("/token", summary="Trade the device secret for a short-lived access token")
    def token(body: TokenBody, _schema: Annotated[int, Depends(schema)]) -> Response:
        with store.write() as s:
            return _json(svc.issue_device_token(s, ctx.device_key, device_id=body.device_id,
                                                secret=body.device_secret))  # fmt: skip

    @r.post("/push", summary="Apply a batch of operations; one result per op")
    def push(dev: Dev, body: Annotated[dict[str, Any], Body()]) -> Response:
        ops = body.get("ops")
        if not isinstance(ops, list) or len(ops) > MAX_BATCH:
            raise DomainError(f"ops must be a list of at most {MAX_BATCH} operations")
        if body.get("device_id") not in (None, dev.device_id):
            raise Unauthenticated("device_id does not match the token")
        if "schema_version" in body:
            check_schema(body["schema_version"])
        ops = [o if isinstance(o, dict) else {} for o in ops]
        return _json({"results": push_batch(store, dev, ops)})

    @r.get("/pull", summary="Feed entries after a cursor; waits up to `wait` s for news")
    async def pull(
        dev: Dev,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1)] = 1000,
        wait: Annotated[float, Query(ge=0)] = 0,
    ) -> Response:
        limit = min(limit, ctx.settings.max_pull)
        wait = min(wait, ctx.settings.max_wait_seconds)

        def read() -> tuple[list[dict[str, Any]], int, bool]:
            with store.read() as s:
                return read_feed(s, dev.org_id, after=after, limit=limit)

        def note_cursor() -> None:
            # Asking for "after C" says the site holds everything up to C: that is its
            # cursor, for sync lag (admin sync-state, metrics). Only ever moves forward.
            with store.write() as s:
                s.execute(
                    update(Device)
                    .where(Device.id == dev.device_id,
                           (Device.last_cursor.is_(None)) | (Device.last_cursor < after))
                    .values(last_cursor=after, last_seen_at=utcnow())
                )  # fmt: skip

        await run_in_threadpool(note_cursor)

        notifier = ctx.notifier
        fut = notifier.subscribe(dev.org_id) if wait > 0 and notifier else None
        try:
            entries, nxt, more = await run_in_threadpool(read)
            if not entries and fut is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(fut), wait)
                except TimeoutError:
                    pass
                else:
                    entries, nxt, more = await run_in_threadpool(read)
        finally:
            if fut is not None and notifier:
                notifier.unsubscribe(dev.org_id, fut)
        return _json({"entries": entries, "next": nxt, "more": more})

    @r.get("/snapshot", summary="Every row of the organisation as NDJSON, with its cursor")
    def snapshot(dev: Dev) -> StreamingResponse:
        return StreamingResponse(
            snapshot_lines(store, dev.org_id), media_type="application/x-ndjson"
        )

    @r.get("/conflicts", summary="Conflict records of the device's organisation")
    def conflicts(dev: Dev, open_only: bool = True) -> Response:
        with store.read() as s:
            return _json({"conflicts": list_conflicts(s, dev.org_id, open_only=open_only)})

    @r.post("/conflicts/{conflict_id}/resolve", summary="Close a conflict (writes if asked)")
    def resolve(dev: Dev, conflict_id: str, body: ResolveBody) -> Response:
        actor = Actor(org_id=dev.org_id, user_id=None, role="admin", device_id=dev.device_id)
        with store.write() as s:
            return _json(resolve_conflict(s, actor=actor, conflict_id=conflict_id,
                                          choice=body.choice, values=body.values))  # fmt: skip

    return r
