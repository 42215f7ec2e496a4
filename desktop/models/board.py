"""The machines board: one item per active machine with its status and current job.

The cards are ``core.factory.actions.board``'s, the same the shop-floor pages show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from core.factory.actions import board

CARD_ROLE = Qt.ItemDataRole.UserRole + 10
STATUS_ROLE = Qt.ItemDataRole.UserRole + 11
ID_ROLE = Qt.ItemDataRole.UserRole + 12
_Index = QModelIndex | QPersistentModelIndex

# Entities whose changes can change a card.
WATCHED = frozenset({"machines", "jobs", "alerts", "downtimes"})


def load_cards(session: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    with session.read() as s:
        return board(s, org_id=session.org_id, now=now)


class BoardModel(QAbstractListModel):
    def __init__(self, session: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._cards: list[dict[str, Any]] = []
        self.refresh()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._cards)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._cards):
            return None
        card = self._cards[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return card["name"]
        if role == Qt.ItemDataRole.ToolTipRole:
            job = card.get("current_job")
            return f"{card['name']} · {card['status']}" + (f" · {job['title']}" if job else "")
        if role == STATUS_ROLE:
            return card["status"]
        if role == ID_ROLE:
            return card["id"]
        if role == CARD_ROLE:
            return card
        return None

    def card(self, row: int) -> dict[str, Any]:
        return self._cards[row]

    def row_of(self, machine_id: str) -> int:
        return next((i for i, c in enumerate(self._cards) if c["id"] == machine_id), -1)

    def refresh(self) -> None:
        cards = load_cards(self.session)
        if [c["id"] for c in cards] == [c["id"] for c in self._cards]:
            # Same machines in the same order: update in place, keep the selection.
            self._cards = cards
            if cards:
                self.dataChanged.emit(self.index(0), self.index(len(cards) - 1))
            return
        self.beginResetModel()
        self._cards = cards
        self.endResetModel()

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("entity") in WATCHED for c in changes):
            self.refresh()
