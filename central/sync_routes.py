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
from contextlib import nullcontext
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from apikit.problems import AUTHED, responses
from central import enroll as svc
from central import epoch as epochs
from central.context import CentralContext
from central.counter import feed_head
from central.device_auth import Claimed, Dev, Schema, check_device, check_schema
from central.feed import read_feed, snapshot_lines
from central.metrics import count_pull
from central.push import push_batch
from central.quotas import check_snapshot_rows
from core.clock import utcnow
from core.errors import NotFound, Unauthenticated
from core.models import Device
from core.sync import verify as checksums
from core.sync import wire
from core.sync.conflicts import list_conflicts, resolve_conflict
from core.sync.wire import SCHEMA_VERSION
from core.writes import Actor


class _EpochBegun(Exception):
    """A push found out a restore: the epoch it began must outlive the refusal."""


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

    @r.post("/enroll", summary="Turn a one-time enrolment code into a device identity")
    def enroll_device(body: EnrollBody, version: Schema) -> Response:
        with store.write() as s:
            data = svc.enroll(s, code=body.code, device_name=body.device_name,
                              schema_version=version)  # fmt: skip
        return _json(data | {"schema_version": SCHEMA_VERSION}, 201)

    @r.post("/token", summary="Trade the device secret for a short-lived access token")
    def token(body: TokenBody, _schema: Schema) -> Response:
        with store.write() as s:
            return _json(svc.issue_device_token(s, ctx.device_key, device_id=body.device_id,
                                                secret=body.device_secret))  # fmt: skip

    def epoch_args(request: Request, after: int | None = None) -> tuple[Any, Any]:
        site_epoch = request.headers.get(wire.EPOCH_HEADER) or None
        cursor = epochs.parse_cursor(request.headers.get(wire.CURSOR_HEADER))
        if after is not None and cursor is not None and cursor[0] != after:
            cursor = None  # the header names another position than the pull: trust neither
        return site_epoch, cursor

    @r.post("/push", summary="Apply a batch of operations; one result per op",
            responses=_answers(wire.PushAnswer))  # fmt: skip
    def push(request: Request, dev: Claimed, body: wire.PushRequest) -> Response:
        if body.device_id not in (None, dev.device_id):
            raise Unauthenticated("device_id does not match the token")
        if body.schema_version is not None:
            check_schema(body.schema_version)
        site_epoch, cursor = epoch_args(request)
        epoch: list[wire.EpochInfo] = []

        def prelude(s: Session) -> None:
            # In the push's own transaction, before any op (the device was checked in
            # its first statement): the epoch, the quota (two transactions of their own
            # cost a third of a one-op push).
            rec = epochs.check(s, dev.org_id, site_epoch, cursor)
            if site_epoch is not None and site_epoch != rec.epoch:
                # Its ops may edit rows the restored server lost: it gives back its
                # history first (then pushes in the new epoch).
                raise _EpochBegun() if epochs.begun_here(s, rec) else epochs.EpochChanged(rec)
            if not epoch:  # not again when the batch is retried with savepoints
                ctx.ops_quota.take(dev.org_id, len(body.ops))  # 429 before any write
            epoch[:] = [epochs.info(rec)]

        written: list[wire.FeedEntry] = []
        notifier = ctx.notifier
        # This worker's pulls are woken by the offer below, not by the commit's NOTIFY.
        offering = notifier.pushing(dev.org_id, dev.device_id) if notifier else nullcontext()
        with offering:
            try:
                results = push_batch(store, dev, body.ops, prelude=prelude, written=written)
            except _EpochBegun:
                # The restore this push found out is recorded even though the push is
                # refused: begun again, in a transaction that commits.
                with store.write() as s:
                    rec = epochs.check(s, dev.org_id, site_epoch, cursor)
                raise epochs.EpochChanged(rec) from None
            ctx.reads.note_push(dev.device_id)  # its next pull sees it, even on a replica
            if notifier is not None:
                notifier.offer(dev.org_id, dev.device_id, written)  # this worker's pulls
        return _json({"results": results, "epoch": epoch[0].model_dump(mode="json")})

    @r.get("/pull", summary="Feed entries after a cursor; waits up to `wait` s for news",
           responses=_answers(wire.PullAnswer))  # fmt: skip
    async def pull(
        request: Request,
        dev: Claimed,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=1_000_000)] = 1000,
        wait: Annotated[float, Query(ge=0)] = 0,
    ) -> Response:
        limit = min(limit, ctx.settings.max_pull)
        wait = min(wait, ctx.settings.max_wait_seconds)

        Page = tuple[list[wire.FeedEntry], int, bool]
        replica = ctx.reads.replica is not None

        def read(lsn: str | None = None) -> Page:
            # The replica when it has replayed what this device must see, else the primary.
            with ctx.reads.read_one(dev.device_id, lsn) as s:  # one statement
                return read_feed(s, dev.org_id, after=after, limit=limit)

        def note_cursor() -> tuple[wire.EpochInfo, Page | None]:
            # Asking for "after C" says the site holds everything up to C: that is its
            # cursor, for sync lag (admin sync-state, metrics). Only ever moves forward.
            # In the same transaction: the device (known, not revoked), the epoch (begun
            # anew if C shows a restore) and, with no replica to read from, the feed.
            with store.write() as s:
                check_device(s, dev)
                s.execute(
                    update(Device)
                    .where(Device.id == dev.device_id,
                           (Device.last_cursor.is_(None)) | (Device.last_cursor < after))
                    .values(last_cursor=after, last_seen_at=utcnow())
                )  # fmt: skip
                info = epochs.info(epochs.check(s, dev.org_id, *epoch_args(request, after)))
                if replica:
                    return info, None
                ctx.reads.primary_reads += 1
                return info, read_feed(s, dev.org_id, after=after, limit=limit)

        notifier = ctx.notifier
        # Subscribed before the feed is read, so a commit in between is not missed.
        fut = notifier.subscribe(dev.org_id, dev.device_id) if wait > 0 and notifier else None
        answer = "read"
        try:
            epoch, page = await run_in_threadpool(note_cursor)
            entries, nxt, more = page if page is not None else await run_in_threadpool(read)
            if not entries and fut is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(fut), wait)
                except TimeoutError:
                    answer = "nothing"
                else:
                    # Woken by a commit: the entries a push in this worker just committed,
                    # else a read where the commit is already replayed.
                    hit = notifier.recent_after(dev.org_id, after, limit) if notifier else None
                    if hit is not None:
                        entries, nxt, more = hit
                        answer = "memory"
                    else:
                        lsn = await run_in_threadpool(ctx.reads.current_lsn) if replica else None
                        entries, nxt, more = await run_in_threadpool(read, lsn)
                        answer = "read_after_wake"
        finally:
            if fut is not None and notifier:
                notifier.unsubscribe(dev.org_id, fut)
        count_pull(request.app, answer)
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
