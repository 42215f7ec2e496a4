"""The desktop reads and takes a show's time in the venue's zone, whatever the laptop's:
the list, the form, the calendar and the day sheet agree (real widgets, offscreen)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from PySide6.QtCore import Qt
from tzlocal import reload_localzone

from core import writes
from core.models import Show, ShowCost
from core.tour.timezones import to_instant
from desktop.presenters.calendar import month_items
from desktop.presenters.finance import totals
from desktop.presenters.printing import day_sheet_html, settlement_html
from desktop.presenters.settlement import settlement_view
from desktop.views.finance import FinancePage
from desktop.views.shows import ShowsPage

pytestmark = pytest.mark.qt


@pytest.fixture
def laptop_in_new_york() -> Iterator[None]:
    """The laptop's clock is in New York: nothing about a show may depend on it."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    reload_localzone()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()
        reload_localzone()


def _cell(page: ShowsPage, show_id: str, column: str, role: Any = Qt.ItemDataRole.DisplayRole):
    model = page.list.model
    model.refresh()
    model.wait()  # the page's table reads in the reader thread
    row, col = model.row_of(show_id), model.columns.index(column)
    return model.data(model.index(row, col), role)


def test_valencia_time_typed_is_the_time_everywhere(
    session: Any, qtbot: Any, laptop_in_new_york: None
) -> None:
    page = ShowsPage(session)
    qtbot.addWidget(page)
    page.new_record()
    form = page.list.form
    # Time first, zone after: the time typed stays 21:30, now in Valencia.
    for name, text in (("city", "València"), ("country", "es"), ("venue", "Roig Arena"),
                       ("starts_at", "2026-03-29 21:30"), ("tz", "Europe/Madrid"),
                       ("fee", "9000"), ("currency", "EUR")):  # fmt: skip
        form.set_text(name, text)
    assert not page.list.presenter.errors
    assert page.save()
    show_id = page.list.presenter.row_id
    with session.read() as s:
        stored = s.get(Show, (session.org_id, show_id)).starts_at
    # 21:30 CEST (the clocks went forward that morning) is 19:30 UTC, not New York's 01:30.
    assert stored == datetime(2026, 3, 29, 19, 30, tzinfo=UTC)
    assert page.list.presenter.text("starts_at") == "2026-03-29 21:30"
    listed = _cell(page, show_id, "starts_at")
    assert listed == "2026-03-29 21:30 Madrid"
    tip = _cell(page, show_id, "starts_at", Qt.ItemDataRole.ToolTipRole)
    assert "office time 15:30" in tip  # New York's clock beside the venue's
    sheet = day_sheet_html(session, date(2026, 3, 29))
    assert "<td>21:30 Madrid (Europe/Madrid)</td>" in sheet and "Roig Arena" in sheet
    assert "<th>Office time</th><td>15:30</td>" in sheet
    cal = month_items(session, 2026, 3)
    assert [i.text for i in cal[date(2026, 3, 29)]] == ["♪ 21:30 València"]


def test_tokyo_at_one_in_the_morning_is_on_the_same_date_in_list_calendar_and_sheet(
    session: Any, qtbot: Any, laptop_in_new_york: None
) -> None:
    with session.write() as s:
        show = writes.create(
            s,
            actor=session.actor,
            entity="shows",
            data={"city": "Tokyo", "country": "JP", "venue": "Zepp Haneda",
                  "starts_at": to_instant(datetime(2026, 4, 1, 1, 0), "Asia/Tokyo"),
                  "tz": "Asia/Tokyo", "fee": "2000000", "currency": "JPY"},
        )  # fmt: skip
        show_id = show.id
    page = ShowsPage(session)
    qtbot.addWidget(page)
    assert _cell(page, show_id, "starts_at") == "2026-04-01 01:00 Tokyo"
    # In New York it is still 31 March at noon: the list does not follow the laptop.
    assert "office time 12:00 (-1d)" in _cell(
        page, show_id, "starts_at", Qt.ItemDataRole.ToolTipRole
    )
    assert [i.id for i in month_items(session, 2026, 4)[date(2026, 4, 1)]] == [show_id]
    assert date(2026, 3, 31) not in month_items(session, 2026, 3)
    assert "Zepp Haneda" in day_sheet_html(session, date(2026, 4, 1))
    assert "Zepp Haneda" not in day_sheet_html(session, date(2026, 3, 31))
    page.list.presenter.load(show_id)
    assert page.list.presenter.text("starts_at") == "2026-04-01 01:00"


