"""Undo of the last actions made in this window, through the write path.

One user action is one step, however many rows it wrote (a drag-reorder renumbers
several jobs: one Ctrl+Z puts them all back, in one transaction). Undo is a new change
(audited, synced) made against the version each row had after our change: if someone
changed a row since, the whole step is refused as a conflict rather than silently
overwriting their edit. Undoing a delete restores the row from the trash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from core import writes
from desktop.i18n import tr


@dataclass
class Undoable:
    entity: str
    id: str
    kind: str  # create | update | delete
    before: dict[str, Any]  # JSON values of the fields before the change
    version: int  # the row's version right after the change
    label: str = ""


Step = list[Undoable]


class UndoPresenter(QObject):
    changed = Signal()
    message = Signal(str)
    undone = Signal(list)  # [(entity, id), …] of the rows the undo wrote

    def __init__(self, session: Any, *, depth: int = 20, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.depth = depth
        self._stack: list[Step] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._stack)

    def peek(self) -> Undoable | None:
        return self._stack[-1][-1] if self._stack else None

    def __len__(self) -> int:
        return len(self._stack)

    def record(self, item: Undoable) -> None:
        self.record_step([item])

    def record_step(self, items: list[Undoable]) -> None:
        """Several writes of one user action, undone together."""
        if not items:
            return
        self._stack.append(list(items))
        del self._stack[: -self.depth]
        self.changed.emit()

    def record_write(self, entity: str, row: Any, kind: str, before: dict[str, Any]) -> None:
        if kind == "update" and not before:
            return
        self.record(Undoable(entity, row.id, kind, before, row.version))

    def undo(self) -> bool:
        """Revert the newest step. Raises domain errors (Conflict if a row moved on);
        the step is dropped either way, so a refused undo does not block older ones."""
        if not self._stack:
            self.message.emit(tr("Nothing to undo"))
            return False
        step = self._stack.pop()
        self.changed.emit()
        actor = self.session.actor
        with self.session.write() as s:
            for item in reversed(step):
                if item.kind == "create":
                    writes.delete(s, actor=actor, entity=item.entity, id=item.id,
                                  version=item.version)  # fmt: skip
                elif item.kind == "delete":
                    writes.restore(s, actor=actor, entity=item.entity, id=item.id,
                                   version=item.version)  # fmt: skip
                else:
                    writes.update(s, actor=actor, entity=item.entity, id=item.id,
                                  data=item.before, version=item.version)  # fmt: skip
        self.message.emit(tr("Undone"))
        self.undone.emit([(i.entity, i.id) for i in step])
        return True
