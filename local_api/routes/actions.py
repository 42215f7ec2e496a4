"""Shop-floor actions: what an operator does from a tablet. Each route checks the role
and module, parses, and calls ``core.services.factory_ops`` (which checks ownership and
state and writes through the one write path)."""

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.registry import ALL_ROLES, FACTORY_READERS, registry
from core.schemas.common import LongText, Quantity, ShortText
from core.schemas.factory import DowntimeReason, MachineStatus
from core.services import queries
from core.services.writes import Actor
from local_api.deps import Deps, check_role
from local_api.problems import AUTHED, responses
from local_api.routes.entities import IfMatch, json_response, parse_version, write_tx
from local_api.shared_read import SharedRead

FLOOR = FACTORY_READERS  # admin, office, operator
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


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


def router(deps: Deps) -> APIRouter:
    ctx = deps.context
    reg = registry()
    r = APIRouter(tags=["shop floor"])
    current = deps.current_actor

    def floor(actor: Actor, what: str) -> None:
        deps.module_enabled(reg["jobs"])
        check_role(actor, FLOOR, what)

    def write(entity: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        spec = reg[entity]
        with write_tx(ctx.store) as s:
            row = fn(s, **kwargs)
            out = queries.row_json(spec, row)
        return json_response(out, headers={"ETag": f'"{row.version}"'})

    def ops() -> Any:
        # Imported on first use: the module pulls in OEE arithmetic the rest of the API
        # does not need at start-up.
        from core.services import factory_ops

        return factory_ops

    job_read = reg["jobs"].read
    err = responses(*AUTHED, 404, 409, 422)

    def job_action(verb: str, summary: str) -> None:
        @r.post(
            f"/api/jobs/{{id}}/{verb}",
            response_model=job_read,
            summary=summary,
            responses=err,
            name=f"job_{verb}",
        )
        def action(
            id: IdPath,
            actor: Annotated[Actor, Depends(current)],
            if_match: IfMatch = None,
            body: VersionIn | None = None,
        ) -> Any:
            floor(actor, f"{verb} jobs")
            version = parse_version(if_match, body.version if body else None)
            fn = getattr(ops(), f"{verb}_job")
            return write("jobs", fn, actor=actor, job_id=id, version=version)

    job_action("start", "Start (or resume) a job")
    job_action("pause", "Pause a running job")

    @r.post(
        "/api/jobs/{id}/progress",
        response_model=job_read,
        responses=err,
        summary="Report quantities made since the last report",
    )
    def progress(
        id: IdPath,
        body: ProgressIn,
        actor: Annotated[Actor, Depends(current)],
        if_match: IfMatch = None,
    ) -> Any:
        floor(actor, "report progress")
        version = parse_version(if_match, body.version)
        return write(
            "jobs",
            ops().report_progress,
            actor=actor,
            job_id=id,
            produced=body.produced,
            scrap=body.scrap,
            version=version,
        )

    @r.post(
        "/api/jobs/{id}/complete",
        response_model=job_read,
        responses=err,
        summary="Complete a job, with the last quantities made",
    )
    def complete(
        id: IdPath,
        actor: Annotated[Actor, Depends(current)],
        if_match: IfMatch = None,
        body: CompleteIn | None = None,
    ) -> Any:
        floor(actor, "complete jobs")
        body = body or CompleteIn()
        version = parse_version(if_match, body.version)
        return write(
            "jobs",
            ops().complete_job,
            actor=actor,
            job_id=id,
            produced=body.produced,
            scrap=body.scrap,
            version=version,
        )

    @r.post(
        "/api/machines/{id}/status",
        response_model=reg["machines"].read,
        responses=err,
        summary="Set a machine's status (ERROR raises an alert)",
    )
    def machine_status(
        id: IdPath, body: MachineStatusIn, actor: Annotated[Actor, Depends(current)]
    ) -> Any:
        floor(actor, "set machine status")
        return write(
            "machines",
            ops().set_machine_status,
            actor=actor,
            machine_id=id,
            status=body.status,
            note=body.note,
        )

    @r.post(
        "/api/machines/{id}/downtime",
        response_model=reg["downtimes"].read,
        status_code=201,
        responses=err,
        summary="Report a stop of a machine",
    )
    def downtime(id: IdPath, body: DowntimeIn, actor: Annotated[Actor, Depends(current)]) -> Any:
        floor(actor, "report downtime")
        resp = write(
            "downtimes",
            ops().report_downtime,
            actor=actor,
            machine_id=id,
            reason=body.reason,
            started_at=body.started_at,
            ended_at=body.ended_at,
            planned=body.planned,
            notes=body.notes,
        )
        resp.status_code = 201
        return resp

    @r.post(
        "/api/downtimes/{id}/end",
        response_model=reg["downtimes"].read,
        responses=err,
        summary="End an open downtime now",
    )
    def end_downtime(id: IdPath, actor: Annotated[Actor, Depends(current)]) -> Any:
        floor(actor, "end downtime")
        return write("downtimes", ops().end_downtime, actor=actor, downtime_id=id)

    @r.post(
        "/api/alerts/{id}/dismiss",
        response_model=reg["alerts"].read,
        responses=err,
        summary="Dismiss an alert",
    )
    def dismiss(id: IdPath, actor: Annotated[Actor, Depends(current)]) -> Any:
        floor(actor, "dismiss alerts")
        return write("alerts", ops().dismiss_alert, actor=actor, alert_id=id)

    @r.post(
        "/api/messages/{id}/read",
        response_model=reg["messages"].read,
        responses=err,
        summary="Mark a message to you as read",
    )
    def message_read(id: IdPath, actor: Annotated[Actor, Depends(current)]) -> Any:
        check_role(actor, ALL_ROLES, "read messages")
        return write("messages", ops().mark_message_read, actor=actor, message_id=id)

    @r.get(
        "/api/me/jobs",
        response_model=list[job_read],
        responses=responses(*AUTHED),
        summary="My queue: active jobs assigned to me, running first",
    )
    def my_jobs(actor: Annotated[Actor, Depends(current)]) -> Any:
        floor(actor, "have jobs")
        spec = reg["jobs"]
        with ctx.store.read() as s:
            return json_response([queries.row_json(spec, j) for j in ops().my_jobs(s, actor=actor)])

    @r.get(
        "/api/board",
        response_model=list[BoardCard],
        responses=responses(*AUTHED),
        summary="One card per active machine: status, current and next job, OEE today",
    )
    def board(actor: Annotated[Actor, Depends(current)]) -> Any:
        floor(actor, "see the board")
        return json_response(shared_board.get())

    def compute_board() -> Any:
        with ctx.store.read() as s:
            return ops().board(s, org_id=ctx.site.org_id)

    # One computation serves every screen asking at the same time (see shared_read).
    shared_board = SharedRead(compute_board, max_age=5.0)
    ctx.change_hooks.append(shared_board.on_changes)

    return r
