"""Item models, checked with pytest-qt's model tester and driven without any view."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt

from core import writes
from desktop.bridge import ChangeBridge
from desktop.demo import bulk_jobs
from desktop.models.board import STATUS_ROLE, BoardModel
from desktop.models.entity_table import ID_ROLE, EntityTableModel
from desktop.models.job_queue import JobQueueModel

pytestmark = pytest.mark.qt


def test_entity_table_passes_the_model_tester(session: Any, demo: Any, qtmodeltester: Any) -> None:
    model = EntityTableModel(session, "jobs", page_size=10)
    # A window onto the query: the count is SQL's, not the rows read so far.
    assert model.rowCount() == model.total == len(demo["jobs"]) > 10
    assert list(model._pages) == [0]  # one page read
    qtmodeltester.check(model, force_py=True)  # reads the other pages as it looks
    assert {model.row_id(r) for r in range(model.rowCount())} == set(demo["jobs"])


def test_windows_read_every_row_once_in_order(session: Any, qapp: Any) -> None:
    bulk_jobs(session.store, session.site, 1234)
    model = EntityTableModel(session, "jobs", page_size=200)
    assert model.total == 1234 == model.rowCount()
    ids = [model.row_id(r) for r in range(model.rowCount())]
    assert len(ids) == 1234 == len(set(ids))
    # default sort of jobs is sequence; the second half is read backwards from the end
    seq = [model.row_values(r)["sequence"] for r in range(model.rowCount())]
    assert seq == sorted(seq)
    # the last rows are the query's last rows, read without the pages before them
    fresh = EntityTableModel(session, "jobs", page_size=200, sort="-id")
    assert fresh.total == 1234
    assert fresh.row_id(1233) == min(ids)  # UUIDv7: the oldest id is last in -id
    assert sorted(fresh._pages) == [0, 6]


def test_ctrl_end_shows_the_last_rows_at_once(session: Any, qtbot: Any) -> None:
    """A table of 3,000 rows in a real view: Ctrl+End lands on the last row (not on row
    200 as a fetch-more model did) and its page arrives from the reader thread without
    the window's thread running SQL."""
    from PySide6.QtWidgets import QTableView

    bulk_jobs(session.store, session.site, 3000)
    model = EntityTableModel(session, "jobs", sort="-id", background=True)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(800, 400)
    view.show()
    qtbot.waitUntil(lambda: model.rowCount() == 3000, timeout=5000)  # counted in the reader
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    assert view.currentIndex().row() == 2999
    last = model.index(2999, model.columns.index("title"))
    qtbot.waitUntil(lambda: model.data(last) != "…", timeout=5000)
    assert sorted(model._pages)[0] == 0 and len(model._pages) <= 3
    with session.read() as s:
        from sqlalchemy import func, select

        from core.models import Job

        oldest = s.scalar(select(func.min(Job.id)).where(Job.title.like("Bench%")))
    assert model.data(last, ID_ROLE) == oldest
    # Dragging the scrollbar to the middle and to the bottom again: the rows in view
    # arrive, the ones dragged past are never read.
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum() // 2)
    middle = model.index(view.rowAt(10), 0)
    qtbot.waitUntil(lambda: model.data(middle) != "…", timeout=5000)
    bar.setValue(bar.maximum())
    qtbot.waitUntil(lambda: model.data(last) != "…", timeout=5000)
    assert len(model._pages) <= 5 < 3000 // model.page_size


def test_sort_search_and_filter_run_in_the_database(session: Any, demo: Any) -> None:
    model = EntityTableModel(session, "inventory")
    col = model.columns.index("quantity")
    model.sort(col, Qt.SortOrder.DescendingOrder)
    qty = [model.row_values(r)["quantity"] for r in range(model.rowCount())]
    assert qty == sorted(qty, reverse=True)
    model.search_now("tornillo")
    assert {
        model.data(model.index(r, model.columns.index("sku"))) for r in range(model.rowCount())
    } == {"TOR-M8", "TOR-M10"}
    model.search_now("")
    jobs = EntityTableModel(session, "jobs")
    jobs.set_filter("status", "IN_PROGRESS")
    assert jobs.total == 3
    jobs.set_filter("status", None)
    assert jobs.total == len(demo["jobs"])


def test_references_show_titles_and_numbers_align_right(session: Any, demo: Any) -> None:
    model = EntityTableModel(session, "jobs")
    mcol = model.columns.index("machine_id")
    assert model.data(model.index(0, mcol)).startswith("Conformadora")
    assert model.data(model.index(0, mcol), Qt.ItemDataRole.EditRole) in demo["machines"]
    qcol = model.columns.index("quantity")
    assert model.data(model.index(0, qcol), Qt.ItemDataRole.TextAlignmentRole)
    assert model.data(model.index(0, 0), ID_ROLE) == model.row_id(0)


def test_low_stock_highlight(session: Any, demo: Any) -> None:
    from desktop.views.main_window import INVENTORY_COLUMNS, low_stock

    model = EntityTableModel(session, "inventory", columns=INVENTORY_COLUMNS, highlighter=low_stock)
    flagged = {
        model.row_values(r)["sku"]
        for r in range(model.rowCount())
        if model.data(model.index(r, 0), Qt.ItemDataRole.BackgroundRole) is not None
    }
    assert flagged == {"BOB-100", "TOR-M10", "PIN-RAL7016"}


