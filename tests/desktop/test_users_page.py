"""Users and PINs page: reset a PIN through the write path (hashed, checked), refuse a
bad one with a message on the page, deactivate and reactivate."""

from __future__ import annotations

from typing import Any

import pytest

from core.models import User
from desktop.views.main_window import MainWindow

pytestmark = pytest.mark.qt


def _user(session: Any, user_id: str) -> Any:
    with session.read() as s:
        return s.get(User, (session.org_id, user_id))


def test_reset_pin_and_deactivate(session: Any, demo: Any, qtbot: Any) -> None:
    from core import writes

    with session.write() as s:
        lucia = {"name": "Lucía Operaria", "role": "operator", "pin": "482913"}
        writes.create(s, actor=session.actor, entity="users", data=lucia)
    window = MainWindow(session)
    qtbot.addWidget(window)
    page = window.open("users")
    assert page.model.total >= 2
    col = page.model.columns.index("role")
    roles = {page.model.data(page.model.index(r, col)) for r in range(page.model.rowCount())}
    assert "Operator" in roles and "operator" not in roles
    row = next(r for r in range(page.model.rowCount())
               if page.model.data(page.model.index(r, col)) == "Operator")  # fmt: skip
    page.table.selectRow(row)
    user_id = page.presenter.row_id
    old_hash = _user(session, user_id).pin_hash

    page.ask_pin = lambda: "12ab"
    assert not page.reset_pin()
    assert page.message.text()  # the refusal, in words
    assert _user(session, user_id).pin_hash == old_hash

    page.ask_pin = lambda: "739164"
    assert page.reset_pin(), page.message.text()
    new_hash = _user(session, user_id).pin_hash
    assert new_hash and new_hash != old_hash and "739164" not in new_hash
    assert page.message.text() == "PIN changed"

    assert page.active_button.isVisibleTo(page) and page.pin_button.isVisibleTo(page)
    assert page.active_button.text() == "Deactivate"
    assert page.toggle_active()
    assert _user(session, user_id).is_active is False
    assert page.active_button.text() == "Activate"
    assert page.toggle_active()
    assert _user(session, user_id).is_active is True
