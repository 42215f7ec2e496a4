"""Overall equipment effectiveness, the usual definition:

    A = run time / planned time;  P = produced / (run time x ideal rate);
    Q = good / produced;          OEE = A x P x Q

Planned time is the period less planned stops; run time is planned time less unplanned
downtime (open stops count up to now). Production comes from the append-only production
reports (opening balances excluded: they were made before the period), plus the
PRODUCTION events older stores logged, so a period's figure never changes when a job is
edited later. Each factor is bounded to 0-1: a report that claims more than the machine
can make reads as 100 % performance, never 148,892 %; an event stored before payloads
were validated that holds no usable number is skipped, never a failure.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Invalid, NotFound
from core.factory.events import safe_quantity
from core.models import Downtime, Event, Machine, ProductionReport
from core.orm import core_sql

PRODUCTION = "PRODUCTION"
FOUR = Decimal("0.0001")
# Default shift pattern (UTC hours); three eight-hour shifts.
SHIFTS = ((6, 14), (14, 22), (22, 30))


@dataclass(frozen=True)
class OEE:
    planned_minutes: Decimal
    downtime_minutes: Decimal
    run_minutes: Decimal
    produced: Decimal
    scrap: Decimal
    ideal_rate: Decimal | None
    availability: Decimal | None
    performance: Decimal | None
    quality: Decimal | None
    oee: Decimal | None

    def as_json(self) -> dict[str, Any]:
        return {k: (None if v is None else format(v, "f")) for k, v in self.__dict__.items()}


ZERO, ONE = Decimal(0), Decimal(1)


def _ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return None if den <= 0 else min(max(num / den, ZERO), ONE)


def compute_oee(
    *,
    planned_minutes: Decimal,
    downtime_minutes: Decimal,
    produced: Decimal,
    scrap: Decimal,
    ideal_rate: Decimal | None,
) -> OEE:
    """The arithmetic alone. Ratios are rounded to four places only at the end."""
    run = max(planned_minutes - downtime_minutes, Decimal(0))
    a = _ratio(run, planned_minutes)
    p = _ratio(produced, run * ideal_rate) if ideal_rate else None
    q = _ratio(produced - min(scrap, produced), produced)
    oee = a * p * q if a is not None and p is not None and q is not None else None

    def r(x: Decimal | None) -> Decimal | None:
        return None if x is None else x.quantize(FOUR, rounding=ROUND_HALF_UP)

    return OEE(
        planned_minutes=planned_minutes,
        downtime_minutes=downtime_minutes,
        run_minutes=run,
        produced=produced,
        scrap=scrap,
        ideal_rate=ideal_rate,
        availability=r(a),
        performance=r(p),
        quality=r(q),
        oee=r(oee),
    )


def _overlap_minutes(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> Decimal:
    seconds = (min(a1, b1) - max(a0, b0)).total_seconds()
    return Decimal(max(seconds, 0)) / 60


def counted_reports(org_id: Any) -> tuple[Any, ...]:
    """Which production reports count as production of their day: live ones, not an
    opening balance (the machine's counter already held it). Also the board cache's
    daily counters (local_api.board_cache), whose statement is built once with a bound
    parameter for ``org_id``."""
    r = ProductionReport.__table__.c
    return (r.org_id == org_id, r.kind != "opening", r.deleted_at.is_(None))


def _production(
    session: Session, org_id: str, start: datetime, end: datetime
) -> dict[str, tuple[Decimal, Decimal]]:
    """Produced and scrap per machine in [start, end), one query for all machines.

    The database extracts the three JSON fields, so a day of events is not loaded and
    parsed row by row (the board asks for this on every screen refresh).
    """
    payload = Event.payload
    stmt = select(
        payload["machine_id"].as_string(), payload["qty"].as_string(), payload["scrap"].as_string()
    ).where(
        Event.org_id == org_id, Event.type == PRODUCTION, Event.at >= start, Event.at < end,
        Event.deleted_at.is_(None),
    )  # fmt: skip
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for machine_id, qty, scrap in session.execute(stmt):
        made, bad = safe_quantity(qty or "0"), safe_quantity(scrap or "0")
        if made is None or bad is None or not isinstance(machine_id, str):
            continue  # stored before payloads were validated; unusable
        old_made, old_bad = totals.get(machine_id, (ZERO, ZERO))
        totals[machine_id] = (old_made + made, old_bad + bad)
    r = ProductionReport
    reports = (
        select(r.machine_id, func.sum(r.good_qty), func.sum(r.scrap_qty))
        .where(*counted_reports(org_id), r.at >= start, r.at < end)
        .group_by(r.machine_id)
    )
    for machine_id, good_sum, scrap_sum in session.execute(reports):
        good, bad = Decimal(good_sum or 0), Decimal(scrap_sum or 0)
        old_made, old_bad = totals.get(machine_id, (ZERO, ZERO))
        totals[machine_id] = (old_made + good + bad, old_bad + bad)
    return totals


@functools.cache
def _stops() -> Any:
    """Stops overlapping [start, end): built once (the board asks on every write)."""
    d = Downtime.__table__
    return select(d.c.machine_id, d.c.started_at, d.c.ended_at, d.c.planned).where(
        d.c.org_id == bindparam("org"), d.c.deleted_at.is_(None),
        d.c.started_at < bindparam("end"),
        d.c.ended_at.is_(None) | (d.c.ended_at > bindparam("start")),
    )  # fmt: skip


def _downtime(
    session: Session, org_id: str, start: datetime, end: datetime, now: datetime
) -> dict[str, tuple[Decimal, Decimal]]:
    """(planned, unplanned) stopped minutes per machine overlapping [start, end)."""
    params = {"org": org_id, "start": start, "end": end}
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for machine_id, began, ended, planned in core_sql.connection(session).execute(_stops(), params):
        minutes = _overlap_minutes(start, end, began, ended or now)
        p, u = totals.get(machine_id, (Decimal(0), Decimal(0)))
        totals[machine_id] = (p + minutes, u) if planned else (p, u + minutes)
    return totals


def machines_oee(
    session: Session,
    *,
    org_id: str,
    machines: Sequence[Any],  # Machine rows or objects: id, name, ideal_rate
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    production: Mapping[str, tuple[Decimal, Decimal]] | None = None,
) -> dict[str, dict[str, Any]]:
    """OEE of several machines over one period, with one query for production and one for
    downtime whatever the number of machines. ``production`` (produced, scrap per machine
    over the period) replaces the production query when the caller keeps those totals
    itself (the board's daily counters)."""
    if end <= start:
        raise Invalid(
            "the period must end after it starts",
            details=[{"field": "end", "message": "before start"}],
        )
    now = now or utcnow()
    end_eff = min(end, now) if start < now else end
    period = Decimal((end_eff - start).total_seconds()) / 60
    made = _production(session, org_id, start, end) if production is None else production
    stopped = _downtime(session, org_id, start, end_eff, now)
    zero = (Decimal(0), Decimal(0))
    out = {}
    for m in machines:
        planned_stop, unplanned = stopped.get(m.id, zero)
        produced, scrap = made.get(m.id, zero)
        result = compute_oee(
            planned_minutes=max(period - planned_stop, Decimal(0)),
            downtime_minutes=unplanned,
            produced=produced,
            scrap=scrap,
            ideal_rate=m.ideal_rate,
        ).as_json()
        result.update(machine_id=m.id, machine=m.name, start=start.isoformat(), end=end.isoformat())
        out[m.id] = result
    return out


def machine_oee(
    session: Session,
    *,
    org_id: str,
    machine_id: str,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> dict[str, Any]:
    machine = session.get(Machine, (org_id, machine_id))
    if machine is None or machine.deleted_at is not None:
        raise NotFound(f"machines '{machine_id}' not found")
    result = machines_oee(session, org_id=org_id, machines=[machine], start=start, end=end, now=now)
    return result[machine_id]


def periods(kind: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Split [start, end) into shifts, days, or keep it whole."""
    if kind == "range":
        return [(start, end)]
    out = []
    # Start a day early: the night shift that began yesterday runs into today.
    day = datetime.combine(start.astimezone(UTC).date(), time(), UTC) - timedelta(days=1)
    while day < end:
        if kind == "day":
            bounds = [(day, day + timedelta(days=1))]
        elif kind == "shift":
            bounds = [(day + timedelta(hours=a), day + timedelta(hours=b)) for a, b in SHIFTS]
        else:
            raise Invalid(
                f"unknown period '{kind}'",
                details=[{"field": "period", "message": "shift, day or range"}],
            )
        out += [(max(a, start), min(b, end)) for a, b in bounds if b > start and a < end]
        day += timedelta(days=1)
    return out


def oee_report(
    session: Session,
    *,
    org_id: str,
    period: str = "day",
    start: datetime | None = None,
    end: datetime | None = None,
    machine_id: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    now = now or utcnow()
    end = end or now
    start = start or datetime.combine(end.astimezone(UTC).date(), time(), UTC)
    if (end - start) > timedelta(days=366):
        raise Invalid(
            "a report covers at most one year",
            details=[{"field": "start", "message": "range too long"}],
        )
    stmt = select(Machine).where(Machine.org_id == org_id, Machine.deleted_at.is_(None))
    if machine_id:
        stmt = stmt.where(Machine.id == machine_id)
    machines = list(session.scalars(stmt.order_by(Machine.name)))
    rows = []
    for a, b in periods(period, start, end):
        if a < b:
            by_machine = machines_oee(
                session, org_id=org_id, machines=machines, start=a, end=b, now=now
            )
            rows += [by_machine[m.id] for m in machines]
    return rows
