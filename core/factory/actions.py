"""Shop-floor actions: what operators do from a tablet, and what office staff do from
the desktop. Each action checks who may do it, then changes rows through the one write
path (so it is audited, queued for sync and broadcast like any other change)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import rules, writes
from core.clock import utcnow
from core.errors import Forbidden, Invalid
from core.factory.board import board as board  # re-exported: the cards, read with Core
from core.factory.maintenance import raise_alert
from core.factory.maintenance import record_maintenance as record_maintenance  # re-exported
from core.factory.rules import open_downtime
from core.factory.schemas import ACTIVE
from core.fields import Quantity
from core.models import Job, Machine
from core.registry import registry
from core.writes import Actor, get_live


def _spec(name: str) -> Any:
    return registry()[name]


def _require_floor(actor: Actor) -> None:
    if actor.role not in ("admin", "office", "operator", writes.SYSTEM):
        raise Forbidden(f"role '{actor.role}' may not do shop-floor actions")


def _own_job(actor: Actor, job: Job) -> None:
    """Operators act on their own jobs (or an unassigned one, which they then take)."""
    _require_floor(actor)
    if actor.role == "operator" and job.operator_ids and actor.user_id not in job.operator_ids:
        raise Forbidden("this job is assigned to other operators")


def _job(session: Session, actor: Actor, job_id: str, version: int | None) -> Job:
    job = get_live(session, _spec("jobs"), actor.org_id, job_id, for_update=True)
    writes.check_version(_spec("jobs"), job, version)
    _own_job(actor, job)
    return job


def _update(session: Session, actor: Actor, entity: str, row: Any, data: dict[str, Any]) -> Any:
    return writes.update(session, actor=actor, entity=entity, id=row.id, data=data, check=False)


def _event(session: Session, actor: Actor, type_: str, payload: dict[str, Any]) -> None:
    data = {"type": type_, "user_id": actor.user_id, "payload": payload}
    writes.create(session, actor=_as_floor(actor), entity="events", data=data)


_QUANTITY: TypeAdapter[Decimal] = TypeAdapter(Quantity)


def _quantity(name: str, value: Any) -> Decimal:
    try:
        return _QUANTITY.validate_python(value)
    except ValidationError as exc:
        message = exc.errors(include_url=False)[0]["msg"]
        raise Invalid(f"{name}: {message}", details=[{"field": name, "message": message}]) from None


# The actions below are conveniences: each is one or two writes, and the rules of the
# work (core.factory.rules) decide in the write path, as they do for a PATCH or a sync.


def start_job(session: Session, *, actor: Actor, job_id: str, version: int | None = None) -> Job:
    job = _job(session, actor, job_id, version)
    data: dict[str, Any] = {"status": "IN_PROGRESS"}
    if actor.role == "operator" and not job.operator_ids:
        data["operator_ids"] = [actor.user_id]
    _update(session, actor, "jobs", job, data)
    _event(session, actor, "JOB_STARTED", {"job_id": job.id, "machine_id": job.machine_id})
    return job


def pause_job(session: Session, *, actor: Actor, job_id: str, version: int | None = None) -> Job:
    job = _job(session, actor, job_id, version)
    _update(session, actor, "jobs", job, {"status": "PAUSED"})
    _event(session, actor, "JOB_PAUSED", {"job_id": job.id, "machine_id": job.machine_id})
    return job


def reopen_job(session: Session, *, actor: Actor, job_id: str, version: int | None = None) -> Job:
    """Office: a completed job goes back to PAUSED (its reports stay; more can follow)."""
    job = _job(session, actor, job_id, version)
    _update(session, actor, "jobs", job, {"status": "PAUSED"})
    _event(session, actor, "JOB_REOPENED", {"job_id": job.id, "machine_id": job.machine_id})
    return job


def report_progress(
    session: Session,
    *,
    actor: Actor,
    job_id: str,
    produced: Any,
    scrap: Any = 0,
    version: int | None = None,
) -> Job:
    """What was made since the last report (an increment, never a total) becomes a
    production report. Reports add up: two tablets reporting on one job at once both
    count, so the job version the tablet saw is not checked."""
    job = _job(session, actor, job_id, None)
    made, bad = _quantity("produced", produced), _quantity("scrap", scrap)
    if bad > made:
        raise rules.refuse("scrap_above_produced", status=422, field="scrap")
    if made == 0:
        return job
    writes.create(
        session,
        actor=_as_floor(actor),
        entity="production_reports",
        data={"job_id": job.id, "good_qty": made - bad, "scrap_qty": bad},
    )
    return job


def complete_job(
    session: Session,
    *,
    actor: Actor,
    job_id: str,
    produced: Any = 0,
    scrap: Any = 0,
    reason: str | None = None,
    version: int | None = None,
) -> Job:
    """The last quantities (if any), then COMPLETED; below the quantity the write path
    asks for ``reason`` (a short close)."""
    job = _job(session, actor, job_id, version)
    report_progress(session, actor=actor, job_id=job_id, produced=produced, scrap=scrap)
    data: dict[str, Any] = {"status": "COMPLETED"}
    if reason:
        data["short_close_reason"] = reason
    _update(session, actor, "jobs", job, data)
    _event(session, actor, "JOB_COMPLETED", {"job_id": job.id, "machine_id": job.machine_id})
    return job


def set_machine_status(
    session: Session, *, actor: Actor, machine_id: str, status: str, note: str | None = None
) -> Machine:
    _require_floor(actor)
    machine = get_live(session, _spec("machines"), actor.org_id, machine_id, for_update=True)
    _update(session, actor, "machines", machine, {"status": status, "status_since": utcnow()})
    payload = {"machine_id": machine_id, "status": status, "note": note}
    _event(session, actor, "MACHINE_STATUS", {k: v for k, v in payload.items() if v})
    if status == "ERROR":
        raise_alert(
            session, actor, machine, "machine_error", "CRITICAL",
            f"{machine.name} reported in ERROR" + (f": {note}" if note else ""),
        )  # fmt: skip
    return machine


def report_downtime(
    session: Session,
    *,
    actor: Actor,
    machine_id: str,
    reason: str,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    planned: bool = False,
    notes: str | None = None,
) -> Any:
    """Open a stop (or record a past one). The machine's status follows its open stop."""
    _require_floor(actor)
    data = {
        "machine_id": machine_id,
        "reason": reason,
        "started_at": started_at or utcnow(),
        "ended_at": ended_at,
        "planned": planned,
        "notes": notes,
        "reported_by": actor.user_id,
    }
    row = writes.create(session, actor=_as_floor(actor), entity="downtimes", data=data)
    if ended_at is None:
        _event(session, actor, "DOWNTIME_STARTED",
               {"machine_id": machine_id, "downtime_id": row.id, "reason": reason})  # fmt: skip
    return row


