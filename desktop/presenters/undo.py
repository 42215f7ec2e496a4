"""Undo of the last changes made in this window, through the write path.

Undo is a new change (audited, synced) that puts the fields back, made against the
version the row had after our change: if someone changed the row since, the undo is
refused as a conflict rather than silently overwriting their edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.services import writes
from desktop.i18n import tr


@dataclass
class Undoable:
    entity: str
    id: str
    kind: str  # create | update
    before: dict[str, Any]  # JSON values of the fields before the change
    version: int  # the row's version right after the change
    label: str = ""


class UndoPresenter(QObject):
    changed = Signal()
    message = Signal(str)

    def __init__(self, session: Any, *, depth: int = 20, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.depth = depth
        self._stack: list[Undoable] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._stack)

    def peek(self) -> Undoable | None:
        return self._stack[-1] if self._stack else None

    def record(self, item: Undoable) -> None:
        self._stack.append(item)
        del self._stack[: -self.depth]
        self.changed.emit()

    def record_write(self, entity: str, row: Any, kind: str, before: dict[str, Any]) -> None:
        if kind == "update" and not before:
            return
        self.record(Undoable(entity, row.id, kind, before, row.version))

    def undo(self) -> bool:
        """Revert the newest change. Raises domain errors (Conflict if the row moved on);
        the item is dropped either way, so a refused undo does not block older ones."""
        if not self._stack:
            self.message.emit(tr("Nothing to undo"))
            return False
        item = self._stack.pop()
        self.changed.emit()
        with self.session.write() as s:
            if item.kind == "create":
                writes.delete(s, actor=self.session.actor, entity=item.entity, id=item.id,
                              version=item.version)  # fmt: skip
            else:
                writes.update(s, actor=self.session.actor, entity=item.entity, id=item.id,
                              data=item.before, version=item.version)  # fmt: skip
        self.message.emit(tr("Undone"))
        return True
