"""Reports across the sites of an organisation, computed by the same functions the
sites' own reports use (``core.factory.oee``, ``core.tour.finance``) over the central
copy of the organisation's rows, so the numbers match; plus CSV and XLSX export.

Each report is a list of flat rows and the names of its columns, in order.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Invalid
from core.factory import oee as oee_mod
from core.factory.models import Downtime, Machine
from core.tour import finance

OEE_COLUMNS = (
    "start",
    "machine",
    "planned_minutes",
    "downtime_minutes",
    "produced",
    "scrap",
    "availability",
    "performance",
    "quality",
    "oee",
)
SHIFT_COLUMNS = ("start", "end", "machine", "produced", "scrap")
DOWNTIME_COLUMNS = ("reason", "planned", "stops", "minutes")
FINANCE_COLUMNS = ("key", "shows", "currency", "gross", "costs", "net", "unconverted", "incomplete")


@dataclass(frozen=True)
class Report:
    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


REPORTS = ("oee", "shifts", "downtime", "finance_month", "finance_act")


def period_bounds(
    start: str | None, end: str | None, *, days: int = 7
) -> tuple[datetime, datetime]:
    """Whole UTC days from ``start`` to ``end`` inclusive (ISO dates); the last ``days``
    days up to today when not given."""
    try:
        d1 = datetime.fromisoformat(end).date() if end else utcnow().date()
        d0 = datetime.fromisoformat(start).date() if start else d1 - timedelta(days=days - 1)
    except ValueError:
        raise Invalid(
            "dates are YYYY-MM-DD", details=[{"field": "start", "message": "not a date"}]
        ) from None
    if d1 < d0:
        raise Invalid(
            "the period must end after it starts",
            details=[{"field": "end", "message": "before start"}],
        )
    return datetime.combine(d0, time(), UTC), datetime.combine(d1 + timedelta(days=1), time(), UTC)


def build(session: Session, name: str, org_id: str, start: datetime, end: datetime) -> Report:
    if name == "oee":
        rows = oee_mod.oee_report(session, org_id=org_id, period="day", start=start, end=end)
        return Report(name, OEE_COLUMNS, [_pick(r, OEE_COLUMNS) for r in rows])
    if name == "shifts":
        rows = oee_mod.oee_report(session, org_id=org_id, period="shift", start=start, end=end)
        return Report(name, SHIFT_COLUMNS, [_pick(r, SHIFT_COLUMNS) for r in rows])
    if name == "downtime":
        return Report(name, DOWNTIME_COLUMNS, downtime_by_reason(session, org_id, start, end))
    if name in ("finance_month", "finance_act"):
        group = "month" if name == "finance_month" else "tour"
        rows = finance.finance_totals(session, org_id=org_id, group_by=group, start=start, end=end)
        for r in rows:
            r["unconverted"] = " ".join(f"{v} {k}" for k, v in sorted(r["unconverted"].items()))
        return Report(name, FINANCE_COLUMNS, [_pick(r, FINANCE_COLUMNS) for r in rows])
    raise Invalid(f"unknown report '{name}'", details=[{"field": "report", "message": name}])


def _pick(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: row.get(c) for c in columns}


def downtime_by_reason(
    session: Session, org_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Stops and minutes per reason inside [start, end) (an open stop counts until now),
    over the organisation's live machines."""
    now = utcnow()
    stmt = (
        select(Downtime.reason, Downtime.planned, Downtime.started_at, Downtime.ended_at)
        .join(Machine, (Machine.org_id == Downtime.org_id) & (Machine.id == Downtime.machine_id))
        .where(
            Downtime.org_id == org_id,
            Downtime.deleted_at.is_(None),
            Machine.deleted_at.is_(None),
            Downtime.started_at < end,
            (Downtime.ended_at.is_(None)) | (Downtime.ended_at > start),
        )
    )
    totals: dict[tuple[str, bool], list[Any]] = {}
    for reason, planned, began, ended in session.execute(stmt):
        a, b = max(began, start), min(ended or now, end)
        if b <= a:
            continue
        t = totals.setdefault((reason, bool(planned)), [0, Decimal(0)])
        t[0] += 1
        t[1] += Decimal((b - a).total_seconds()) / 60
    return [
        {"reason": r, "planned": p, "stops": n, "minutes": format(m.quantize(Decimal("0.01")), "f")}
        for (r, p), (n, m) in sorted(totals.items(), key=lambda kv: -kv[1][1])
    ]


def to_csv(report: Report) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(report.columns), lineterminator="\r\n")
    w.writeheader()
    w.writerows(report.rows)
    return buf.getvalue().encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    """One sheet; figures stay exact decimal strings turned into numbers where they are
    numbers (a spreadsheet sums them), everything else as text."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(report.name[:31])
    ws.append(list(report.columns))
    for row in report.rows:
        ws.append([_cell(row.get(c)) for c in report.columns])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(Decimal(value)) if value and value[0] in "-0123456789" else value
        except ArithmeticError:
            return value
    return value