def _as_floor(actor: Actor) -> Actor:
    """The same person, allowed to create through an action: operators may record
    downtime from the floor even though the generic entity route is office-only; the
    action has checked what they may do. Audit and ``updated_by`` still name them."""
    return Actor(
        org_id=actor.org_id, user_id=actor.user_id, role=writes.SYSTEM, device_id=actor.device_id
    )


def end_downtime(session: Session, *, actor: Actor, downtime_id: str) -> Any:
    """End a stop now; the machine runs again if its job is in progress, else is idle."""
    _require_floor(actor)
    row = get_live(session, _spec("downtimes"), actor.org_id, downtime_id, for_update=True)
    _update(session, actor, "downtimes", row, {"ended_at": max(utcnow(), row.started_at)})
    _event(session, actor, "DOWNTIME_ENDED",
           {"machine_id": row.machine_id, "downtime_id": row.id, "reason": row.reason})  # fmt: skip
    return row


def end_machine_downtime(session: Session, *, actor: Actor, machine_id: str) -> Any:
    """End the machine's open stop (what the board's button does)."""
    _require_floor(actor)
    machine = get_live(session, _spec("machines"), actor.org_id, machine_id)
    stop = open_downtime(session, actor.org_id, machine.id)
    if stop is None:
        raise rules.refuse("no_open_downtime", status=409, machine=machine.name)
    return end_downtime(session, actor=actor, downtime_id=stop.id)


def dismiss_alert(session: Session, *, actor: Actor, alert_id: str) -> Any:
    _require_floor(actor)
    row = get_live(session, _spec("alerts"), actor.org_id, alert_id, for_update=True)
    if row.dismissed_at is not None:
        return row
    return _update(
        session, actor, "alerts", row, {"dismissed_at": utcnow(), "dismissed_by": actor.user_id}
    )


def mark_message_read(session: Session, *, actor: Actor, message_id: str) -> Any:
    row = get_live(session, _spec("messages"), actor.org_id, message_id, for_update=True)
    if row.to_user_id != actor.user_id and actor.role not in ("admin", writes.SYSTEM):
        raise Forbidden("only the recipient can mark a message read")
    if row.read_at is not None:
        return row
    return _update(session, actor, "messages", row, {"read_at": utcnow()})


def my_jobs(session: Session, *, actor: Actor) -> list[Job]:
    """The operator's queue: active jobs assigned to them, running first, then by
    machine queue order."""
    stmt = select(Job).where(
        Job.org_id == actor.org_id, Job.status.in_(ACTIVE), Job.deleted_at.is_(None)
    )
    jobs = [j for j in session.scalars(stmt) if actor.user_id in (j.operator_ids or ())]
    rank = {"IN_PROGRESS": 0, "PAUSED": 1, "PENDING": 2}
    return sorted(
        jobs,
        key=lambda j: (rank[j.status], j.sequence, j.due_at or datetime.max.replace(tzinfo=UTC)),
    )
