"""Rules of the work on the shop floor, enforced by the one write path (core.rules).

Jobs: allowed status transitions (and who may reopen); at most one job in progress per
machine; no start on a machine that is stopped (open downtime), in ERROR, MAINTENANCE or
OFFLINE; completion below the quantity needs a short-close reason; the quantity never
below what was produced; a new job joins the end of its machine's queue. A job's
produced and scrap quantities and progress are derived from its production reports.

Machines: RUNNING only without an open downtime; the status follows the machine's open
downtime and its job in progress. Downtime: one open stop per machine, ended once.
Production reports: on a started job, corrections reverse a report with a reason.
Events: typed payloads (core.factory.events).

Errors are ``RuleBroken`` codes with parameters (see docs/api.md for the list).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from core.clock import utcnow
from core.db import flush_for
from core.errors import Invalid
from core.factory.events import validate_payload
from core.models import Downtime, Job, ProductionReport
from core.rules import LOCAL, EntityRules, WriteContext, batch_safe, refuse
from core.sync.notices import ChangeNotice
from core.sync.unit import unit_of

UNAVAILABLE = ("MAINTENANCE", "ERROR", "OFFLINE")
# Status -> statuses a job may go to. Leaving COMPLETED or CANCELED is a reopen.
TRANSITIONS = {
    "PENDING": {"IN_PROGRESS", "CANCELED"},
    "IN_PROGRESS": {"PAUSED", "COMPLETED", "CANCELED"},
    "PAUSED": {"IN_PROGRESS", "COMPLETED", "CANCELED"},
    "COMPLETED": {"IN_PROGRESS", "PAUSED"},
    "CANCELED": {"PENDING"},
}
REOPENERS = frozenset({"admin", "office", "system"})
STARTED = ("IN_PROGRESS", "PAUSED", "COMPLETED")
# A machine's status while it has an open downtime of this reason.
DOWN_STATUS = {"BREAKDOWN": "ERROR", "MAINTENANCE": "MAINTENANCE"}
QUEUE_STEP = 10
HUNDRED = Decimal(100)


# --- lookups -------------------------------------------------------------------------


def _get(ctx: WriteContext, entity: str, id: str | None) -> Any:
    from core import writes

    if not id:
        return None
    row = writes._lookup(ctx.session, entity, ctx.org_id, id)
    return None if row is None or row.deleted_at is not None else row


def open_downtime(session: Any, org_id: str, machine_id: str) -> Downtime | None:
    """The machine's open stop, if any (the latest, should there be several)."""
    flush_for(session, Downtime)
    stmt = (
        select(Downtime)
        .where(
            Downtime.org_id == org_id,
            Downtime.machine_id == machine_id,
            Downtime.ended_at.is_(None),
            Downtime.deleted_at.is_(None),
        )
        .order_by(Downtime.started_at.desc())
        .limit(1)
    )
    with session.no_autoflush:
        return session.scalars(stmt).first()


def running_job(session: Any, org_id: str, machine_id: str, other_than: str | None) -> Job | None:
    flush_for(session, Job)
    stmt = select(Job).where(
        Job.org_id == org_id,
        Job.machine_id == machine_id,
        Job.status == "IN_PROGRESS",
        Job.deleted_at.is_(None),
    )
    if other_than:
        stmt = stmt.where(Job.id != other_than)
    with session.no_autoflush:
        return session.scalars(stmt.limit(1)).first()


def job_ref(job: Any) -> str:
    """How a job is named to people: its document number, else its title."""
    return str(job.doc_number or job.title)


# --- jobs ------------------------------------------------------------------------------


def _queue_tail(ctx: WriteContext) -> None:
    """A new job without a sequence goes to the end of its machine's queue."""
    if ctx.kind != "create" or ctx.values.get("sequence") is not None:
        return
    machine_id = ctx.values.get("machine_id")
    tails = unit_of(ctx.session).queue_tails
    key = (ctx.org_id, machine_id)
    if key not in tails:
        ctx.session.flush()
        # ``sequence + 0``: with a bare column SQLite answers max() by walking the
        # organisation's sequence index from the top until a job of this machine turns
        # up, every job of the organisation for a machine with none yet (17 ms with
        # 20,000 jobs); so it reads the machine's own jobs through the queue index.
        tails[key] = ctx.session.scalar(
            select(func.max(Job.sequence + 0)).where(
                Job.org_id == ctx.org_id, Job.machine_id == machine_id, Job.deleted_at.is_(None)
            )
        )
    tail = tails[key]
    ctx.values["sequence"] = ctx.changed["sequence"] = 0 if tail is None else tail + QUEUE_STEP
    tails[key] = ctx.values["sequence"]


