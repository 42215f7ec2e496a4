"""Presenters without any window: forms, conflicts, undo, history, export, printing,
settlement, finance, sync conflicts, job actions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import writes
from core.clock import utcnow, uuid7
from core.errors import Conflict
from core.models import AuditEntry, ConflictRecord, Job, Machine
from core.sync import reasons
from desktop.i18n import set_language
from desktop.presenters.finance import oee_per_machine, revenue_per_month, totals
from desktop.presenters.form import FormPresenter
from desktop.presenters.history import history
from desktop.presenters.jobs import JobsPresenter
from desktop.presenters.settlement import settlement_view
from desktop.presenters.sync import SyncPresenter
from desktop.presenters.undo import UndoPresenter

pytestmark = pytest.mark.qt


def test_fields_validate_as_you_type(session: Any, qtbot: Any) -> None:
    form = FormPresenter(session, "clients")
    form.new()
    with qtbot.waitSignal(form.fieldError) as sig:
        form.set_text("email", "not-an-address")
    assert sig.args == ["email", "Not a valid e-mail address"]
    assert form.set_text("email", "Ana@Example.com") == ""
    assert form.set_text("name", "") == "Required"
    assert not form.save()
    assert "name" in form.errors


def test_numbers_accept_a_decimal_comma_and_say_what_is_wrong(session: Any) -> None:
    form = FormPresenter(session, "inventory")
    form.new()
    assert form.set_text("quantity", "12,5") == ""
    assert form.value("quantity") == Decimal("12.5")
    assert "number" in form.set_text("quantity", "doce")
    assert form.set_text("quantity", "-1") != ""  # schema: ge=0


def test_create_then_update_with_the_row_version(session: Any) -> None:
    form = FormPresenter(session, "clients")
    form.new()
    form.set_text("name", "Talleres Pérez")
    assert form.save(), form.errors
    assert form.row_id and form.version == 1
    form.set_text("phone", "+34 600 111 222")
    assert form.save()
    assert form.version == 2
    items = history(session, "clients", form.row_id)
    assert [i.kind for i in items] == ["update", "create"]
    assert items[0].changes["phone"] == [None, "+34 600 111 222"]


def test_stale_save_becomes_a_side_by_side_choice(session: Any, demo: Any, qtbot: Any) -> None:
    cid = demo["clients"][0]
    form = FormPresenter(session, "clients")
    form.load(cid)
    # Someone else (a LAN browser) edits the same row meanwhile.
    with session.write() as s:
        writes.update(
            s,
            actor=session.actor,
            entity="clients",
            id=cid,
            data={"phone": "+34 1", "contact": "Luis"},
        )
    form.set_text("phone", "+34 2")
    form.set_text("address", "Calle Mayor 1")
    with qtbot.waitSignal(form.conflicted) as sig:
        assert not form.save()
    choice = sig.args[0]
    assert {r[0]: (r[1], r[2]) for r in choice.rows} == {
        "phone": ("+34 2", "+34 1"),
        "address": ("Calle Mayor 1", None),
    }
    assert form.resolve({"address"})
    with session.read() as s:
        row = s.get(writes.spec_for("clients").model, (session.org_id, cid))
        assert (row.phone, row.address, row.contact) == ("+34 1", "Calle Mayor 1", "Luis")


def test_undo_reverts_through_the_write_path(session: Any, demo: Any) -> None:
    undo = UndoPresenter(session)
    form = FormPresenter(session, "inventory", undo=undo)
    form.load(demo["inventory"][0])
    form.set_text("location", "Z-9")
    assert form.save()
    assert undo.undo()
    form.load(demo["inventory"][0])
    assert form.value("location") != "Z-9"
    # undo of a create deletes what was created
    form.new()
    for k, v in (("sku", "U-1"), ("name", "Temporal"), ("quantity", "1")):
        form.set_text(k, v)
    assert form.save()
    new_id = form.row_id
    assert undo.undo()
    with session.read() as s:
        assert s.get(writes.spec_for("inventory").model, (session.org_id, new_id)).deleted_at
    assert not undo.can_undo


def test_undo_refuses_to_overwrite_a_later_edit(session: Any, demo: Any) -> None:
    undo = UndoPresenter(session)
    form = FormPresenter(session, "clients", undo=undo)
    form.load(demo["clients"][1])
    form.set_text("phone", "1")
    assert form.save()
    with session.write() as s:
        writes.update(
            s, actor=session.actor, entity="clients", id=demo["clients"][1], data={"phone": "2"}
        )
    with pytest.raises(Conflict):
        undo.undo()


def test_export_csv_and_xlsx(session: Any, demo: Any, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from desktop.models.entity_table import EntityTableModel
    from desktop.presenters.export import export_rows

    model = EntityTableModel(session, "inventory", page_size=2)
    model.search_now("bobina")
    n = export_rows(session, model.spec, model.columns, model.query_args(), tmp_path / "i.csv")
    assert n == 2
    text = (tmp_path / "i.csv").read_text(encoding="utf-8-sig").splitlines()
    assert text[0].startswith("SKU,Name") and len(text) == 3
    n = export_rows(session, model.spec, model.columns, {}, tmp_path / "i.xlsx")
    ws = load_workbook(tmp_path / "i.xlsx").active
    assert n == 8 and ws.max_row == 9


def test_job_ticket_and_day_sheet_pdfs(session: Any, demo: Any, tmp_path: Path) -> None:
    from desktop.presenters.printing import day_sheet_html, job_ticket_html, write_pdf

    html = job_ticket_html(session, demo["jobs"][0])
    assert "OT-1000" in html and "Conformadora" in html
    pdf = write_pdf(html, tmp_path / "ticket.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    with session.read() as s:
        show = s.get(writes.spec_for("shows").model, (session.org_id, demo["shows"][0]))
        day = show.starts_at.date()
    sheet = day_sheet_html(session, day)
    assert show.city in sheet and "RES" in sheet
    assert write_pdf(sheet, tmp_path / "day.pdf").read_bytes()[:5] == b"%PDF-"


def test_settlement_shows_the_arithmetic(session: Any) -> None:
    """A worked example: G = 10,000 GBP, wht 20 %, booking 10 %, costs 2,500, manager 15 % of
    gross -> N = 3,000."""
    with session.write() as s:
        show = writes.create(
            s,
            actor=session.actor,
            entity="shows",
            data={
                "city": "London",
                "country": "GB",
                "starts_at": datetime(2026, 5, 1, 19, tzinfo=UTC),
                "fee": "10000",
                "currency": "GBP",
                "wht_pct": "20",
                "booking_pct": "10",
                "mgmt_pct": "15",
                "fx_rate": "1.17",
            },
        )
        for t, a in (("sound", "800"), ("light", "600"), ("transport", "1100")):
            writes.create(
                s,
                actor=session.actor,
                entity="show_costs",
                data={"show_id": show.id, "type": t, "amount": a, "currency": "GBP"},
            )
        show_id = show.id
    view = settlement_view(session, show_id)
    amounts = {ln.label: ln.amount for ln in view.lines}
    assert amounts == {
        "Gross fee": "10,000.00 GBP",
        "Withholding tax": "2,000.00 GBP",
        "Booking agency": "1,000.00 GBP",
        "Management": "1,500.00 GBP",
        "Costs": "2,500.00 GBP",
        "Net": "3,000.00 GBP",
    }
    formulas = {ln.label: ln.formula for ln in view.lines}
    assert "20" in formulas["Withholding tax"] and formulas["Net"] == "G - W - B - M - C"
    assert "1,400.00" in formulas["Costs"]  # production part shown
    assert "3,510.00 EUR" in view.home


def test_finance_totals_and_chart_series(session: Any, demo: Any) -> None:
    rows = totals(session, period="month")
    assert rows and all(r.currency == "EUR" or r.note for r in rows)
    by_cur = totals(session, period="currency")
    assert {r.currency for r in by_cur} >= {"EUR", "GBP"}
    year = totals(session, period="year")
    assert sum(r.shows for r in year) == sum(r.shows for r in rows)
    assert revenue_per_month(session)
    series = oee_per_machine(session, days=7)
    assert len(series) >= 4 and all(0 <= v <= 1.5 for s in series.values() for _, v in s)


def test_jobs_reorder_start_and_complete(session: Any, demo: Any) -> None:
    undo = UndoPresenter(session)
    jobs = JobsPresenter(session, undo=undo)
    mid = demo["machines"][4]
    with session.read() as s:
        ids = list(s.scalars(select(Job.id).where(Job.machine_id == mid).order_by(Job.sequence)))
    new = [ids[-1], *ids[:-1]]
    assert jobs.reorder(mid, new)
    with session.read() as s:
        assert (
            list(s.scalars(select(Job.id).where(Job.machine_id == mid).order_by(Job.sequence)))
            == new
        )
    assert jobs.start(new[0])
    assert jobs.complete(new[0])
    with session.read() as s:
        job = s.get(Job, (session.org_id, new[0]))
        assert job.status == "COMPLETED" and job.produced_qty == job.quantity
        assert s.get(Machine, (session.org_id, mid)).status == "IDLE"


def test_job_action_refused_reports_a_message(session: Any, demo: Any, qtbot: Any) -> None:
    jobs = JobsPresenter(session)
    with qtbot.waitSignal(jobs.failed) as sig:
        assert not jobs.pause(demo["jobs"][5])  # a PENDING job cannot be paused
    assert sig.args[0].title


def _conflict(
    session: Any, entity: str, entity_id: str, mine: dict[str, Any], theirs: dict[str, Any]
) -> str:
    cid = uuid7()
    with session.write() as s:
        s.add(
            ConflictRecord(
                id=cid,
                org_id=session.org_id,
                entity=entity,
                entity_id=entity_id,
                kind="field",
                rule="last_arrival",
                fields=sorted(mine),
                losing_values=mine,
                winning_values=theirs,
                reason=reasons.encode(reasons.KEPT_LATER, base=2),
                created_at=utcnow(),
            )
        )
    return cid


def test_sync_status_and_conflict_resolution(session: Any, demo: Any) -> None:
    sync = SyncPresenter(session)
    st = sync.status()
    assert st.state == "not_enrolled" and st.pending > 0 and st.conflicts == 0
    cid = _conflict(
        session,
        "clients",
        demo["clients"][0],
        {"phone": "111", "contact": "Eva"},
        {"phone": "222", "contact": "Ana"},
    )
    assert sync.status().conflicts == 1
    [item] = sync.conflicts()
    assert ("phone", "111", "222") in item.rows
    assert (item.label, item.kind_text) == ("Clients", "Same field changed on two sides")
    assert item.reason_text.startswith("Changed in two places since version 2")
    set_language("es")
    try:
        [item] = sync.conflicts()
        assert (item.label, item.kind_text) == ("Clientes", "El mismo campo cambió en dos lados")
        assert item.reason_text == (
            "Cambió en dos sitios desde la versión 2: se mantuvo el cambio que llegó último."
        )
    finally:
        set_language("en")
    with session.read() as s:
        before = s.get(writes.spec_for("clients").model, (session.org_id, demo["clients"][0]))
        phone = before.phone
    assert sync.resolve(cid, {"contact"})
    with session.read() as s:
        rec = s.get(ConflictRecord, cid)
        # Settled by the one path (core.sync.conflicts), as the console and the API do.
        assert rec.resolved_at and rec.resolution["choice"] == "values"
        row = s.get(writes.spec_for("clients").model, (session.org_id, demo["clients"][0]))
        assert (row.contact, row.phone) == ("Eva", phone)
        audit = s.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == row.id).order_by(AuditEntry.seq)
        ).all()
        assert audit[-1].kind == "update" and "contact" in audit[-1].changes
    assert sync.status().conflicts == 0


def test_sync_status_from_the_agent(session: Any) -> None:
    sync = SyncPresenter(
        session, lambda: {"state": "online", "pending": 3, "last_success": "2026-01-01T10:00:00Z"}
    )
    st = sync.status()
    assert (st.state, st.pending, st.last_sync) == ("online", 3, "2026-01-01T10:00:00Z")


def test_error_messages_in_spanish(session: Any) -> None:
    from desktop.i18n import set_language
    from desktop.presenters.errors import user_message

    set_language("es")
    form = FormPresenter(session, "clients")
    form.new()
    assert form.set_text("name", "") == "Obligatorio"
    msg = user_message(Conflict("x"))
    assert msg.title == "Otra persona cambió este registro." and msg.kind == "conflict"


def test_country_and_currency_codes_explained_in_the_users_language(session: Any) -> None:
    from desktop.i18n import set_language

    form = FormPresenter(session, "shows")
    form.new()
    assert form.set_text("currency", "VED") == ""  # current ISO 4217, newer than the old table
    assert form.set_text("currency", "BGN") == "Bulgarian Lev (BGN) is no longer in use"
    assert form.set_text("country", "ZZ").startswith("Not a country code")
    set_language("es")
    assert form.set_text("currency", "BGN") == "leva búlgara (BGN) ya no está en uso"
    assert form.set_text("currency", "XAU") == "oro (XAU) no es una moneda para pagos"
    assert form.set_text("country", "YU").endswith("(YU) ya no es un código de país")


def test_reorder_reuses_the_sequence_values_the_jobs_hold(session: Any, demo: Any) -> None:
    """A long queue shows only its head: handing out the same values keeps the jobs
    not shown behind the ones reordered."""
    jobs = JobsPresenter(session)
    mid = demo["machines"][5]
    with session.read() as s:
        rows = s.execute(select(Job.id, Job.sequence).where(Job.machine_id == mid)
                         .order_by(Job.sequence)).all()  # fmt: skip
    head = [r.id for r in rows[:3]]
    slots = [r.sequence for r in rows[:3]]
    assert jobs.reorder(mid, [head[2], head[0], head[1]], slots)
    with session.read() as s:
        now = dict(s.execute(select(Job.id, Job.sequence).where(Job.machine_id == mid)).all())
    assert [now[head[2]], now[head[0]], now[head[1]]] == slots
    assert all(now[r.id] == r.sequence for r in rows[3:])


def test_xlsx_and_csv_exports_never_write_user_text_as_a_formula(
    session: Any, demo: Any, tmp_path: Path
) -> None:
    """Issue 20 (7): openpyxl writes any text starting with "=" as a live formula."""
    from openpyxl import load_workbook

    from core import writes
    from desktop.models.entity_table import EntityTableModel
    from desktop.presenters.export import export_rows

    evil = ["=1+1", 'Acme;=HYPERLINK("http://evil.example")', "@SUM(A1)"]
    with session.write() as s:
        for name in evil:
            writes.create(s, actor=session.actor, entity="clients", data={"name": name})
    model = EntityTableModel(session, "clients")
    export_rows(session, model.spec, model.columns, {}, tmp_path / "c.xlsx")
    ws = load_workbook(tmp_path / "c.xlsx").active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.value for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert "'=1+1" in texts and "'@SUM(A1)" in texts
    export_rows(session, model.spec, model.columns, {}, tmp_path / "c.csv")
    text = (tmp_path / "c.csv").read_text(encoding="utf-8-sig")
    assert "Acme;'=HYPERLINK" in text and "\n=1+1" not in text
