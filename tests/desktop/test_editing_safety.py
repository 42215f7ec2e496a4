"""Editing like office software: an unsaved-changes prompt, delete to a Trash with
Restore (through the write path), one undo per user action, a history that follows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core import writes
from core.models import Client, Job
from desktop.bridge import ChangeBridge
from desktop.presenters.jobs import JobsPresenter
from desktop.presenters.undo import UndoPresenter
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


def _client_name(session: Any, id: str) -> str:
    with session.read() as s:
        return s.get(Client, (session.org_id, id)).name


def test_unsaved_edits_prompt_before_another_row_is_shown(window: Any, session: Any) -> None:
    page = window.open("clients")
    page.table.selectRow(0)
    first = page.presenter.row_id
    assert first
    page.form.set_text("name", "Edited but not saved")
    asked: list[str] = []
    page.ask_unsaved = lambda: asked.append("asked") or "cancel"
    page.table.selectRow(1)
    assert asked == ["asked"]
    assert page.presenter.row_id == first  # stayed on the edited record
    assert page.presenter.value("name") == "Edited but not saved"
    assert page.model.row_of(first) in {i.row() for i in page.table.selectedIndexes()}
    page.ask_unsaved = lambda: "save"
    page.table.selectRow(1)
    assert page.presenter.row_id != first
    assert _client_name(session, first) == "Edited but not saved"
    # Nothing edited: no question.
    page.ask_unsaved = lambda: pytest.fail("asked without edits")
    page.table.selectRow(2)
    # Discard throws the edit away on purpose.
    page.form.set_text("name", "Thrown away")
    page.ask_unsaved = lambda: "discard"
    third = page.presenter.row_id
    page.table.selectRow(0)
    assert _client_name(session, third) != "Thrown away"


def test_delete_goes_to_the_trash_and_restores(window: Any, session: Any, qtbot: Any) -> None:
    page = window.open("clients")
    page.table.selectRow(0)
    row_id = page.presenter.row_id
    name = _client_name(session, row_id)
    before = page.model.total
    page.confirm_delete = lambda: True
    assert page.delete_record()
    assert "Trash" in page.message.text()
    qtbot.waitUntil(lambda: page.model.total == before - 1, timeout=3000)
    trash = window.open("trash")
    trash.refresh()
    row = next(i for i, t in enumerate(trash.items) if t.id == row_id)
    assert trash.items[row].name == name
    assert trash.table.item(row, 0).text() == "Clients"
    trash.table.selectRow(row)
    assert trash.restore_selected()
    with session.read() as s:
        assert s.get(Client, (session.org_id, row_id)).deleted_at is None
    assert row_id not in [t.id for t in trash.items]
    qtbot.waitUntil(lambda: page.model.total == before, timeout=3000)
    # Restored through the write path: audited.
    from desktop.presenters.history import history

    assert history(session, "clients", row_id)[0].action == "restored"


def test_restore_refuses_a_unique_value_taken_meanwhile(session: Any, demo: Any) -> None:
    with session.write() as s:
        bolt = {"sku": "SKU-T1", "name": "Bolt", "quantity": 1, "unit": "ud"}
        m = writes.create(s, actor=session.actor, entity="inventory", data=bolt)
        mid, v = m.id, m.version
    bolt = {"sku": "SKU-T1", "name": "Bolt", "quantity": 1, "unit": "ud"}
    with session.write() as s:
        v = writes.delete(s, actor=session.actor, entity="inventory", id=mid, version=v).version
    with session.write() as s:
        writes.create(s, actor=session.actor, entity="inventory", data=bolt | {"name": "Bolt 2"})
    from core.errors import Conflict

    with pytest.raises(Conflict), session.write() as s:
        writes.restore(s, actor=session.actor, entity="inventory", id=mid, version=v)


def test_undo_of_a_delete_restores(window: Any, session: Any) -> None:
    page = window.open("clients")
    page.table.selectRow(0)
    row_id = page.presenter.row_id
    page.confirm_delete = lambda: True
    assert page.delete_record()
    assert window.undo_last()
    with session.read() as s:
        assert s.get(Client, (session.org_id, row_id)).deleted_at is None


def test_one_undo_reverts_a_whole_reorder(session: Any, demo: Any) -> None:
    undo = UndoPresenter(session)
    jobs = JobsPresenter(session, undo=undo)
    with session.read() as s:
        queue = s.scalars(select(Job).where(Job.org_id == session.org_id,
                                            Job.deleted_at.is_(None),
                                            Job.status.in_(("PENDING", "PAUSED")))
                          .order_by(Job.machine_id, Job.sequence)).all()  # fmt: skip
        by_machine: dict[str, list[Any]] = {}
        for j in queue:
            by_machine.setdefault(j.machine_id, []).append(j)
        mid, mjobs = max(by_machine.items(), key=lambda kv: len(kv[1]))
        ids = [j.id for j in mjobs]
        seqs = {j.id: j.sequence for j in mjobs}
    assert len(ids) >= 3
    assert jobs.reorder(mid, list(reversed(ids)))
    assert len(undo) == 1
    assert undo.undo()
    with session.read() as s:
        now = {j.id: j.sequence for j in s.scalars(select(Job).where(Job.id.in_(ids)))}
    assert now == seqs
    assert not undo.can_undo


def test_history_refreshes_after_undo_and_saved_message_clears(window: Any) -> None:
    page = window.open("clients")
    page.table.selectRow(0)
    page.form.set_text("phone", "600 111 222")
    assert page.save()
    assert page.message.text() == "Saved"
    entries = page.history.count()
    page.form.set_text("phone", "600 111 223")
    assert page.message.text() == ""  # no longer true once edited again
    page.presenter.load(page.presenter.row_id)
    assert window.undo_last()
    assert page.history.count() == entries + 1
    assert page.presenter.value("phone") != "600 111 222"
