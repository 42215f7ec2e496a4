"""A show opens with its costs, travel and day sheet; show dropdowns say date, city and
venue; a calendar item opens its record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.models import Show, ShowCost
from desktop.views.main_window import MainWindow

pytestmark = pytest.mark.qt


@pytest.fixture
def window(session: Any, demo: Any, qtbot: Any) -> Any:
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.show()
    return win


def test_a_show_has_its_costs_travel_and_day_sheet(window: Any, session: Any) -> None:
    with session.read() as s:
        cost = s.scalars(select(ShowCost).where(ShowCost.deleted_at.is_(None))).first()
        show = s.get(Show, (session.org_id, cost.show_id))
        city = show.city
    page = window.open("shows")
    assert page.show_record(cost.show_id)
    assert page.costs.model.total >= 1
    assert all(page.costs.model.row_values(r)["id"] for r in range(page.costs.model.rowCount()))
    assert city in page.day_sheet.toPlainText()
    tabs = [page.tabs.tabText(i) for i in range(page.tabs.count())]
    assert {"Costs", "Travel", "Day sheet"} <= set(tabs)
    # Double-clicking a cost opens it in the costs page.
    assert window.open_record("show_costs", page.costs.model.row_id(0))
    assert window.current_page().presenter.row_id == page.costs.model.row_id(0)


def test_show_dropdown_says_date_city_and_venue(window: Any, session: Any) -> None:
    page = window.open("show_costs")
    choices = page.presenter.ref_choices("shows")
    with session.read() as s:
        show = s.scalars(select(Show).where(Show.deleted_at.is_(None), Show.venue.is_not(None))
                         .order_by(Show.starts_at)).first()  # fmt: skip
    text = dict(choices)[show.id]
    assert show.city in text and show.venue in text and text[:4].isdigit()
    assert len(set(dict(choices).values())) == len(choices)  # no "Madrid, Madrid, Madrid"


def test_calendar_item_opens_its_record(window: Any, session: Any) -> None:
    with session.read() as s:
        show = s.scalars(select(Show).where(Show.deleted_at.is_(None))).first()
        from core.tour.timezones import local_date

        day = local_date(show.starts_at, show.tz)
    page = window.open("shows")
    page.calendar.go_to(day)
    cell = next(k for k, d in page.calendar.days.items() if d == day)
    assert page.calendar.open_cell(*cell)
    opened = window.current_page()
    entity = page.calendar.items[day][0].entity
    assert opened is window.pages[entity]
    target = opened.list if entity == "shows" else opened
    assert target.presenter.row_id == page.calendar.items[day][0].id


def test_settlement_sheet_xlsx_and_pdf_carry_the_organisation_header(
    session: Any, demo: Any, tmp_path: Any
) -> None:
    from openpyxl import load_workbook

    from desktop.presenters.printing import job_ticket_html, settlement_html, settlement_xlsx

    show_id = demo["shows"][0]
    path = settlement_xlsx(session, show_id, tmp_path / "s.xlsx")
    ws = load_workbook(path).active
    cells = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells[0] == session.site.org_name
    assert "Net" in cells
    assert session.site.org_name in settlement_html(session, show_id)
    ticket = job_ticket_html(session, demo["jobs"][0])
    assert session.site.org_name in ticket and demo["jobs"][0] not in ticket  # no UUID


def test_finance_export(window: Any, session: Any, tmp_path: Any) -> None:
    from openpyxl import load_workbook

    page = window.open("finance")
    n = page.export(str(tmp_path / "f.xlsx"))
    assert n == page.table.rowCount() > 0
    ws = load_workbook(tmp_path / "f.xlsx").active
    assert session.site.org_name in str(ws["A1"].value)
    assert ws.cell(2, 1).value == page.table.horizontalHeaderItem(0).text()
