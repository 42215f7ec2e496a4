"""The main flows through the real window (offscreen)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit
from sqlalchemy import select

from core import writes
from core.models import Job, Show
from desktop.bridge import ChangeBridge
from desktop.models.board import STATUS_ROLE
from desktop.views.conflict_dialog import ConflictDialog
from desktop.views.main_window import MainWindow

pytestmark = pytest.mark.qt


@pytest.fixture
def window(session: Any, demo: Any, qtbot: Any) -> Any:
    bridge = ChangeBridge(session.store)
    bridge.start()
    win = MainWindow(session, bridge=bridge)
    qtbot.addWidget(win)
    win.show()
    yield win
    bridge.stop()


def test_create_a_show_and_see_its_settlement(window: Any, qtbot: Any) -> None:
    page = window.open("shows")
    page.new_record()
    form = page.list.form
    for name, text in (
        ("city", "Sevilla"),
        ("country", "es"),
        ("starts_at", "2026-07-04 21:30"),
        ("fee", "12000"),
        ("currency", "EUR"),
        ("wht_pct", "15"),
        ("booking_pct", "10"),
        ("mgmt_pct", "20"),
    ):
        form.set_text(name, text)
    assert not page.list.presenter.errors
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S
    qtbot.waitUntil(lambda: page.list.presenter.row_id is not None, timeout=3000)
    page.tabs.setCurrentWidget(page.settlement)
    lines = {ln.label: ln.amount for ln in page.settlement.view.lines}
    # 12,000 - 1,800 - 1,200 - 2,400 - 0 = 6,600
    assert lines["Net"] == "6,600.00 EUR"
    table = page.settlement.table
    assert table.item(table.rowCount() - 1, 1).text() == "G - W - B - M - C"
    # and it is in the list, found by search
    page.tabs.setCurrentWidget(page.list)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # Ctrl+F
    assert QApplication.focusWidget() is page.list.search or not window.isActiveWindow()
    page.list.search.setText("Sevilla")
    assert page.list.model.total == 1


def test_invalid_input_is_flagged_while_typing(window: Any, qtbot: Any) -> None:
    page = window.open("clients")
    page.new_record()
    editor = page.form.editors["email"]
    assert isinstance(editor, QLineEdit)
    qtbot.keyClicks(editor, "nope")
    assert page.form.errors["email"].isVisibleTo(page) and page.form.errors["email"].text()
    qtbot.keyClicks(editor, "@mail.es")
    assert not page.form.errors["email"].isVisibleTo(page)


def test_complete_a_job_and_see_the_board_change(
    window: Any, session: Any, demo: Any, qtbot: Any
) -> None:
    board = window.open("board")
    mid = demo["machines"][0]
    row = board.model.row_of(mid)
    assert board.model.data(board.model.index(row), STATUS_ROLE) == "RUNNING"
    jobs = window.open("jobs")
    queue = jobs.queue
    queue.machine.setCurrentIndex(queue.machine.findData(mid))
    running = next(
        r for r in range(queue.model.rowCount()) if queue.model.job(r)["status"] == "IN_PROGRESS"
    )
    queue.table.selectRow(running)
    queue.complete()
    qtbot.waitUntil(
        lambda: board.model.data(board.model.index(row), STATUS_ROLE) == "IDLE", timeout=3000
    )
    assert board.model.card(row)["current_job"] is None
    assert all(queue.model.job(r)["status"] != "IN_PROGRESS" for r in range(queue.model.rowCount()))


def test_drag_to_reorder_writes_sequence_and_undo_restores(
    window: Any, session: Any, demo: Any, qtbot: Any
) -> None:
    jobs = window.open("jobs")
    queue = jobs.queue
    mid = demo["machines"][4]
    queue.machine.setCurrentIndex(queue.machine.findData(mid))
    ids = queue.model.ids()
    mime = queue.model.mimeData([queue.model.index(5, 0)])
    queue.model.dropMimeData(mime, Qt.DropAction.MoveAction, 0, 0, queue.model.index(-1, -1))
    with session.read() as s:
        order = list(s.scalars(select(Job.id).where(Job.machine_id == mid).order_by(Job.sequence)))
    assert order == [ids[5], *ids[:5]]
    while window.undo.can_undo:
        window.undo_last()
    with session.read() as s:
        order = list(s.scalars(select(Job.id).where(Job.machine_id == mid).order_by(Job.sequence)))
    assert order == ids


def test_a_conflict_resolved_in_the_dialog(
    window: Any, session: Any, demo: Any, qtbot: Any
) -> None:
    page = window.open("clients")
    page.table.selectRow(0)
    cid = page.presenter.row_id
    assert cid is not None
    page.form.set_text("phone", "+34 111")
    page.form.set_text("contact", "Marta")
    # A LAN browser changes the same client while we type: our unsaved edit stays.
    with session.write() as s:
        writes.update(s, actor=session.actor, entity="clients", id=cid, data={"phone": "+34 999"})
    assert page.presenter.value("contact") == "Marta"
    seen: list[ConflictDialog] = []

    def answer(choice: Any) -> set[str]:
        dialog = ConflictDialog(choice.rows, parent=page)
        qtbot.addWidget(dialog)
        seen.append(dialog)
        dialog.show()
        qtbot.mouseClick(
            dialog.findChild(type(dialog._mine["phone"]), "mine_phone"), Qt.MouseButton.LeftButton
        )
        dialog.accept()
        return dialog.keep_mine()

    page.ask_conflict = answer
    page.save()
    assert seen and seen[0].keep_mine() == {"phone"}
    with session.read() as s:
        row = s.get(writes.spec_for("clients").model, (session.org_id, cid))
        # phone: we clicked "mine"; contact: theirs (the stored value) stayed by default
        assert row.phone == "+34 111"
        assert row.contact != "Marta"


def test_lan_change_appears_in_the_open_table(window: Any, session: Any, qtbot: Any) -> None:
    import threading

    page = window.open("inventory")
    before = page.model.total

    def tablet() -> None:
        with session.write() as s:
            writes.create(
                s,
                actor=session.actor,
                entity="inventory",
                data={"sku": "TAB-1", "name": "Desde planta", "quantity": "0"},
            )

    threading.Thread(target=tablet).start()
    qtbot.waitUntil(lambda: page.model.total == before + 1, timeout=3000)
    assert page.count.text().startswith(f"{before + 1}")


def test_only_enabled_modules_and_spanish(session: Any, qtbot: Any) -> None:
    from dataclasses import replace

    from desktop.i18n import set_language

    set_language("es")
    tour_only = replace(session, site=replace(session.site, modules=("tour",)))
    win = MainWindow(tour_only)
    qtbot.addWidget(win)
    keys = [win.nav.item(i).data(Qt.ItemDataRole.UserRole) for i in range(win.nav.count())]
    assert "board" not in keys and "jobs" not in keys and "shows" in keys
    texts = [win.nav.item(i).text() for i in range(win.nav.count())]
    assert "Conciertos" in texts and "Finanzas" in texts
    assert win.actions_["save"].text() == "Guardar"


def test_every_page_opens(window: Any, session: Any) -> None:
    for key in list(window._factories):
        page = window.open(key)
        assert window.current_page() is page
    with session.read() as s:
        assert s.scalar(select(Show.id).limit(1))


def test_dark_mode_switch(window: Any, qapp: Any, tmp_path: Any, monkeypatch: Any) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QPalette

    from desktop.theme import chosen_scheme, current_scheme

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    QSettings().remove("theme")
    try:
        window.actions_["dark"].setChecked(True)
        assert current_scheme() == "dark" and chosen_scheme() == "dark"
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 128
        window.actions_["dark"].setChecked(False)
        assert current_scheme() == "light"
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 128
    finally:
        QSettings().remove("theme")