def test_edit_elsewhere_updates_the_loaded_row_in_place(
    session: Any, demo: Any, qtbot: Any
) -> None:
    model = EntityTableModel(session, "clients")
    row = 0
    cid = model.row_id(row)
    with qtbot.waitSignal(model.dataChanged, timeout=2000):
        with session.write() as s:
            writes.update(
                s, actor=session.actor, entity="clients", id=cid, data={"phone": "+34 911 000 111"}
            )
        model.apply_changes(
            [
                {
                    "entity": "clients",
                    "id": cid,
                    "kind": "update",
                    "version": 2,
                    "org_id": session.org_id,
                }
            ]
        )
    assert model.row_values(model.row_of(cid))["phone"] == "+34 911 000 111"


def test_a_write_from_another_thread_reaches_the_table(session: Any, demo: Any, qtbot: Any) -> None:
    model = EntityTableModel(session, "inventory")
    bridge = ChangeBridge(session.store)
    bridge.changed.connect(model.apply_changes)
    bridge.start()
    before = model.total

    def lan_client() -> None:  # what a uvicorn worker thread does
        with session.write() as s:
            writes.create(
                s,
                actor=session.actor,
                entity="inventory",
                data={"sku": "NEW-1", "name": "Desde la tablet", "quantity": "5"},
            )

    t = threading.Thread(target=lan_client)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: model.total == before + 1, timeout=3000)
    skus = {model.row_values(r)["sku"] for r in range(model.rowCount())}
    assert "NEW-1" in skus
    bridge.stop()


def test_board_model(session: Any, demo: Any, qtmodeltester: Any) -> None:
    model = BoardModel(session)
    qtmodeltester.check(model, force_py=True)
    statuses = {model.data(model.index(r), STATUS_ROLE) for r in range(model.rowCount())}
    assert {"RUNNING", "MAINTENANCE", "ERROR", "IDLE"} <= statuses


def test_job_queue_drag_and_drop_reorders(session: Any, demo: Any, qtmodeltester: Any) -> None:
    calls: list[tuple[str, list[str]]] = []
    mid = demo["machines"][1]
    model = JobQueueModel(session, mid, on_reorder=lambda m, ids, slots: calls.append((m, ids)))
    qtmodeltester.check(model, force_py=True)
    ids = model.ids()
    assert len(ids) == 6
    mime = model.mimeData([model.index(4, 0)])
    assert model.dropMimeData(mime, Qt.DropAction.MoveAction, 1, 0, QModelIndex())
    assert model.ids() == [ids[0], ids[4], ids[1], ids[2], ids[3], ids[5]]
    assert calls == [(mid, model.ids())]
    assert model.moveRows(QModelIndex(), 0, 1, QModelIndex(), 6)
    assert model.ids()[-1] == ids[0]
    assert model.data(model.index(0, 1)).startswith("OT-")
    assert isinstance(model.data(model.index(0, 4), Qt.ItemDataRole.EditRole), Decimal)


def test_money_reads_in_the_users_language_with_the_currencys_decimals() -> None:
    from desktop.i18n import set_language
    from desktop.models.formatting import money

    assert money(Decimal("10000"), "GBP") == "10,000.00 GBP"
    assert money("1234567", "JPY") == "1,234,567 JPY"  # no minor unit
    assert money(Decimal("10.125"), "KWD") == "10.125 KWD"  # three, as core rounds it
    assert money(Decimal("3.5")) == "3.50"
    assert money(None, "EUR") == ""
    set_language("es")
    assert money(Decimal("10000.5"), "EUR") == "10.000,50 EUR"
    assert money(Decimal("-2.25"), "EUR") == "-2,25 EUR"


def test_ctrl_end_on_the_jobs_page_opens_the_last_job_when_its_page_arrives(
    session: Any, qtbot: Any
) -> None:
    """The page's selection does not read the row on the window's thread: the form
    opens the last job once its page has come from the reader thread."""
    from desktop.views.entity_page import EntityPage

    bulk_jobs(session.store, session.site, 2500)
    page = EntityPage(session, "jobs", sort="-id")
    qtbot.addWidget(page)
    page.resize(1200, 600)
    page.show()
    qtbot.waitUntil(lambda: page.model.rowCount() == 2500, timeout=5000)
    page.table.setFocus()
    page.table.selectRow(0)
    qtbot.keyClick(page.table, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    assert page.table.currentIndex().row() == 2499
    qtbot.waitUntil(lambda: page.presenter.row_id == page.model.ready_row_id(2499),
                    timeout=5000)  # fmt: skip
    assert page.presenter.row_id is not None and page.count.text() == "2,500 rows"
    # A new order: the job in the form stays the selected row where it now is.
    shown = page.presenter.row_id
    page.model.sort(page.model.columns.index("title"), Qt.SortOrder.AscendingOrder)
    page.model.wait()
    selected = {page.model.ready_row_id(i.row()) for i in page.table.selectedIndexes()}
    assert selected == {shown} and page.model.row_of(shown) >= 0