def _opening_balance(ctx: WriteContext) -> None:
    """A job created with a produced quantity (the import, a job begun elsewhere) gets it
    as an opening production report, so produced is still the sum of reports."""
    if ctx.kind != "create" or not ctx.made_here:
        return
    produced = ctx.values.get("produced_qty") or Decimal(0)
    scrap = ctx.values.get("scrap_qty") or Decimal(0)
    if scrap > produced:
        raise Invalid(
            "invalid jobs: scrap_qty: scrap cannot exceed the produced quantity",
            details=[
                {"field": "scrap_qty", "message": "scrap cannot exceed the produced quantity"}
            ],
        )
    if produced > 0 or scrap > 0:
        ctx.carry["opening"] = (produced, scrap)
    ctx.values.update(produced_qty=Decimal(0), scrap_qty=Decimal(0), progress=Decimal(0))
    for name in ("produced_qty", "scrap_qty", "progress"):
        ctx.changed.pop(name, None)


def _stamps(ctx: WriteContext) -> None:
    """Timestamps that follow a status change."""
    now = utcnow()
    if ctx.entering("status", "IN_PROGRESS") and ctx.values.get("started_at") is None:
        ctx.values["started_at"] = ctx.changed["started_at"] = now
    if ctx.entering("status", "COMPLETED") and ctx.values.get("completed_at") is None:
        ctx.values["completed_at"] = ctx.changed["completed_at"] = now
    reopened = ctx.kind == "update" and ctx.before("status") == "COMPLETED"
    if reopened and ctx.sets("status") and ctx.values.get("status") != "COMPLETED":
        ctx.values["completed_at"] = ctx.changed["completed_at"] = None
        ctx.values["short_close_reason"] = ctx.changed["short_close_reason"] = None


def _job_transition(ctx: WriteContext) -> None:
    if ctx.kind != "update" or not ctx.sets("status"):
        return
    old, new = ctx.before("status"), ctx.values["status"]
    if old == new:
        return
    if new not in TRANSITIONS.get(old, set()):
        raise refuse(
            "job_transition", field="status", job=job_ref(ctx.row), **{"from": old, "to": new}
        )
    if old in ("COMPLETED", "CANCELED") and str(ctx.actor.role) not in REOPENERS:
        raise refuse("reopen_office_only", status=403, field="status", job=job_ref(ctx.row))


def _machine_free(ctx: WriteContext) -> None:
    """Starting (or moving a running job): the machine must be up and not busy."""
    v = ctx.values
    if v.get("status") != "IN_PROGRESS":
        return
    if not (ctx.entering("status", "IN_PROGRESS") or ctx.sets("machine_id")):
        return
    machine = _get(ctx, "machines", v.get("machine_id"))
    if machine is None:
        return  # the reference check reports it
    stop = open_downtime(ctx.session, ctx.org_id, machine.id)
    if stop is not None:
        raise refuse(
            "machine_stopped", machine=machine.name, machine_id=machine.id,
            reason=stop.reason, since=stop.started_at.isoformat(), downtime_id=stop.id,
        )  # fmt: skip
    if machine.status in UNAVAILABLE:
        raise refuse(
            "machine_unavailable", machine=machine.name, machine_id=machine.id,
            machine_status=machine.status,
        )  # fmt: skip
    _one_running(ctx)


def _one_running(ctx: WriteContext) -> None:
    """At most one job in progress per machine."""
    v = ctx.values
    if v.get("status") != "IN_PROGRESS":
        return
    if not (ctx.entering("status", "IN_PROGRESS") or ctx.sets("machine_id")):
        return
    machine = _get(ctx, "machines", v.get("machine_id"))
    if machine is None:
        return
    own = ctx.row.id if ctx.row is not None else None
    busy = running_job(ctx.session, ctx.org_id, machine.id, own)
    if busy is not None:
        raise refuse(
            "machine_busy", machine=machine.name, machine_id=machine.id,
            job=job_ref(busy), job_id=busy.id,
        )  # fmt: skip


def _short_close(ctx: WriteContext) -> None:
    v = ctx.values
    if not ctx.entering("status", "COMPLETED"):
        return
    produced, quantity = v.get("produced_qty") or Decimal(0), v.get("quantity") or Decimal(0)
    produced += ctx.carry.get("opening", (Decimal(0), Decimal(0)))[0]
    if produced < quantity and not (v.get("short_close_reason") or "").strip():
        raise refuse(
            "short_close_reason_required", status=422, field="short_close_reason",
            produced=format(produced, "f"), quantity=format(quantity, "f"),
        )  # fmt: skip


