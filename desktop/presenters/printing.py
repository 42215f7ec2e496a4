"""Printable job ticket and tour day sheet: HTML laid out by QTextDocument and written
by QPdfWriter (no browser, no external tool; works offscreen)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.models import CalendarEntry, Job, Machine, Project, Show, Travel
from core.tour.timezones import home_zone, local_date, local_time
from desktop.i18n import choice_label, field_label, tr
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


def header(session: Any) -> str:
    """The organisation's header on every printout: its name, the site and the date."""
    from desktop.models.formatting import cell_text

    site = session.site
    today = cell_text(date.today())
    return (f"<table style='border:none;margin-bottom:8pt'><tr>"
            f"<td style='border:none;font-size:13pt'><b>{escape(site.org_name)}</b></td>"
            f"<td style='border:none;text-align:right;color:#555'>{escape(site.site_name)}"
            f" · {escape(today)}</td></tr></table><hr>")  # fmt: skip


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
            (field_label("status"), choice_label(job.status)),
            (field_label("priority"), choice_label(job.priority)),
            (field_label("sequence"), job.sequence),
            (field_label("quantity"), f"{display(job.quantity)} {job.unit}"),
            (field_label("produced_qty"), f"{display(job.produced_qty)} {job.unit}"),
            (field_label("scrap_qty"), f"{display(job.scrap_qty)} {job.unit}"),
            (field_label("due_at"), job.due_at),
        ]
        title = job.title
        # People name a job by its document number; the internal id is never printed.
        number = job.doc_number
    ref = f"<p>{escape(tr('Number'))}: {escape(str(number))}</p>" if number else ""
    return (f"{STYLE}{header(session)}<h1>{escape(title)}</h1>{ref}{_table(rows)}"
            f"<h2>{escape(tr('notes').capitalize())}</h2>"
            f"<p style='height:120pt'>&nbsp;</p>")  # fmt: skip


def day_sheet_html(session: Any, day: date) -> str:
    start = datetime.combine(day, time(), UTC) - timedelta(hours=14)
    end = datetime.combine(day, time(), UTC) + timedelta(hours=38)
    with session.read() as s:
        shows = [
            sh for sh in s.scalars(
                select(Show).where(Show.org_id == session.org_id, Show.deleted_at.is_(None),
                                   Show.starts_at >= start, Show.starts_at < end)
                .order_by(Show.starts_at))
            if local_date(sh.starts_at, sh.tz) == day
        ]  # fmt: skip
        travel = [
            t for t in s.scalars(
                select(Travel).where(Travel.org_id == session.org_id, Travel.deleted_at.is_(None),
                                     Travel.departs_at >= start, Travel.departs_at < end)
                .order_by(Travel.departs_at))
            if local_date(t.departs_at, t.departs_tz) == day
        ]  # fmt: skip
        other = s.scalars(
            select(CalendarEntry).where(CalendarEntry.org_id == session.org_id,
                                        CalendarEntry.deleted_at.is_(None),
                                        CalendarEntry.starts_on <= day)
        ).all()  # fmt: skip
        other = [c for c in other if (c.ends_on or c.starts_on) >= day]
        parts = [STYLE, header(session), f"<h1>{escape(tr('Day sheet'))} · {day.isoformat()}</h1>"]
        home = home_zone()
        for sh in shows:
            at = local_time(sh.starts_at, sh.tz, home)
            rows = [(tr("Show"), f"{at.text(with_date=False)} ({at.tz})")]
            if at.home is not None:  # the office's clock beside the venue's
                rows.append((tr("Office time"), at.home_text()))
            rows += [
                (field_label("fee"), money(sh.fee, sh.currency)),
                (field_label("status"), sh.status),
                (field_label("notes"), sh.notes or ""),
            ]
            parts.append(f"<h2>{escape(sh.city)} — {escape(sh.venue or '')}</h2>")
            parts.append(_table(rows))
        if travel:
            parts.append(f"<h2>{escape(tr('Travel'))}</h2><table><tr><th>"
                         + "</th><th>".join(escape(field_label(c)) for c in
                                            ("kind", "origin", "destination", "departs_at",
                                             "arrives_at", "reference"))
                         + "</th></tr>")  # fmt: skip
            for t in travel:
                dep = local_time(t.departs_at, t.departs_tz).text(with_date=False)
                arr = (
                    local_time(t.arrives_at, t.arrives_tz).text(with_date=False)
                    if t.arrives_at
                    else ""
                )
                cells = [t.kind, t.origin, t.destination, dep, arr, t.reference or ""]
                parts.append("<tr><td>" + "</td><td>".join(escape(c) for c in cells) + "</td></tr>")
            parts.append("</table>")
        for c in other:
            parts.append(f"<h2>{escape(c.title)}</h2><p>{escape(c.kind)} "
                         f"{escape(c.location or '')}</p>")  # fmt: skip
        if not (shows or travel or other):
            parts.append(f"<p>{escape(tr('Nothing planned'))}</p>")
    return "".join(parts)


def settlement_html(session: Any, show_id: str) -> str:
    """The settlement as printed: the same lines, and its warnings when incomplete."""
    from desktop.presenters.settlement import settlement_view

    view = settlement_view(session, show_id)
    body = "".join(
        f"<tr><th>{escape(ln.label)}</th><td>{escape(ln.formula)}</td>"
        f"<td style='text-align:right'>{escape(ln.amount)}</td></tr>"
        for ln in view.lines
    )
    parts = [STYLE, header(session),
             f"<h1>{escape(tr('Settlement'))}</h1><p>{escape(view.title)}</p>",
             f"<table>{body}</table>"]  # fmt: skip
    if view.home:
        parts.append(f"<p>{escape(view.home)}</p>")
    if view.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in view.warnings)
        parts.append(f"<ul style='color:#b00020'>{items}</ul>")
    return "".join(parts)


def settlement_xlsx(session: Any, show_id: str, path: str | Path) -> Path:
    """The settlement sheet as a workbook: the organisation's header, the show, each
    line with its arithmetic, the costs and any warning (same content as the PDF)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from desktop.presenters.export import sanitize_cell
    from desktop.presenters.settlement import settlement_view

    view = settlement_view(session, show_id)
    wb = Workbook()
    ws = wb.active
    ws.title = tr("Settlement")[:31]
    ws.append([sanitize_cell(session.site.org_name), sanitize_cell(session.site.site_name)])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([sanitize_cell(view.title)])
    ws.append([])
    for ln in view.lines:
        ws.append([sanitize_cell(ln.label), sanitize_cell(ln.formula), sanitize_cell(ln.amount)])
    if view.costs:
        ws.append([])
        ws.append([tr("Costs")])
        for kind, amount, _prod in view.costs:
            ws.append([sanitize_cell(kind), "", sanitize_cell(amount)])
    if view.home:
        ws.append([sanitize_cell(view.home)])
    for w in view.warnings:
        ws.append([sanitize_cell(w)])
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 30
    ws.column_dimensions["C"].width = 18
    path = Path(path)
    wb.save(path)
    return path


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
