"""The machine board's cards, read with SQLAlchemy Core.

Every write on the floor re-reads the cards it touches (local_api.board_cache), so this
is a hot path: the statements are built once (bound parameters, SQLAlchemy's compiled
cache) and executed on the session's connection, and rows are tuples, not ORM objects.
Through the ORM the same nine queries cost about 3.5 ms of CPU for one card, most of it
building expressions and loading instances (bench/bench_board.py).

The cards are the same whoever asks: the shop-floor pages, a board screen and the
desktop.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.factory.models import Alert, Downtime, Job, Machine
from core.factory.oee import machines_oee
from core.factory.rules import job_ref
from core.factory.schemas import ACTIVE
from core.orm import core_sql
from core.serial import to_json

_JOB_CARD = ("id", "doc_number", "title", "status", "progress", "produced_qty", "quantity",
             "unit", "version")  # fmt: skip
_MACHINE = ("id", "name", "type", "status", "status_since", "color", "version",
            "total_meters", "next_maintenance_at", "ideal_rate", "current_job_id")  # fmt: skip
_STOP = ("machine_id", "id", "reason", "started_at", "planned", "version")


def _some(stmt: Select[Any], column: Any, some: bool) -> Select[Any]:
    """The statement for all machines, or for the ones in the ``ids`` parameter."""
    return stmt.where(column.in_(bindparam("ids", expanding=True))) if some else stmt


def _per_machine(table: Any, some: bool, *where: Any) -> Select[Any]:
    """How many rows of ``table`` each machine has, of those matching ``where``."""
    c = table.c
    stmt = select(c.machine_id, func.count()).where(*where).group_by(c.machine_id)
    return _some(stmt, c.machine_id, some)


@functools.cache
def _statements(some: bool) -> dict[str, Select[Any]]:
    """The board's statements, built once per shape (all machines, or some)."""
    m, j, a, d = Machine.__table__, Job.__table__, Alert.__table__, Downtime.__table__
    org: Any = bindparam("org")
    live_jobs = (j.c.org_id == org, j.c.deleted_at.is_(None))
    job_cols = [j.c[n] for n in _JOB_CARD]
    return {
        "machines": _some(
            select(*(m.c[n] for n in _MACHINE))
            .where(m.c.org_id == org, m.c.deleted_at.is_(None), m.c.is_active.is_(True))
            .order_by(m.c.name),
            m.c.id,
            some,
        ),
        "queues": _per_machine(j, some, *live_jobs, j.c.status.in_(ACTIVE)),
        "alerts": _per_machine(
            a, some, a.c.org_id == org, a.c.dismissed_at.is_(None), a.c.deleted_at.is_(None)
        ),
        "stops": _some(
            select(*(d.c[n] for n in _STOP))
            .where(d.c.org_id == org, d.c.ended_at.is_(None), d.c.deleted_at.is_(None))
            .order_by(d.c.started_at),
            d.c.machine_id,
            some,
        ),
        # The machine's current job when it is still active...
        "current": select(*job_cols).where(
            *live_jobs, j.c.id == bindparam("job"), j.c.status.in_(ACTIVE)
        ),
        # ...else its first job in progress.
        "running": select(*job_cols)
        .where(*live_jobs, j.c.machine_id == bindparam("machine"), j.c.status == "IN_PROGRESS")
        .order_by(j.c.sequence)
        .limit(1),
        # The next job: first PENDING by sequence, then due date, in two indexed steps
        # (ordering by both at once would sort the machine's whole queue).
        "first_pending": select(func.min(j.c.sequence)).where(
            *live_jobs, j.c.machine_id == bindparam("machine"), j.c.status == "PENDING"
        ),
        "next": select(*job_cols)
        .where(
            *live_jobs,
            j.c.machine_id == bindparam("machine"),
            j.c.status == "PENDING",
            j.c.sequence == bindparam("sequence"),
        )
        .order_by(j.c.due_at.asc().nulls_last(), j.c.id)
        .limit(1),
    }


def board(
    session: Session,
    *,
    org_id: str,
    now: datetime | None = None,
    machine_ids: Collection[str] | None = None,
    production: Mapping[str, tuple[Decimal, Decimal]] | None = None,
) -> list[dict[str, Any]]:
    """One card per active machine: status, current job and progress, next job up, OEE
    today, open alerts.

    A few indexed queries per machine and grouped counts, never the organisation's open
    jobs loaded (a factory accumulates 100,000 of them). ``machine_ids`` limits the cards
    to those machines; ``production`` gives today's (produced, scrap) per machine instead
    of summing the day's events (the LAN API's board cache does both).
    """
    now = now or utcnow()
    midnight = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    some = machine_ids is not None
    sql = _statements(some)
    params: dict[str, Any] = {"org": org_id}
    if some:
        params["ids"] = sorted(machine_ids or ())
        if not params["ids"]:
            return []
    conn = core_sql.connection(session)
    machines = conn.execute(sql["machines"], params).all()
    queue_lengths: dict[str, int] = dict(conn.execute(sql["queues"], params).all())
    open_alerts: dict[str, int] = dict(conn.execute(sql["alerts"], params).all())
    # An open stop is the machine's state on the board: its reason and since when (the
    # latest, when a machine has two).
    stops = {s.machine_id: s for s in conn.execute(sql["stops"], params)}
    oee = (
        machines_oee(
            session,
            org_id=org_id,
            machines=list(machines),
            start=midnight,
            end=now,
            now=now,
            production=production,
        )
        if now > midnight
        else {}
    )

    def current_job(m: Any) -> Any:
        if m.current_job_id:
            job = conn.execute(sql["current"], {"org": org_id, "job": m.current_job_id}).first()
            if job is not None:
                return job
        return conn.execute(sql["running"], {"org": org_id, "machine": m.id}).first()

    def next_job(m: Any) -> Any:
        at = {"org": org_id, "machine": m.id}
        first = conn.execute(sql["first_pending"], at).scalar()
        if first is None:
            return None
        return conn.execute(sql["next"], {**at, "sequence": first}).first()

    return [
        {
            "id": m.id,
            "name": m.name,
            "type": m.type,
            "status": m.status,
            "status_since": to_json(m.status_since),
            "stop": _stop_card(stops.get(m.id)),
            "color": m.color,
            "version": m.version,
            "current_job": _job_card(current_job(m)),
            "next_job": _job_card(next_job(m)),
            "queue_length": int(queue_lengths.get(m.id, 0)),
            "oee_today": oee[m.id]["oee"] if m.id in oee else None,
            "open_alerts": int(open_alerts.get(m.id, 0)),
            "total_meters": to_json(m.total_meters),
            "next_maintenance_at": to_json(m.next_maintenance_at),
        }
        for m in machines
    ]


def _stop_card(stop: Any) -> dict[str, Any] | None:
    if stop is None:
        return None
    return {
        "id": stop.id,
        "reason": stop.reason,
        "since": to_json(stop.started_at),
        "planned": stop.planned,
        "version": stop.version,
    }


def _job_card(job: Any) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "id": job.id,
        "doc_number": job.doc_number,
        "ref": job_ref(job),
        "title": job.title,
        "status": job.status,
        "progress": to_json(job.progress),
        "produced_qty": to_json(job.produced_qty),
        "quantity": to_json(job.quantity),
        "unit": job.unit,
        "version": job.version,
    }
