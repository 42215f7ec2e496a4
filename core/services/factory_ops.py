"""Shop-floor actions: what operators do from a tablet, and what office staff do from
the desktop. Each action checks who may do it, then changes rows through the one write
path (so it is audited, queued for sync and broadcast like any other change)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Conflict, Forbidden, Invalid
from core.models import Alert, Job, Machine
from core.oee import PRODUCTION, machines_oee
from core.registry import registry
from core.serial import to_json
from core.services import writes
from core.services.writes import Actor, get_live

ACTIVE = ("PENDING", "IN_PROGRESS", "PAUSED")
# Warn this far ahead of the maintenance point (domain.md: at 90 % of the interval).
WARN_FRACTION = Decimal("0.9")


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


def _transition(job: Job, allowed: tuple[str, ...], target: str) -> None:
    if job.status not in allowed:
        raise Conflict(f"a {job.status} job cannot be set to {target}", current=job)


def start_job(session: Session, *, actor: Actor, job_id: str, version: int | None = None) -> Job:
    job = _job(session, actor, job_id, version)
    _transition(job, ("PENDING", "PAUSED"), "IN_PROGRESS")
    busy = session.scalar(
        select(Job.id).where(
            Job.org_id == actor.org_id,
            Job.machine_id == job.machine_id,
            Job.status == "IN_PROGRESS",
            Job.deleted_at.is_(None),
            Job.id != job.id,
        )
    )
    if busy:
        raise Conflict(f"machine is busy with job '{busy}'; pause it first")
    now = utcnow()
    data: dict[str, Any] = {"status": "IN_PROGRESS"}
    if job.started_at is None:
        data["started_at"] = now
    if actor.role == "operator" and not job.operator_ids:
        data["operator_ids"] = [actor.user_id]
    _update(session, actor, "jobs", job, data)
    machine = get_live(session, _spec("machines"), actor.org_id, job.machine_id)
    _update(
        session,
        actor,
        "machines",
        machine,
        {"status": "RUNNING", "status_since": now, "current_job_id": job.id},
    )
    _event(session, actor, "JOB_STARTED", {"job_id": job.id, "machine_id": job.machine_id})
    return job


def pause_job(session: Session, *, actor: Actor, job_id: str, version: int | None = None) -> Job:
    job = _job(session, actor, job_id, version)
    _transition(job, ("IN_PROGRESS",), "PAUSED")
    _update(session, actor, "jobs", job, {"status": "PAUSED"})
    machine = get_live(session, _spec("machines"), actor.org_id, job.machine_id)
    if machine.status == "RUNNING":
        _update(session, actor, "machines", machine, {"status": "IDLE", "status_since": utcnow()})
    _event(session, actor, "JOB_PAUSED", {"job_id": job.id, "machine_id": job.machine_id})
    return job


def _quantity(name: str, value: Any) -> Decimal:
    try:
        q = Decimal(str(value))
    except Exception:
        raise Invalid(
            f"{name} must be a number", details=[{"field": name, "message": "not a number"}]
        ) from None
    if not q.is_finite() or q < 0 or q > Decimal(10) ** 9:
        raise Invalid(
            f"{name} must be between 0 and 1e9",
            details=[{"field": name, "message": "out of range"}],
        )
    return q.quantize(Decimal("0.001"))


def report_progress(
    session: Session,
    *,
    actor: Actor,
    job_id: str,
    produced: Any,
    scrap: Any = 0,
    version: int | None = None,
) -> Job:
    """Record what was made since the last report (increments, not totals): the job's
    counters, a PRODUCTION event for OEE, and the machine's maintenance counter."""
    job = _job(session, actor, job_id, version)
    made, bad = _quantity("produced", produced), _quantity("scrap", scrap)
    if bad > made:
        raise Invalid(
            "scrap cannot exceed what was produced",
            details=[{"field": "scrap", "message": "more than produced"}],
        )
    if job.status not in ("IN_PROGRESS", "PAUSED"):
        raise Conflict(
            f"progress can only be reported on a started job (it is {job.status})", current=job
        )
    if made == 0:
        return job
    total = job.produced_qty + made
    progress = min(Decimal(100), total / job.quantity * 100) if job.quantity > 0 else Decimal(100)
    _update(
        session,
        actor,
        "jobs",
        job,
        {
            "produced_qty": total,
            "scrap_qty": job.scrap_qty + bad,
            "progress": progress.quantize(Decimal("0.01")),
        },
    )
    _event(
        session,
        actor,
        PRODUCTION,
        {
            "job_id": job.id,
            "machine_id": job.machine_id,
            "qty": to_json(made),
            "scrap": to_json(bad),
        },
    )
    advance_maintenance(
        session,
        actor=actor,
        machine_id=job.machine_id,
        meters=made if job.unit == "m" else Decimal(0),
    )
    return job


