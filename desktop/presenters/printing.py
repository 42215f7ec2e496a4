"""Printable job ticket and tour day sheet: HTML laid out by QTextDocument and written
by QPdfWriter (no browser, no external tool; works offscreen)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.models import CalendarEntry, Job, Machine, Project, Show, Travel
from desktop.i18n import field_label, tr
from desktop.models.formatting import display, money

STYLE = """
<style>
 body { font-family: sans-serif; font-size: 10pt; }
 h1 { font-size: 18pt; margin: 0 0 4pt 0; }
 h2 { font-size: 12pt; margin: 12pt 0 4pt 0; }
 table { border-collapse: collapse; width: 100%; }
 td, th { border: 1px solid #999; padding: 4px; text-align: left; }
 th { background: #eee; }
</style>
"""


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(display(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def job_ticket_html(session: Any, job_id: str) -> str:
    with session.read() as s:
        job = s.get(Job, (session.org_id, job_id))
        if job is None:
            raise ValueError(f"no job {job_id}")
        machine = s.get(Machine, (session.org_id, job.machine_id))
        project = s.get(Project, (session.org_id, job.project_id)) if job.project_id else None
        rows = [
            (field_label("machine_id"), machine.name if machine else job.machine_id),
            (field_label("project_id"), project.name if project else ""),
            (field_label("status"), job.status),
            (field_label("priority"), job.priority),
            (field_label("sequence"), job.sequence),
            (field_label("quantity"), f"{display(job.quantity)} {job.unit}"),
            (field_label("produced_qty"), f"{display(job.produced_qty)} {job.unit}"),
            (field_label("scrap_qty"), f"{display(job.scrap_qty)} {job.unit}"),
            (field_label("due_at"), job.due_at),
        ]
        title = job.title
    return (f"{STYLE}<h1>{escape(title)}</h1><p>#{escape(job_id)}</p>{_table(rows)}"
            f"<h2>Notes</h2><p style='height:120pt'>&nbsp;</p>")  # fmt: skip


def day_sheet_html(session: Any, day: date) -> str:
    start = datetime.combine(day, time(), UTC) - timedelta(hours=14)
    end = datetime.combine(day, time(), UTC) + timedelta(hours=38)
    with session.read() as s:
        shows = [
            sh for sh in s.scalars(
                select(Show).where(Show.org_id == session.org_id, Show.deleted_at.is_(None),
                                   Show.starts_at >= start, Show.starts_at < end)
                .order_by(Show.starts_at))
            if sh.starts_at.astimezone(ZoneInfo(sh.tz or "UTC")).date() == day
        ]  # fmt: skip
        travel = [
            t for t in s.scalars(
                select(Travel).where(Travel.org_id == session.org_id, Travel.deleted_at.is_(None),
                                     Travel.departs_at >= start, Travel.departs_at < end)
                .order_by(Travel.departs_at))
            if t.departs_at.astimezone(ZoneInfo(t.departs_tz or "UTC")).date() == day
        ]  # fmt: skip
        other = s.scalars(
            select(CalendarEntry).where(CalendarEntry.org_id == session.org_id,
                                        CalendarEntry.deleted_at.is_(None),
                                        CalendarEntry.starts_on <= day)
        ).all()  # fmt: skip
        other = [c for c in other if (c.ends_on or c.starts_on) >= day]
        parts = [STYLE, f"<h1>{escape(tr('Day sheet'))} · {day.isoformat()}</h1>"]
        for sh in shows:
            local = sh.starts_at.astimezone(ZoneInfo(sh.tz or "UTC"))
            parts.append(f"<h2>{escape(sh.city)} — {escape(sh.venue or '')}</h2>")
            parts.append(_table([
                (tr("Show"), f"{local:%H:%M} ({sh.tz})"),
                (field_label("fee"), money(sh.fee, sh.currency)),
                (field_label("status"), sh.status),
                (field_label("notes"), sh.notes or ""),
            ]))  # fmt: skip
        if travel:
            parts.append(f"<h2>{escape(tr('Travel'))}</h2><table><tr><th>"
                         + "</th><th>".join(escape(field_label(c)) for c in
                                            ("kind", "origin", "destination", "departs_at",
                                             "arrives_at", "reference"))
                         + "</th></tr>")  # fmt: skip
            for t in travel:
                dep = t.departs_at.astimezone(ZoneInfo(t.departs_tz or "UTC"))
                arr = (
                    t.arrives_at.astimezone(ZoneInfo(t.arrives_tz or "UTC"))
                    if t.arrives_at
                    else None
                )
                cells = [t.kind, t.origin, t.destination, f"{dep:%H:%M}",
                         f"{arr:%H:%M}" if arr else "", t.reference or ""]  # fmt: skip
                parts.append("<tr><td>" + "</td><td>".join(escape(c) for c in cells) + "</td></tr>")
            parts.append("</table>")
        for c in other:
            parts.append(f"<h2>{escape(c.title)}</h2><p>{escape(c.kind)} "
                         f"{escape(c.location or '')}</p>")  # fmt: skip
        if not (shows or travel or other):
            parts.append(f"<p>{escape(tr('Nothing planned'))}</p>")
    return "".join(parts)


def write_pdf(html: str, path: str | Path, *, title: str = "Structura") -> Path:
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

    path = Path(path)
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("Structura")
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    doc = QTextDocument()
    doc.setHtml(html)
    doc.print_(writer)
    return path
