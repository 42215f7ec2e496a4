"""Finance totals per period and currency, and the two chart series (revenue per month,
OEE per machine over time), from ``core.tour.finance`` and ``core.factory.oee``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any


@dataclass
class TotalsRow:
    period: str
    currency: str
    shows: int
    gross: Decimal
    costs: Decimal
    net: Decimal
    note: str = ""
    complete: bool = True
    warnings: list[str] = field(default_factory=list)


def _quarter(month_key: str) -> str:
    year, month = month_key.split("-")
    return f"{year}-Q{(int(month) - 1) // 3 + 1}"


def totals(session: Any, *, period: str = "month") -> list[TotalsRow]:
    """``period``: month | quarter | year | currency. Month-based totals are in the home
    currency (shows with no stored rate are listed apart, never guessed)."""
    from core.tour.finance import finance_totals
    from desktop.i18n import tr
    from desktop.presenters.settlement import warning_text

    group = "currency" if period == "currency" else "month"
    with session.read() as s:
        groups = finance_totals(s, org_id=session.org_id, group_by=group)
    merged: dict[tuple[str, str], TotalsRow] = {}
    for g in groups:
        key = g["key"]
        if period == "quarter":
            key = _quarter(key)
        elif period == "year":
            key = key[:4]
        cur = g.get("currency") or ""
        row = merged.setdefault((key, cur), TotalsRow(key, cur, 0, Decimal(0), Decimal(0),
                                                      Decimal(0)))  # fmt: skip
        row.shows += int(g.get("shows", 0))
        row.gross += Decimal(str(g.get("gross", 0)))
        row.costs += Decimal(str(g.get("costs", 0)))
        row.net += Decimal(str(g.get("net", 0)))
        unconverted = g.get("unconverted") or {}
        if unconverted:
            extra = ", ".join(f"{v} {k}" for k, v in unconverted.items())
            row.note = (row.note + "; " if row.note else "") + tr("not converted: {extra}",
                                                                  extra=extra)  # fmt: skip
        if not g.get("complete", True):
            # Money never disappears from a total without the total saying so.
            row.complete = False
            row.warnings += [warning_text(w) for w in g.get("warnings", [])]
            if tr("Incomplete") not in row.note:
                row.note = tr("Incomplete") + ("; " + row.note if row.note else "")
    return sorted(merged.values(), key=lambda r: (r.period, r.currency))


def revenue_per_month(session: Any) -> list[tuple[str, float]]:
    rows = totals(session, period="month")
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        out[r.period] += float(r.gross)
    return sorted(out.items())


def oee_per_machine(session: Any, *, days: int = 14) -> dict[str, list[tuple[str, float]]]:
    """{machine name: [(day, OEE 0..1)]} over the last ``days`` days."""
    from core.factory.oee import oee_report

    # Whole days only: today so far would read as a collapse every morning.
    end = datetime.combine(datetime.now(UTC).date(), time(), UTC)
    start = end - timedelta(days=days)
    with session.read() as s:
        rows = oee_report(s, org_id=session.org_id, period="day", start=start, end=end)
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in rows:
        value = r.get("oee")
        series[r.get("machine", r.get("machine_id", "?"))].append(
            (str(r["start"])[:10], float(value) if value is not None else 0.0)
        )
    # Machines that made nothing in the period (no production recorded) are left out.
    return {k: v for k, v in series.items() if any(value > 0 for _, value in v)}


def downtime_by_reason(session: Any, *, days: int = 30) -> list[tuple[str, float]]:
    """Hours of downtime per reason over the last ``days`` (open stops count up to now),
    for the Pareto chart: the few reasons that cost most come first."""
    from sqlalchemy import select

    from core.clock import utcnow
    from core.models import Downtime
    from desktop.i18n import choice_label

    now = utcnow()
    since = now - timedelta(days=days)
    hours: dict[str, float] = defaultdict(float)
    with session.read() as s:
        rows = s.execute(
            select(Downtime.reason, Downtime.started_at, Downtime.ended_at).where(
                Downtime.org_id == session.org_id, Downtime.deleted_at.is_(None),
                Downtime.started_at >= since)
        ).all()  # fmt: skip
    for reason, start, end in rows:
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        stop = (end if end.tzinfo else end.replace(tzinfo=UTC)) if end else now
        hours[choice_label(reason)] += max((stop - start).total_seconds(), 0) / 3600
    return sorted(hours.items(), key=lambda kv: -kv[1])