def _quantity_covers_produced(ctx: WriteContext) -> None:
    if not ctx.sets("quantity") or ctx.kind == "create":
        return
    produced, quantity = ctx.values.get("produced_qty") or Decimal(0), ctx.values["quantity"]
    if quantity < produced:
        raise refuse(
            "quantity_below_produced", status=422, field="quantity",
            quantity=format(quantity, "f"), produced=format(produced, "f"),
        )  # fmt: skip


def _opening_covered(ctx: WriteContext) -> None:
    opening = ctx.carry.get("opening")
    if opening and ctx.values["quantity"] < opening[0]:
        raise refuse(
            "quantity_below_produced", status=422, field="quantity",
            quantity=format(ctx.values["quantity"], "f"), produced=format(opening[0], "f"),
        )  # fmt: skip


def _machine_follows_job(ctx: WriteContext) -> None:
    """The machine runs while its job is in progress, and is idle when it stops."""
    if ctx.origin != LOCAL or not (ctx.sets("status") or ctx.kind != "update"):
        return
    from core import writes

    job = ctx.row
    machine = _get(ctx, "machines", job.machine_id)
    if machine is None:
        return
    system = writes.Actor.system(ctx.org_id, ctx.actor.device_id)
    now = utcnow()
    if job.status == "IN_PROGRESS" and ctx.entering("status", "IN_PROGRESS"):
        data: dict[str, Any] = {"current_job_id": job.id}
        if machine.status != "RUNNING":
            data |= {"status": "RUNNING", "status_since": now}
        _set(ctx, system, "machines", machine, data)
    elif ctx.before("status") == "IN_PROGRESS" or ctx.kind == "delete":
        data = {}
        # Deleting a job that was not running leaves the machine to the job that is.
        was_running = ctx.kind != "delete" or job.status == "IN_PROGRESS"
        if machine.status == "RUNNING" and was_running:
            data |= {"status": "IDLE", "status_since": now}
        if machine.current_job_id == job.id and (job.status != "PAUSED" or ctx.kind == "delete"):
            data["current_job_id"] = None
        _set(ctx, system, "machines", machine, data)


def _create_opening(ctx: WriteContext) -> None:
    opening = ctx.carry.get("opening")
    if not opening:
        return
    from core import writes

    produced, scrap = opening
    job = ctx.row
    writes.create(
        ctx.session,
        actor=writes.Actor(ctx.org_id, ctx.actor.user_id, "system", ctx.actor.device_id),
        entity="production_reports",
        data={
            "job_id": job.id, "machine_id": job.machine_id, "kind": "opening",
            "good_qty": produced - scrap, "scrap_qty": scrap,
            "at": job.started_at or job.completed_at or utcnow(),
            "reason": "opening balance",
        },
    )  # fmt: skip


def _set(ctx: WriteContext, actor: Any, entity: str, row: Any, data: dict[str, Any]) -> None:
    from core import writes

    data = {k: v for k, v in data.items() if getattr(row, k) != v}
    if data:
        writes.update(ctx.session, actor=actor, entity=entity, id=row.id, data=data, check=False)


# --- machines ----------------------------------------------------------------------------


def _machine_running(ctx: WriteContext) -> None:
    if not ctx.entering("status", "RUNNING") or ctx.row is None:
        return
    stop = open_downtime(ctx.session, ctx.org_id, ctx.row.id)
    if stop is not None:
        raise refuse(
            "machine_stopped", machine=ctx.values.get("name"), machine_id=ctx.row.id,
            reason=stop.reason, since=stop.started_at.isoformat(), downtime_id=stop.id,
        )  # fmt: skip


def _current_job_here(ctx: WriteContext) -> None:
    """A machine's current job is one of its own that has started and not finished: a
    follow-up of a refused start (arriving by sync after the start was refused) cannot
    point the machine at a job that is not running there."""
    job_id = ctx.values.get("current_job_id")
    if not ctx.sets("current_job_id") or job_id is None or ctx.row is None:
        return
    job = _get(ctx, "jobs", job_id)
    if job is None:
        return  # the reference check reports it
    if job.machine_id != ctx.row.id or job.status not in ("IN_PROGRESS", "PAUSED"):
        raise refuse(
            "current_job_not_running", field="current_job_id", machine=ctx.values.get("name"),
            job=job_ref(job), job_status=job.status,
        )  # fmt: skip


