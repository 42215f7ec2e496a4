"""Users and PINs: the people of the site, their role and language, a PIN reset and
deactivation, beside the usual list and form."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import tr
from desktop.presenters import users
from desktop.views.entity_page import EntityPage

COLUMNS = ("name", "role", "email", "language", "is_active")


class UsersPage(EntityPage):
    def __init__(self, session: Any, *, undo: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(session, "users", undo=undo, columns=COLUMNS, parent=parent)
        self.setObjectName("page_users")
        self.ask_pin = self._ask_pin  # replaced in tests to type the PIN
        self.pin_button = QPushButton(tr("Reset PIN…"))
        self.pin_button.setObjectName("resetPin")
        self.pin_button.clicked.connect(self.reset_pin)
        self.active_button = QPushButton(tr("Deactivate"))
        self.active_button.setObjectName("deactivate")
        self.active_button.clicked.connect(self.toggle_active)
        row = QHBoxLayout()
        row.addWidget(self.pin_button)
        row.addWidget(self.active_button)
        row.addStretch(1)
        outer = self.layout()
        if isinstance(outer, QVBoxLayout):
            outer.addLayout(row)
        self.presenter.loaded.connect(self._update_buttons)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = not self.presenter.is_new
        self.pin_button.setEnabled(has)
        self.active_button.setEnabled(has)
        active = self.presenter.value("is_active") is not False
        self.active_button.setText(tr("Deactivate") if active else tr("Activate"))

    def _ask_pin(self) -> str | None:
        pin, ok = QInputDialog.getText(self, tr("Reset PIN…"), tr("New PIN (digits only)"),
                                       QLineEdit.EchoMode.Password)  # fmt: skip
        return pin if ok else None

    def reset_pin(self) -> bool:
        user_id = self.presenter.row_id
        if user_id is None:
            return False
        pin = self.ask_pin()
        if pin is None:
            return False
        problem = users.set_pin(self.session, user_id, pin)
        if problem is not None:
            self._failed(problem)
            return False
        self.presenter.load(user_id)
        self._show_history(user_id)
        self.message.setStyleSheet("")
        self.message.setText(tr("PIN changed"))
        return True

    def toggle_active(self) -> bool:
        user_id = self.presenter.row_id
        if user_id is None:
            return False
        active = self.presenter.value("is_active") is not False
        problem = users.set_active(self.session, user_id, not active)
        if problem is not None:
            self._failed(problem)
            return False
        self.presenter.load(user_id)
        self._show_history(user_id)
        self.model.refresh()
        self.message.setText(tr("Deactivated") if active else tr("Activated"))
        return True
