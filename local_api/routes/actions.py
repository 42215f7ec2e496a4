"""Shop-floor actions: what an operator does from a tablet. Each route's dependency
checks the module and the role (once), FastAPI parses the body, and the handler calls
``core.factory.actions`` (which checks ownership and state and writes through the one
write path).

(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.)
"""

import functools
from collections.abc import Callable
from decimal import Decimal
from types import GenericAlias
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from apikit.problems import AUTHED, responses
from apikit.rows import IdPath, IfMatch, etag, json_response, parse_version, write_tx
from core import queries
from core.db import Committed, WriteBusy
from core.factory.schemas import DowntimeReason, MachineStatus
from core.fields import LongText, Quantity, ShortText
from core.registry import ALL_ROLES, FACTORY_READERS, registry
from core.serial import to_json
from core.writes import Actor
from local_api.board_cache import BoardCache
from local_api.context import AppContext
from local_api.deps import StoreDep, gate
from local_api.queue_cache import QueueCache

FLOOR = FACTORY_READERS  # admin, office, operator


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionIn(_In):
    version: int | None = Field(default=None, ge=1, description="job version you saw")


class ProgressIn(VersionIn):
    produced: Quantity = Field(description="made since the last report (an increment)")
    scrap: Quantity = Decimal(0)


class CompleteIn(VersionIn):
    produced: Quantity = Decimal(0)
    scrap: Quantity = Decimal(0)
    reason: ShortText | None = Field(
        default=None, description="short-close reason: required below the job's quantity"
    )


class MachineStatusIn(_In):
    status: MachineStatus
    note: ShortText | None = None


class DowntimeIn(_In):
    reason: DowntimeReason
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    planned: bool = False
    notes: LongText | None = None