# --- downtime ----------------------------------------------------------------------------


def _one_open_stop(ctx: WriteContext) -> None:
    v = ctx.values
    opening = v.get("ended_at") is None and (
        ctx.kind == "create" or (ctx.sets("ended_at") or ctx.sets("machine_id"))
    )
    if not opening:
        return
    own = ctx.row.id if ctx.row is not None else None
    stop = open_downtime(ctx.session, ctx.org_id, v["machine_id"])
    if stop is not None and stop.id != own:
        machine = _get(ctx, "machines", v["machine_id"])
        raise refuse(
            "downtime_already_open", machine=machine.name if machine else v["machine_id"],
            machine_id=v["machine_id"], reason=stop.reason,
            since=stop.started_at.isoformat(), downtime_id=stop.id,
        )  # fmt: skip


def _end_once(ctx: WriteContext) -> None:
    if ctx.kind == "update" and ctx.sets("ended_at") and ctx.before("ended_at") is not None:
        if ctx.values.get("ended_at") is None or ctx.is_person is False:
            return  # reopening a stop, or a correction arriving by sync
        raise refuse("downtime_already_ended", field="ended_at", downtime_id=ctx.row.id)


def _machine_follows_stop(ctx: WriteContext) -> None:
    """An open stop is the machine's state; ending it gives the machine back."""
    if ctx.origin != LOCAL:
        return
    from core import writes

    stop = ctx.row
    machine = _get(ctx, "machines", stop.machine_id)
    if machine is None:
        return
    system = writes.Actor.system(ctx.org_id, ctx.actor.device_id)
    opened = ctx.kind == "create" and stop.ended_at is None
    ended = (ctx.kind == "update" and ctx.sets("ended_at") and stop.ended_at is not None) or (
        ctx.kind == "delete" and stop.ended_at is None
    )
    if opened:
        # A breakdown or maintenance says what the machine is; any other stop only
        # stops a running machine (one in MAINTENANCE or OFFLINE stays so).
        status = DOWN_STATUS.get(stop.reason) or (
            "IDLE" if machine.status == "RUNNING" else machine.status
        )
        _set(ctx, system, "machines", machine, {"status": status, "status_since": stop.started_at})
    elif ended and open_downtime(ctx.session, ctx.org_id, machine.id) is None:
        job = running_job(ctx.session, ctx.org_id, machine.id, None)
        status = "RUNNING" if job is not None else "IDLE"
        since = stop.ended_at if ctx.kind == "update" else utcnow()
        _set(ctx, system, "machines", machine, {"status": status, "status_since": since})


# --- production reports ------------------------------------------------------------------


def _report_defaults(ctx: WriteContext) -> None:
    v = ctx.values
    job = _get(ctx, "jobs", v.get("job_id"))
    if v.get("machine_id") is None and job is not None:
        v["machine_id"] = ctx.changed["machine_id"] = job.machine_id
    if v.get("at") is None:
        v["at"] = ctx.changed["at"] = utcnow()
    if ctx.made_here:
        if v.get("operator_id") is None and ctx.actor.user_id:
            v["operator_id"] = ctx.changed["operator_id"] = ctx.actor.user_id
        if v.get("device_id") is None and ctx.actor.device_id:
            v["device_id"] = ctx.changed["device_id"] = ctx.actor.device_id


def _report_valid(ctx: WriteContext) -> None:
    v = ctx.values
    job = _get(ctx, "jobs", v.get("job_id"))
    good, scrap = v["good_qty"], v["scrap_qty"]
    if v.get("kind") == "correction" or v.get("reverses_id"):
        _correction_valid(ctx, job)
    elif good < 0 or scrap < 0:
        field = "good_qty" if good < 0 else "scrap_qty"
        raise refuse("negative_report", status=422, field=field)
    if job is None:
        return
    if v.get("kind") == "report" and job.status not in STARTED:
        raise refuse("job_not_started", field="job_id", job=job_ref(job), job_status=job.status)
    if job.produced_qty + good + scrap < 0 or job.scrap_qty + scrap < 0:
        raise refuse(
            "produced_below_zero", status=422, field="good_qty", job=job_ref(job),
            produced=format(job.produced_qty, "f"),
        )  # fmt: skip


def _correction_valid(ctx: WriteContext, job: Any) -> None:
    v = ctx.values
    if v.get("kind") != "correction" or not v.get("reverses_id"):
        raise refuse("correction_needs_report", status=422, field="reverses_id")
    if not (v.get("reason") or "").strip():
        raise refuse("correction_reason_required", status=422, field="reason")
    target = _get(ctx, "production_reports", v["reverses_id"])
    if target is None or target.job_id != v.get("job_id"):
        raise refuse("correction_mismatch", status=422, field="reverses_id")