def test_a_time_the_clocks_skip_is_flagged_in_the_form(session: Any, qtbot: Any) -> None:
    page = ShowsPage(session)
    qtbot.addWidget(page)
    page.new_record()
    page.list.form.set_text("tz", "America/New_York")
    page.list.form.set_text("starts_at", "2026-03-08 02:30")
    message = page.list.presenter.errors["starts_at"]
    assert (
        message
        == "2026-03-08 02:30 does not exist in America/New_York: the clocks change that night"
    )
    from desktop.i18n import set_language

    set_language("es")
    page.list.form.set_text("starts_at", "2026-03-08 02:45")
    assert page.list.presenter.errors["starts_at"].startswith("2026-03-08 02:45 no existe en")


def test_an_unticked_production_box_saves_as_not_production(session: Any, qtbot: Any) -> None:
    from desktop.views.entity_page import EntityPage

    with session.write() as s:
        show = writes.create(s, actor=session.actor, entity="shows",
                             data={"city": "Bilbao", "country": "ES", "fee": 1, "currency": "EUR",
                                   "starts_at": "2026-05-01T19:00:00+00:00"})  # fmt: skip
        show_id = show.id
    page = EntityPage(session, "show_costs")
    qtbot.addWidget(page)
    page.new_record()
    page.form.set_text("show_id", show_id)
    page.form.set_text("type", "sound")  # production by default through the API
    page.form.set_text("amount", "800")
    page.form.set_text("currency", "EUR")
    assert page.form.editors["is_production"].isChecked() is False
    assert page.save(), page.presenter.errors
    with session.read() as s:
        cost = s.get(ShowCost, (session.org_id, page.presenter.row_id))
        assert cost.is_production is False  # what the form showed


def test_a_usd_cost_without_rate_is_named_in_settlement_finance_and_pdf(
    session: Any, qtbot: Any, tmp_path: Any
) -> None:
    with session.write() as s:
        show = writes.create(s, actor=session.actor, entity="shows",
                             data={"city": "Madrid", "country": "ES", "fee": "10000",
                                   "currency": "EUR", "tz": "Europe/Madrid",
                                   "starts_at": "2026-06-01T19:00:00+00:00"})  # fmt: skip
        writes.create(s, actor=session.actor, entity="show_costs",
                      data={"show_id": show.id, "type": "backline", "amount": "500",
                            "currency": "USD", "description": "Amp hire"})  # fmt: skip
        show_id = show.id
    view = settlement_view(session, show_id)
    assert not view.complete
    assert view.warnings[0] == "Incomplete settlement"
    assert "Cost not counted: Amp hire 500.00 USD has no rate to EUR" in view.warnings[1]
    row = next(r for r in totals(session) if r.period == "2026-06")
    assert not row.complete and "Incomplete" in row.note and "Amp hire" in row.warnings[0]
    finance = FinancePage(session)
    qtbot.addWidget(finance)
    assert "Amp hire" in finance.warnings.text()
    assert "Amp hire" in settlement_html(session, show_id)
    page = ShowsPage(session)
    qtbot.addWidget(page)
    page.settlement.session, page.settlement.show_id = session, show_id
    job = page.settlement.print_settlement(str(tmp_path / "s.pdf"), wait=True)
    assert job.error is None and job.result.read_bytes().startswith(b"%PDF")
    from desktop.i18n import set_language

    set_language("es")
    es = settlement_view(session, show_id)
    assert es.warnings[0] == "Liquidación incompleta"
    # Spanish money reads with a decimal comma (Babel, the user's language).
    assert "Coste no incluido: Amp hire 500,00 USD no tiene cambio a EUR" in es.warnings[1]
    # The office enters the rate on the show: the settlement is complete again.
    with session.write() as s:
        writes.update(s, actor=session.actor, entity="shows", id=show_id,
                      data={"fx_rates": {"USD": "0.9"}})  # fmt: skip
    again = settlement_view(session, show_id)
    assert again.complete and again.warnings == []
    assert again.raw["costs"] == "450.00"
