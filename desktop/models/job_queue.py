"""One machine's queue of open jobs, reorderable by drag and drop.

A drop reorders the rows here and hands the new order of ids to ``on_reorder`` (the
jobs presenter), which writes the new ``sequence`` values through the write path. The
model never writes itself; if the write fails the presenter reloads it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from sqlalchemy import select

from core.models import Job
from desktop.i18n import choice_label, field_label
from desktop.models.formatting import cell_text, is_numeric

MIME = "application/x-structura-job-ids"
# The head of a queue is what people reorder; a machine with thousands of open jobs
# shows the first ones (the full list is the jobs table).
QUEUE_LIMIT = 500
OPEN = ("IN_PROGRESS", "PAUSED", "PENDING")
COLUMNS = ("sequence", "title", "status", "priority", "quantity", "produced_qty", "due_at")
ID_ROLE = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex


class JobQueueModel(QAbstractTableModel):
    def __init__(
        self,
        session: Any,
        machine_id: str | None = None,
        *,
        on_reorder: Callable[[str, list[str], list[int]], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.machine_id = machine_id
        self.on_reorder = on_reorder
        self._jobs: list[dict[str, Any]] = []
        self.truncated = False
        self.refresh()

    def set_machine(self, machine_id: str | None) -> None:
        self.machine_id = machine_id
        self.refresh()

    def refresh(self) -> None:
        jobs: list[dict[str, Any]] = []
        if self.machine_id:
            cols = [getattr(Job, c) for c in (*COLUMNS, "id", "version")]
            names = (*COLUMNS, "id", "version")
            with self.session.read() as s:
                # Columns, not ORM rows: a long queue loads several times faster.
                rows = s.execute(
                    select(*cols)
                    .where(Job.org_id == self.session.org_id, Job.machine_id == self.machine_id,
                           Job.deleted_at.is_(None), Job.status.in_(OPEN))
                    .order_by(Job.sequence, Job.id)
                    .limit(QUEUE_LIMIT + 1)
                ).all()  # fmt: skip
                jobs = [dict(zip(names, r, strict=True)) for r in rows[:QUEUE_LIMIT]]
        self.truncated = (
            len(jobs) == QUEUE_LIMIT and bool(self.machine_id) and len(rows) > QUEUE_LIMIT
        )
        self.beginResetModel()
        self._jobs = jobs
        self.endResetModel()

    def ids(self) -> list[str]:
        return [j["id"] for j in self._jobs]

    def job(self, row: int) -> dict[str, Any]:
        return dict(self._jobs[row])

    # -- model interface -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._jobs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._jobs):
            return None
        job = self._jobs[index.row()]
        name = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if name in ("status", "priority"):
                return choice_label(job[name])
            return cell_text(job[name])
        if role == Qt.ItemDataRole.EditRole:
            return job[name]
        if role == Qt.ItemDataRole.TextAlignmentRole and is_numeric(job[name]):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == ID_ROLE:
            return job["id"]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return field_label(COLUMNS[section]) if 0 <= section < len(COLUMNS) else None
        return section + 1

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled
        return base | Qt.ItemFlag.ItemIsDragEnabled

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME]

    def mimeData(self, indexes: Any) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        data = QMimeData()
        payload = json.dumps([self._jobs[r]["id"] for r in rows]).encode()
        data.setData(MIME, QByteArray(payload))
        return data

    def canDropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: _Index
    ) -> bool:
        return data.hasFormat(MIME) and action == Qt.DropAction.MoveAction

    def dropMimeData(
        self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: _Index
    ) -> bool:
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        ids = json.loads(bytes(data.data(MIME).data()).decode())
        if row < 0:  # dropped on an item (or below the last): before it, or at the end
            row = parent.row() if parent.isValid() else len(self._jobs)
        self.move_ids(ids, row)
        # True, yet the view's follow-up removeRows() is a no-op (not implemented here):
        # the move already happened, nothing is left to delete.
        return True

    def move_ids(self, ids: list[str], row: int) -> None:
        """Put the jobs ``ids`` (in their current order) before position ``row``."""
        moving = [j for j in self._jobs if j["id"] in ids]
        if not moving:
            return
        before = sum(1 for j in self._jobs[:row] if j["id"] in ids)
        rest = [j for j in self._jobs if j["id"] not in ids]
        target = max(0, min(len(rest), row - before))
        new = rest[:target] + moving + rest[target:]
        if [j["id"] for j in new] == self.ids():
            return
        self.beginResetModel()
        self._jobs = new
        self.endResetModel()
        if self.on_reorder is not None and self.machine_id:
            # The sequence values these rows hold, in order: reusing them keeps every
            # job not shown (a long queue's tail) behind the ones reordered here.
            slots = sorted(j["sequence"] for j in new)
            self.on_reorder(self.machine_id, self.ids(), slots)

    def moveRows(
        self, source: _Index, row: int, count: int, destination: _Index, child: int
    ) -> bool:
        if source.isValid() or destination.isValid() or count < 1:
            return False
        if row < 0 or row + count > len(self._jobs) or not 0 <= child <= len(self._jobs):
            return False
        if row <= child <= row + count:
            return False
        ids = [j["id"] for j in self._jobs[row : row + count]]
        self.move_ids(ids, child)
        return True

    def apply_changes(self, changes: list[dict[str, Any]]) -> None:
        if any(c.get("entity") == "jobs" for c in changes):
            self.refresh()
