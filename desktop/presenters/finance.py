"""Finance totals per period and currency, and the two chart series (revenue per month,
OEE per machine over time), from ``core.finance`` and ``core.oee``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
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


def _quarter(month_key: str) -> str:
    year, month = month_key.split("-")
    return f"{year}-Q{(int(month) - 1) // 3 + 1}"


def totals(session: Any, *, period: str = "month") -> list[TotalsRow]:
    """``period``: month | quarter | year | currency. Month-based totals are in the home
    currency (shows with no stored rate are listed apart, never guessed)."""
    from core.finance import finance_totals

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
            row.note = (row.note + "; " if row.note else "") + f"not converted: {extra}"
    return sorted(merged.values(), key=lambda r: (r.period, r.currency))


def revenue_per_month(session: Any) -> list[tuple[str, float]]:
    rows = totals(session, period="month")
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        out[r.period] += float(r.gross)
    return sorted(out.items())


def oee_per_machine(session: Any, *, days: int = 14) -> dict[str, list[tuple[str, float]]]:
    """{machine name: [(day, OEE 0..1)]} over the last ``days`` days."""
    from core.oee import oee_report

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
