"""The sync hub over HTTP: enrol, token, push, pull (long-poll), snapshot, conflicts.

Every body is a ``core.sync.wire`` message: a push that does not match ``wire.PushRequest``
is refused whole (422 problem+json naming the field, e.g. ``ops.3.base_version``) before
anything is written. Handlers parse, check the device and the schema version, call the
services, and answer with the wire model serialised directly (``model_dump_json``): the
feed and push bodies are large and FastAPI's generic encoder would walk every value of
every row. (No ``from __future__ import
annotations``: FastAPI must resolve the dependency aliases defined inside ``router()``.)
"""

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, update

from apikit.problems import AUTHED, responses
from central import enroll as svc
from central import epoch as epochs
from central.context import CentralContext
from central.counter import feed_head
from central.feed import read_feed, snapshot_lines
from central.push import DeviceCtx, push_batch
from central.quotas import check_snapshot_rows
from core.clock import utcnow
from core.errors import DomainError, NotFound, Unauthenticated
from core.models import Device
from core.sync import verify as checksums
from core.sync import wire
from core.sync.conflicts import list_conflicts, resolve_conflict
from core.sync.wire import MIN_SCHEMA_VERSION, SCHEMA_HEADER, SCHEMA_VERSION
from core.writes import Actor


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


def _message(message: BaseModel) -> Response:
    return Response(message.model_dump_json(), 200, media_type="application/json")