def complete_job(
    session: Session,
    *,
    actor: Actor,
    job_id: str,
    produced: Any = 0,
    scrap: Any = 0,
    version: int | None = None,
) -> Job:
    job = report_progress(
        session, actor=actor, job_id=job_id, produced=produced, scrap=scrap, version=version
    )
    _update(session, actor, "jobs", job, {"status": "COMPLETED", "completed_at": utcnow()})
    machine = get_live(session, _spec("machines"), actor.org_id, job.machine_id)
    if machine.current_job_id == job.id:
        _update(
            session,
            actor,
            "machines",
            machine,
            {"status": "IDLE", "status_since": utcnow(), "current_job_id": None},
        )
    _event(session, actor, "JOB_COMPLETED", {"job_id": job.id, "machine_id": job.machine_id})
    return job


def _raise_alert(
    session: Session, actor: Actor, machine: Machine, kind: str, severity: str, message: str
) -> None:
    """One open alert per machine and kind: a rule that fires again does not pile up."""
    open_alert = session.scalar(
        select(Alert.id).where(
            Alert.org_id == actor.org_id,
            Alert.machine_id == machine.id,
            Alert.kind == kind,
            Alert.dismissed_at.is_(None),
            Alert.deleted_at.is_(None),
        )
    )
    if open_alert is None:
        writes.create(
            session,
            actor=Actor.system(actor.org_id, actor.device_id),
            entity="alerts",
            data={"machine_id": machine.id, "severity": severity, "kind": kind, "message": message},
        )


def advance_maintenance(
    session: Session, *, actor: Actor, machine_id: str, meters: Decimal
) -> Machine:
    """Meters produced advance the machine's counter; warn at 90 % of the interval and
    raise an alert when maintenance is due."""
    machine = get_live(session, _spec("machines"), actor.org_id, machine_id)
    if meters <= 0:
        return machine
    total = machine.total_meters + meters
    _update(
        session,
        Actor.system(actor.org_id, actor.device_id),
        "machines",
        machine,
        {"total_meters": total},
    )
    due_at, interval = machine.next_maintenance_at, machine.maintenance_interval
    if due_at is None:
        return machine
    if total >= due_at:
        _raise_alert(
            session,
            actor,
            machine,
            "maintenance_due",
            "CRITICAL",
            f"Maintenance due on {machine.name} ({total} m of {due_at} m)",
        )
    elif interval and total >= due_at - interval * (1 - WARN_FRACTION):
        _raise_alert(
            session,
            actor,
            machine,
            "maintenance_soon",
            "WARNING",
            f"Maintenance soon on {machine.name} ({due_at - total} m left)",
        )
    return machine


def record_maintenance(session: Session, *, actor: Actor, machine_id: str) -> Machine:
    """Maintenance done: the next one is due one interval from now."""
    machine = get_live(session, _spec("machines"), actor.org_id, machine_id)
    if not machine.maintenance_interval:
        raise Invalid(
            "the machine has no maintenance interval",
            details=[{"field": "maintenance_interval", "message": "not set"}],
        )
    return _update(
        session,
        actor,
        "machines",
        machine,
        {"next_maintenance_at": machine.total_meters + machine.maintenance_interval},
    )


def set_machine_status(
    session: Session, *, actor: Actor, machine_id: str, status: str, note: str | None = None
) -> Machine:
    _require_floor(actor)
    machine = get_live(session, _spec("machines"), actor.org_id, machine_id, for_update=True)
    _update(session, actor, "machines", machine, {"status": status, "status_since": utcnow()})
    _event(
        session, actor, "MACHINE_STATUS", {"machine_id": machine_id, "status": status, "note": note}
    )
    if status == "ERROR":
        _raise_alert(
            session,
            actor,
            machine,
            "machine_error",
            "CRITICAL",
            f"{machine.name} reported in ERROR" + (f": {note}" if note else ""),
        )
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
    return writes.create(session, actor=_as_floor(actor), entity="downtimes", data=data)