def _report_totals(ctx: WriteContext) -> None:
    """Every store adds each report to its job and machine once, whoever made it."""
    report = ctx.row
    job = _get(ctx, "jobs", report.job_id)
    if job is not None:
        add_to_job(job, report.good_qty, report.scrap_qty)
        unit_of(ctx.session).notice(
            ChangeNotice(entity="jobs", id=job.id, kind="update", version=job.version,
                         org_id=job.org_id)
        )  # fmt: skip
    machine = _get(ctx, "machines", report.machine_id)
    made = report.good_qty + report.scrap_qty
    # An opening balance was made before this store knew the job: the machine's own
    # counter already holds it.
    if report.kind == "opening":
        return
    if machine is not None and job is not None and job.unit == "m" and made:
        machine.total_meters = max(machine.total_meters + made, Decimal(0))
        if ctx.origin == LOCAL and report.kind == "report" and made > 0:
            from core.factory.maintenance import check_maintenance

            check_maintenance(ctx.session, actor=ctx.actor, machine=machine)


def add_to_job(job: Any, good: Decimal, scrap: Decimal) -> None:
    job.produced_qty = job.produced_qty + good + scrap
    job.scrap_qty = job.scrap_qty + scrap
    job.progress = progress_of(job.produced_qty, job.quantity)


def progress_of(produced: Decimal, quantity: Decimal) -> Decimal:
    if quantity <= 0:
        return HUNDRED
    return min(HUNDRED, max(produced, Decimal(0)) / quantity * 100).quantize(Decimal("0.01"))


def recompute_jobs(session: Any, org_id: str, job_ids: set[str]) -> None:
    """Set jobs' totals to the sums of their reports (after a pull brought rows from
    the central server, whose totals do not yet hold this site's unsent reports)."""
    if not job_ids:
        return
    session.flush()
    ids = sorted(job_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        sums = {
            job_id: (good or Decimal(0), scrap or Decimal(0))
            for job_id, good, scrap in session.execute(
                select(
                    ProductionReport.job_id,
                    func.sum(ProductionReport.good_qty),
                    func.sum(ProductionReport.scrap_qty),
                )
                .where(
                    ProductionReport.org_id == org_id,
                    ProductionReport.job_id.in_(chunk),
                    ProductionReport.deleted_at.is_(None),
                )
                .group_by(ProductionReport.job_id)
            )
        }
        for job in session.scalars(select(Job).where(Job.org_id == org_id, Job.id.in_(chunk))):
            good, scrap = sums.get(job.id, (Decimal(0), Decimal(0)))
            good, scrap = Decimal(good), Decimal(scrap)
            if job.produced_qty != good + scrap or job.scrap_qty != scrap:
                job.produced_qty, job.scrap_qty = good + scrap, scrap
                job.progress = progress_of(job.produced_qty, job.quantity)


# --- events ------------------------------------------------------------------------------


@batch_safe
def _typed_event(ctx: WriteContext) -> None:
    payload, errors = validate_payload(str(ctx.values.get("type")), ctx.values.get("payload"))
    if errors:
        details = [{"field": f, "message": m} for f, m in errors]
        summary = "; ".join(f"{f}: {m}" for f, m in errors)
        raise Invalid(f"invalid events: {summary}", details=details)
    ctx.values["payload"] = payload
    ctx.changed["payload"] = payload


RULES = {
    "jobs": EntityRules(
        prepare=(_queue_tail, _opening_balance, _stamps),
        checks=(
            _job_transition, _machine_free, _short_close, _quantity_covers_produced,
            _opening_covered,
        ),
        after=(_machine_follows_job, _create_opening),
        derived=("produced_qty", "scrap_qty", "progress"),
        invariants=(_one_running,),
    ),
    "machines": EntityRules(
        checks=(_machine_running, _current_job_here), derived=("total_meters",),
        invariants=(_machine_running,),
    ),
    "downtimes": EntityRules(
        checks=(_one_open_stop, _end_once), after=(_machine_follows_stop,),
        invariants=(_one_open_stop,),
    ),
    "production_reports": EntityRules(
        prepare=(_report_defaults,), checks=(_report_valid,), after=(_report_totals,)
    ),
    "events": EntityRules(prepare=(_typed_event,)),
}  # fmt: skip