def _answers(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": f"a `{model.__name__}` of the sync wire"}}


class EnrollBody(BaseModel):
    code: str = Field(min_length=1, max_length=200)
    device_name: str = Field(default="site", max_length=200)


class TokenBody(BaseModel):
    device_id: str = Field(min_length=1, max_length=64)
    device_secret: str = Field(min_length=1, max_length=200)


class NdjsonResponse(StreamingResponse):
    """So the OpenAPI document names the snapshot's real media type."""

    media_type = "application/x-ndjson"


def router(ctx: CentralContext) -> APIRouter:
    store = ctx.store
    # Every problem these routes can answer, documented (schemathesis checks it).
    r = APIRouter(
        prefix="/api/sync", tags=["sync"], responses=responses(*AUTHED, 404, 409, 410, 422, 426)
    )

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

    def epoch_args(request: Request, after: int | None = None) -> tuple[Any, Any]:
        site_epoch = request.headers.get(wire.EPOCH_HEADER) or None
        cursor = epochs.parse_cursor(request.headers.get(wire.CURSOR_HEADER))
        if after is not None and cursor is not None and cursor[0] != after:
            cursor = None  # the header names another position than the pull: trust neither
        return site_epoch, cursor

    def epoch_of(request: Request, dev: DeviceCtx) -> Any:
        with store.write() as s:
            rec = epochs.check(s, dev.org_id, *epoch_args(request))
            return rec, epochs.info(rec)

    @r.post("/push", summary="Apply a batch of operations; one result per op",
            responses=_answers(wire.PushAnswer))  # fmt: skip
    def push(request: Request, dev: Dev, body: wire.PushRequest) -> Response:
        if body.device_id not in (None, dev.device_id):
            raise Unauthenticated("device_id does not match the token")
        if body.schema_version is not None:
            check_schema(body.schema_version)
        rec, info = epoch_of(request, dev)
        site_epoch = request.headers.get(wire.EPOCH_HEADER) or None
        if site_epoch is not None and site_epoch != rec.epoch:
            # Its ops may edit rows the restored server lost: it gives back its history
            # first (then pushes in the new epoch).
            raise epochs.EpochChanged(rec)
        ctx.ops_quota.take(dev.org_id, len(body.ops))  # 429 before anything is written
        results = push_batch(store, dev, body.ops)
        ctx.reads.note_push(dev.device_id)  # its next pull sees this push, even on a replica
        return _json({"results": results, "epoch": info.model_dump(mode="json")})

    @r.get("/pull", summary="Feed entries after a cursor; waits up to `wait` s for news",
           responses=_answers(wire.PullAnswer))  # fmt: skip
    async def pull(
        request: Request,
        dev: Dev,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=1_000_000)] = 1000,
        wait: Annotated[float, Query(ge=0)] = 0,
    ) -> Response:
        limit = min(limit, ctx.settings.max_pull)
        wait = min(wait, ctx.settings.max_wait_seconds)

        def read(lsn: str | None = None) -> tuple[list[wire.FeedEntry], int, bool]:
            # The replica when it has replayed what this device must see, else the primary.
            with ctx.reads.read(dev.device_id, lsn) as s:
                return read_feed(s, dev.org_id, after=after, limit=limit)

        def note_cursor() -> wire.EpochInfo:
            # Asking for "after C" says the site holds everything up to C: that is its
            # cursor, for sync lag (admin sync-state, metrics). Only ever moves forward.
            # In the same transaction: the epoch, begun anew if C shows a restore.
            with store.write() as s:
                s.execute(
                    update(Device)
                    .where(Device.id == dev.device_id,
                           (Device.last_cursor.is_(None)) | (Device.last_cursor < after))
                    .values(last_cursor=after, last_seen_at=utcnow())
                )  # fmt: skip
                return epochs.info(epochs.check(s, dev.org_id, *epoch_args(request, after)))

        epoch = await run_in_threadpool(note_cursor)

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
                    # Woken by a commit on the primary: read where it is already replayed.
                    lsn = await run_in_threadpool(ctx.reads.current_lsn)
                    entries, nxt, more = await run_in_threadpool(read, lsn)
        finally:
            if fut is not None and notifier:
                notifier.unsubscribe(dev.org_id, fut)
        return _message(wire.PullAnswer(entries=entries, next=nxt, more=more, epoch=epoch))

    digest_cache: dict[tuple[str, str, bool], tuple[int, float, Any]] = {}

    @r.get("/verify", summary="Checksums of the rows of one entity, by bucket",
           responses=_answers(wire.VerifyAnswer))  # fmt: skip
    def verify(
        dev: Dev,
        entity: str,
        top: Annotated[int | None, Query(ge=0, lt=checksums.FANOUT)] = None,
        sub: Annotated[int | None, Query(ge=0, lt=checksums.FANOUT)] = None,
        tombstones: Annotated[
            bool, Query(description="count deleted rows too (as deleted)")
        ] = False,
    ) -> Response:
        from core.registry import registry
        from core.serial import row_to_json

        spec = registry().get(entity)
        if spec is None:
            raise NotFound(f"unknown entity '{entity}'")
        with store.read() as s:
            # One verify asks up to three times per differing bucket: the digests of one
            # entity are kept while its feed head stays and for a short while (a change
            # behind the sync's back on this side is seen at the next verify).
            key = (dev.org_id, entity, tombstones)
            head, now = feed_head(s, dev.org_id), time.monotonic()
            hit = digest_cache.get(key)
            if hit is not None and hit[0] == head and now - hit[1] < 30.0:
                digests = hit[2]
            else:
                digests = checksums.live_digests(s, spec, dev.org_id, tombstones=tombstones)
                digest_cache[key] = (head, now, digests)
                for k in [k for k, v in digest_cache.items() if now - v[1] >= 30.0]:
                    digest_cache.pop(k, None)
            if top is None or sub is None:
                sums = checksums.summarise(digests, top)
                return _message(wire.VerifyAnswer(entity=entity, buckets=sums))
            model = spec.model
            ids = s.scalars(select(model.id).where(model.org_id == dev.org_id)).all()
            wanted = [i for i in ids if checksums.bucket_of(i) == (top, sub)]
            rows = s.scalars(
                select(model).where(model.org_id == dev.org_id, model.id.in_(wanted))
            ).all()  # fmt: skip
            return _message(wire.VerifyAnswer(
                entity=entity, rows=checksums.ids_in(digests, top, sub),
                data=[row_to_json(r) for r in rows],
            ))  # fmt: skip

    @r.post("/verify/report", summary="Record what this site's last verify found",
            status_code=204)  # fmt: skip
    def verify_report(dev: Dev, body: wire.VerifyReport) -> Response:
        epochs.record_verification(store, dev.org_id, dev.device_id, body)
        return Response(status_code=204)

    @r.get(
        "/snapshot",
        summary="Every row of the organisation as NDJSON, with its cursor",
        response_class=NdjsonResponse,
    )
    def snapshot(dev: Dev) -> StreamingResponse:
        with store.read() as s:
            check_snapshot_rows(s, dev.org_id, ctx.settings.quota_snapshot_rows)
        source = ctx.reads.store_for(dev.device_id)  # a replica gives a consistent cut too
        return NdjsonResponse(snapshot_lines(source, dev.org_id))

    @r.get("/conflicts", summary="Conflict records of the device's organisation",
           responses=_answers(wire.ConflictList))  # fmt: skip
    def conflicts(dev: Dev, open_only: bool = True) -> Response:
        with store.read() as s:
            listed = list_conflicts(s, dev.org_id, open_only=open_only)
        return _message(wire.ConflictList.model_validate({"conflicts": listed}))

    @r.post("/conflicts/{conflict_id}/resolve", summary="Close a conflict (writes if asked)",
            responses=_answers(wire.ConflictInfo))  # fmt: skip
    def resolve(dev: Dev, conflict_id: str, body: wire.ResolveRequest) -> Response:
        actor = Actor(org_id=dev.org_id, user_id=None, role="admin", device_id=dev.device_id)
        with store.write() as s:
            return _json(resolve_conflict(s, actor=actor, conflict_id=conflict_id,
                                          choice=body.choice, values=body.values))  # fmt: skip

    return r