def _as_floor(actor: Actor) -> Actor:
    """The same person, allowed to create through an action: operators may record
    downtime from the floor even though the generic entity route is office-only; the
    action has checked what they may do. Audit and ``updated_by`` still name them."""
    return Actor(
        org_id=actor.org_id, user_id=actor.user_id, role=writes.SYSTEM, device_id=actor.device_id
    )


def end_downtime(session: Session, *, actor: Actor, downtime_id: str) -> Any:
    _require_floor(actor)
    row = get_live(session, _spec("downtimes"), actor.org_id, downtime_id, for_update=True)
    if row.ended_at is not None:
        raise Conflict("this downtime has already ended", current=row)
    return _update(session, actor, "downtimes", row, {"ended_at": utcnow()})


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


def _next_job(session: Session, live: tuple[Any, ...], machine_id: str) -> Job | None:
    """First PENDING job by sequence, then due date. In two indexed steps: ordering by
    (sequence, due_at) at once would sort the machine's whole queue."""
    pending = (*live, Job.machine_id == machine_id, Job.status == "PENDING")
    first = session.scalar(select(func.min(Job.sequence)).where(*pending))
    if first is None:
        return None
    stmt = (
        select(Job)
        .where(*pending, Job.sequence == first)
        .order_by(Job.due_at.asc().nulls_last(), Job.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def _current_job(session: Session, live: tuple[Any, ...], machine: Machine) -> Job | None:
    """The machine's current job, else its first job in progress."""
    if machine.current_job_id:
        job = session.get(Job, (machine.org_id, machine.current_job_id))
        if job is not None and job.deleted_at is None and job.status in ACTIVE:
            return job
    stmt = (
        select(Job)
        .where(*live, Job.machine_id == machine.id, Job.status == "IN_PROGRESS")
        .order_by(Job.sequence)
        .limit(1)
    )
    return session.scalars(stmt).first()


def board(session: Session, *, org_id: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """One card per active machine: status, current job and progress, next job up, OEE
    today, open alerts.

    Read with a few indexed queries per machine and grouped counts, never by loading the
    organisation's open jobs: a factory accumulates 100,000 of them.
    """
    now = now or utcnow()
    midnight = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    live = (Job.org_id == org_id, Job.deleted_at.is_(None))
    machines = session.scalars(
        select(Machine)
        .where(Machine.org_id == org_id, Machine.deleted_at.is_(None), Machine.is_active.is_(True))
        .order_by(Machine.name)
    ).all()
    queue_lengths = dict(
        session.execute(
            select(Job.machine_id, func.count())
            .where(*live, Job.status.in_(ACTIVE))
            .group_by(Job.machine_id)
        ).all()
    )
    open_alerts = dict(
        session.execute(
            select(Alert.machine_id, func.count())
            .where(Alert.org_id == org_id, Alert.dismissed_at.is_(None), Alert.deleted_at.is_(None))
            .group_by(Alert.machine_id)
        ).all()
    )
    oee = (
        machines_oee(
            session, org_id=org_id, machines=list(machines), start=midnight, end=now, now=now
        )
        if now > midnight
        else {}
    )
    return [
        {
            "id": m.id,
            "name": m.name,
            "type": m.type,
            "status": m.status,
            "status_since": to_json(m.status_since),
            "color": m.color,
            "version": m.version,
            "current_job": _job_card(_current_job(session, live, m)),
            "next_job": _job_card(_next_job(session, live, m.id)),
            "queue_length": int(queue_lengths.get(m.id, 0)),
            "oee_today": oee[m.id]["oee"] if m.id in oee else None,
            "open_alerts": int(open_alerts.get(m.id, 0)),
            "total_meters": to_json(m.total_meters),
            "next_maintenance_at": to_json(m.next_maintenance_at),
        }
        for m in machines
    ]


def _job_card(job: Job | None) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "id": job.id,
        "title": job.title,
        "status": job.status,
        "progress": to_json(job.progress),
        "produced_qty": to_json(job.produced_qty),
        "quantity": to_json(job.quantity),
        "unit": job.unit,
        "version": job.version,
    }
