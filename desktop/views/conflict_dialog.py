"""Side by side: our value and theirs for each field in conflict; the person picks,
field by field, which to keep. Used for a stale save and for sync conflicts alike."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.i18n import field_label, tr
from desktop.models.formatting import display


class ConflictDialog(QDialog):
    def __init__(
        self,
        rows: list[tuple[str, Any, Any]],
        *,
        title: str = "",
        explanation: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("conflictDialog")
        self.setWindowTitle(title or tr("This record was changed by someone else."))
        layout = QVBoxLayout(self)
        if explanation:  # why there is a conflict, then what to do about it
            why = QLabel(explanation)
            why.setObjectName("conflictReason")
            why.setWordWrap(True)
            layout.addWidget(why)
        layout.addWidget(QLabel(tr("Choose, field by field, which value to keep.")))
        grid = QGridLayout()
        for col, text in enumerate((tr("Field"), tr("Mine"), tr("Theirs"))):
            head = QLabel(f"<b>{text}</b>")
            grid.addWidget(head, 0, col)
        self._mine: dict[str, QRadioButton] = {}
        self._groups: list[QButtonGroup] = []
        for r, (name, mine, theirs) in enumerate(rows, start=1):
            grid.addWidget(QLabel(field_label(name)), r, 0)
            a = QRadioButton(display(mine) or "∅")
            b = QRadioButton(display(theirs) or "∅")
            a.setObjectName(f"mine_{name}")
            b.setObjectName(f"theirs_{name}")
            b.setChecked(True)  # keeping what is stored is the safe default
            group = QButtonGroup(self)
            group.addButton(a)
            group.addButton(b)
            self._groups.append(group)
            grid.addWidget(a, r, 1)
            grid.addWidget(b, r, 2)
            self._mine[name] = a
        layout.addLayout(grid)
        quick = QDialogButtonBox()
        all_mine = QPushButton(tr("Keep mine"))
        all_theirs = QPushButton(tr("Keep theirs"))
        all_mine.clicked.connect(lambda: self.choose_all(mine=True))
        all_theirs.clicked.connect(lambda: self.choose_all(mine=False))
        quick.addButton(all_mine, QDialogButtonBox.ButtonRole.ActionRole)
        quick.addButton(all_theirs, QDialogButtonBox.ButtonRole.ActionRole)
        layout.addWidget(quick)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Apply).setText(tr("Apply"))
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("Cancel"))
        buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def choose(self, name: str, *, mine: bool) -> None:
        button = self._mine[name]
        if mine:
            button.setChecked(True)
        else:
            other = next(b for b in button.group().buttons() if b is not button)
            other.setChecked(True)

    def choose_all(self, *, mine: bool) -> None:
        for name in self._mine:
            self.choose(name, mine=mine)

    def keep_mine(self) -> set[str]:
        return {name for name, button in self._mine.items() if button.isChecked()}