class BoardCard(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    status: str


def floor(what: str, roles: frozenset[str] = FLOOR) -> Any:
    """The route's one check at the edge: the factory module is on and the role may
    ``what``. (The write path checks its own rules on top, whoever calls it.)"""
    return gate("jobs", roles, what)


def ops() -> Any:
    # Imported on first use: the module pulls in OEE arithmetic the rest of the API does
    # not need at start-up.
    from core.factory import actions as factory_ops

    return factory_ops


def write(
    store: Any, entity: str, fn: Callable[..., Any], code: int = 200, /,
    done: Committed | None = None, **kw: Any,
) -> Any:  # fmt: skip
    """Run ``fn`` in a write transaction; answer the row it returns with its ETag. With
    ``done``, a transaction that starts at once or not at all (see ``in_writer``)."""
    spec = registry()[entity]
    with write_tx(store, done) as s:
        row = fn(s, **kw)
        out = queries.row_json(spec, row)
    return json_response(out, code, headers=etag(row))


async def in_writer(request: Request, fn: Callable[..., Any], /, *args: Any, **kw: Any) -> Any:
    """Run a shop-floor write (``write`` and its arguments) on the event loop itself when
    the store's write lock is free, else on the app's few writer threads.

    On the loop, the write's few milliseconds of CPU run without handing the GIL to and
    fro: on a writer thread, sharing the GIL with a loop busy serving reads, they
    stretched several times over while holding SQLite's lock, and the queue of writes
    behind it set the mix's tail (docs/benchmarks.md, "LAN API": at 8 clients a progress
    report's median went from 82 to 6 ms). It never waits on the loop: a write that
    cannot start at once (a sync pull, an import, another writer holds the lock) goes to
    a writer thread, where it waits as before. The fsync the answer waits for runs on
    the loop while the disk answers quickly, else on a writer thread
    (``core.db.Committed.at_once``); either way it is shared with concurrent writers
    (core.db.GroupCommit).

    Both run in a copy of the request's context, as FastAPI's own pool does: the
    request id of its log lines and the Idempotency-Key claim its commit marks
    (``core.web.ops``)."""
    import asyncio
    import contextvars
    import functools

    loop = asyncio.get_running_loop()
    pool = request.app.state.writers
    context = contextvars.copy_context()
    done = Committed()
    try:
        result = context.run(fn, *args, done=done, **kw)
    except WriteBusy:
        return await loop.run_in_executor(pool, functools.partial(context.run, fn, *args, **kw))
    if done.at_once():
        done.wait_durable()  # the disk answers within a couple of milliseconds here
    else:
        await loop.run_in_executor(pool, done.wait_durable)
    done.publish()
    return result


def _read_model(entity: str) -> Any:
    return registry()[entity].read


router = APIRouter(tags=["shop floor"])
ERR = responses(*AUTHED, 404, 409, 422)


# The routes a floor terminal calls all day come first: FastAPI tries routes in order,
# and each one tried costs a few microseconds (docs/benchmarks.md, "LAN API").
@router.get(
    "/api/me/jobs",
    response_model=GenericAlias(list, (_read_model("jobs"),)),  # list[JobsRead]
    responses=responses(*AUTHED),
    summary="My queue: active jobs assigned to me, running first",
)
async def my_jobs(request: Request, actor: Annotated[Actor, floor("have jobs")]) -> Any:
    # On the event loop: a cached queue, or one indexed SQLite read of a few rows (WAL
    # readers never wait for the writer), costs less than the thread-pool hop.
    cache: QueueCache = request.app.state.queues
    return Response(cache.get(actor), media_type="application/json")


def my_queue(store: Any, actor: Actor) -> list[dict[str, Any]]:
    """The operator's queue as JSON rows, filtered in SQL (a Core select, no ORM
    objects); same rows and order as ``core.factory.actions.my_jobs``."""
    if not store.is_sqlite:
        spec = registry()["jobs"]
        with store.read() as s:
            return [queries.row_json(spec, j) for j in ops().my_jobs(s, actor=actor)]
    with store.read() as s:
        # On the connection: a Core select needs none of the ORM's execution layer.
        params = {"org": actor.org_id, "me": actor.user_id}
        rows = s.connection().execute(_queue_stmt(), params).all()
    rank = {"IN_PROGRESS": 0, "PAUSED": 1, "PENDING": 2}
    out = [{k: to_json(v) for k, v in r._mapping.items()} for r in rows]
    out.sort(key=lambda j: (rank[j["status"]], j["sequence"], j["due_at"] or "~"))
    return out


@functools.cache
def _queue_stmt() -> Any:
    from sqlalchemy import bindparam, exists, func, select

    from core.models import Job

    spec = registry()["jobs"]
    t = Job.__table__
    mine = func.json_each(t.c.operator_ids).table_valued("value")
    return select(*(t.c[n] for n in queries.read_columns(spec))).where(
        t.c.org_id == bindparam("org"),
        t.c.status.in_(("IN_PROGRESS", "PAUSED", "PENDING")),
        t.c.deleted_at.is_(None),
        exists().where(mine.c.value == bindparam("me")),
    )


@router.get(
    "/api/board",
    response_model=list[BoardCard],
    responses={
        **responses(*AUTHED),
        304: {"description": "Not Modified: the board is the one whose ETag you sent"},
    },
    summary="One card per active machine: status, current and next job, OEE today",
)
async def board(request: Request, _: Annotated[Actor, floor("see the board")]) -> Any:
    cache: BoardCache = request.app.state.board
    encoded = cache.get()
    headers = {"ETag": encoded.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == encoded.etag:
        return Response(status_code=304, headers=headers)
    return Response(encoded.body, media_type="application/json", headers=headers)


@router.post(
    "/api/jobs/{id}/progress",
    response_model=_read_model("jobs"),
    responses=ERR,
    summary="Report quantities made since the last report",
)
async def progress(
    id: IdPath,
    body: ProgressIn,
    request: Request,
    actor: Annotated[Actor, floor("report progress")],
    store: StoreDep,
    if_match: IfMatch = None,
) -> Any:
    version = parse_version(if_match, body.version)
    return await in_writer(request, write, store, "jobs", ops().report_progress, actor=actor,
                           job_id=id, produced=body.produced, scrap=body.scrap,
                           version=version)  # fmt: skip


def _job_route(verb: str, summary: str) -> None:
    @router.post(
        f"/api/jobs/{{id}}/{verb}",
        response_model=_read_model("jobs"),
        summary=summary,
        responses=ERR,
        name=f"job_{verb}",
    )
    async def action(
        id: IdPath,
        request: Request,
        actor: Annotated[Actor, floor(f"{verb} jobs")],
        store: StoreDep,
        if_match: IfMatch = None,
        body: VersionIn | None = None,
    ) -> Any:
        version = parse_version(if_match, body.version if body else None)
        fn = getattr(ops(), f"{verb}_job")
        return await in_writer(request, write, store, "jobs", fn, actor=actor, job_id=id,
                               version=version)  # fmt: skip


_job_route("start", "Start (or resume) a job")
_job_route("pause", "Pause a running job")
_job_route("reopen", "Reopen a completed job (office): it goes back to PAUSED")


@router.post(
    "/api/jobs/{id}/complete",
    response_model=_read_model("jobs"),
    responses=ERR,
    summary="Complete a job, with the last quantities made",
)
async def complete(
    id: IdPath,
    request: Request,
    actor: Annotated[Actor, floor("complete jobs")],
    store: StoreDep,
    if_match: IfMatch = None,
    body: CompleteIn | None = None,
) -> Any:
    body = body or CompleteIn()
    version = parse_version(if_match, body.version)
    return await in_writer(request, write, store, "jobs", ops().complete_job, actor=actor,
                           job_id=id, produced=body.produced, scrap=body.scrap, reason=body.reason,
                           version=version)  # fmt: skip


@router.post(
    "/api/machines/{id}/status",
    response_model=_read_model("machines"),
    responses=ERR,
    summary="Set a machine's status (ERROR raises an alert)",
)
def machine_status(
    id: IdPath,
    body: MachineStatusIn,
    actor: Annotated[Actor, floor("set machine status")],
    store: StoreDep,
) -> Any:
    return write(store, "machines", ops().set_machine_status, actor=actor, machine_id=id,
                 status=body.status, note=body.note)  # fmt: skip


@router.post(
    "/api/machines/{id}/downtime",
    response_model=_read_model("downtimes"),
    status_code=201,
    responses=ERR,
    summary="Report a stop of a machine",
)
def downtime(
    id: IdPath,
    body: DowntimeIn,
    actor: Annotated[Actor, floor("report downtime")],
    store: StoreDep,
) -> Any:
    return write(store, "downtimes", ops().report_downtime, 201, actor=actor, machine_id=id,
                 reason=body.reason, started_at=body.started_at, ended_at=body.ended_at,
                 planned=body.planned, notes=body.notes)  # fmt: skip


# The actions that take only the row's id: (route name, path, entity answered, core
# action, its id argument, what the floor check calls it, roles allowed, summary).
_ID_ACTIONS: tuple[tuple[str, str, str, str, str, str, frozenset[str], str], ...] = (
    ("end_downtime", "/api/downtimes/{id}/end", "downtimes", "end_downtime", "downtime_id",
     "end downtime", FLOOR, "End an open downtime now"),
    ("end_machine_downtime", "/api/machines/{id}/downtime/end", "downtimes",
     "end_machine_downtime", "machine_id", "end downtime", FLOOR,
     "End the machine's open stop now"),
    ("dismiss", "/api/alerts/{id}/dismiss", "alerts", "dismiss_alert", "alert_id",
     "dismiss alerts", FLOOR, "Dismiss an alert"),
    ("message_read", "/api/messages/{id}/read", "messages", "mark_message_read", "message_id",
     "read messages", ALL_ROLES, "Mark a message to you as read"),
)  # fmt: skip


def _id_route(name: str, path: str, entity: str, action: str, id_arg: str, what: str,
              roles: frozenset[str], summary: str) -> None:  # fmt: skip
    gate = floor(what, roles)

    @router.post(path, response_model=_read_model(entity), responses=ERR, summary=summary,
                 name=name)  # fmt: skip
    def route(id: IdPath, actor: Annotated[Actor, gate], store: StoreDep) -> Any:
        ids: dict[str, Any] = {id_arg: id}
        return write(store, entity, getattr(ops(), action), actor=actor, **ids)


for _spec in _ID_ACTIONS:
    _id_route(*_spec)


def shared_queues(context: AppContext) -> QueueCache:
    """Operators' queues kept between the changes that touch them (local_api.queue_cache),
    one per app."""
    cache = QueueCache(context, my_queue)
    cache.subscribe()
    return cache


def shared_board(context: AppContext) -> BoardCache:
    """The board kept card by card between changes (see local_api.board_cache), one per
    app."""
    cache = BoardCache(context, ops().board)
    cache.subscribe()
    return cache
