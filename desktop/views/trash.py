"""The Trash: records deleted in this organisation (tombstones), newest first, with
Restore. Restoring goes through the write path (``writes.restore``), so it is checked,
audited and synced like any change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from core import writes
from core.errors import DomainError
from core.models import User
from core.registry import registry
from desktop.i18n import entity_label, tr
from desktop.models import refs
from desktop.models.formatting import cell_text
from desktop.presenters.errors import user_message

PER_ENTITY = 200


@dataclass
class Tombstone:
    entity: str
    id: str
    name: str
    deleted_at: datetime
    deleted_by: str
    version: int


def tombstones(session: Any) -> list[Tombstone]:
    """Deleted rows of every entity this user may delete, newest first."""
    out: list[Tombstone] = []
    with session.read() as s:
        users = dict(
            s.execute(select(User.id, User.name).where(User.org_id == session.org_id)).all()
        )
        for name, spec in registry().items():
            if spec.append_only or (spec.module != "core" and not session.has(spec.module)):
                continue
            model = spec.model
            rows = s.execute(
                select(model.id, model.deleted_at, model.updated_by, model.version)
                .where(model.org_id == session.org_id, model.deleted_at.is_not(None))
                .order_by(model.deleted_at.desc())
                .limit(PER_ENTITY)
            ).all()
            names = refs.titles(s, session.org_id, name, [r.id for r in rows])
            out += [Tombstone(name, r.id, names.get(r.id, ""), r.deleted_at,
                              users.get(r.updated_by) or tr("system"), r.version)
                    for r in rows]  # fmt: skip
    out.sort(key=lambda t: t.deleted_at, reverse=True)
    return out


class TrashPage(QWidget):
    status = Signal(str)

    def __init__(self, session: Any, *, undo: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page_trash")
        self.session = session
        self.items: list[Tombstone] = []
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("table")
        self.table.setHorizontalHeaderLabels(
            [tr("Type"), tr("Record"), tr("Deleted at"), tr("Deleted by")]
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel(tr("Nothing in the trash"))
        self.empty.setObjectName("empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.restore_button = QPushButton(tr("Restore"))
        self.restore_button.setObjectName("restore")
        self.restore_button.clicked.connect(self.restore_selected)
        refresh = QPushButton(tr("Refresh"))
        refresh.clicked.connect(self.refresh)
        self.message = QLabel()
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(refresh)
        buttons.addWidget(self.restore_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        self.items = tombstones(self.session)
        self.table.setRowCount(len(self.items))
        reg = registry()
        for r, t in enumerate(self.items):
            for c, text in enumerate((entity_label(reg[t.entity]), t.name,
                                      cell_text(t.deleted_at), t.deleted_by)):  # fmt: skip
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.empty.setVisible(not self.items)
        self.table.setVisible(bool(self.items))
        self.restore_button.setEnabled(bool(self.items))

    def restore(self, item: Tombstone) -> bool:
        try:
            with self.session.write() as s:
                writes.restore(s, actor=self.session.actor, entity=item.entity, id=item.id,
                               version=item.version)  # fmt: skip
        except DomainError as exc:
            msg = user_message(exc)
            self.message.setText(f"{msg.title} {msg.text}".strip())
            return False
        self.message.setText("")
        self.status.emit(f"{tr('Restored')}: {item.name}")
        self.refresh()
        return True

    def restore_selected(self) -> bool:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return all(self.restore(self.items[r]) for r in rows) if rows else False

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("kind") in ("delete", "update") for c in changes):
            self.refresh()
