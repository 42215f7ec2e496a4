"""Item models, checked with pytest-qt's model tester and driven without any view."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt

from core.services import writes
from desktop.bridge import ChangeBridge
from desktop.demo import bulk_jobs
from desktop.models.board import STATUS_ROLE, BoardModel
from desktop.models.entity_table import ID_ROLE, EntityTableModel
from desktop.models.job_queue import JobQueueModel

pytestmark = pytest.mark.qt


def test_entity_table_passes_the_model_tester(session: Any, demo: Any, qtmodeltester: Any) -> None:
    model = EntityTableModel(session, "jobs", page_size=10)
    assert model.rowCount() == 10 and model.canFetchMore(QModelIndex())
    qtmodeltester.check(model, force_py=True)  # it fetches a few more pages too
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == model.total == len(demo["jobs"])


def test_lazy_paging_loads_every_row_once(session: Any, qapp: Any) -> None:
    bulk_jobs(session.store, session.site, 1234)
    model = EntityTableModel(session, "jobs", page_size=200)
    assert model.total == 1234 and model.rowCount() == 200
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
    ids = [model.row_id(r) for r in range(model.rowCount())]
    assert len(ids) == 1234 == len(set(ids))
    # default sort of jobs is sequence
    seq = [model.row_values(r)["sequence"] for r in range(model.rowCount())]
    assert seq == sorted(seq)


def test_sort_search_and_filter_run_in_the_database(session: Any, demo: Any) -> None:
    model = EntityTableModel(session, "inventory")
    col = model.columns.index("quantity")
    model.sort(col, Qt.SortOrder.DescendingOrder)
    qty = [model.row_values(r)["quantity"] for r in range(model.rowCount())]
    assert qty == sorted(qty, reverse=True)
    model.set_search("tornillo")
    assert {
        model.data(model.index(r, model.columns.index("sku"))) for r in range(model.rowCount())
    } == {"TOR-M8", "TOR-M10"}
    model.set_search("")
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
