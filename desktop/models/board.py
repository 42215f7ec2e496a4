"""The machines board: one item per active machine with its status and current job.

The cards have the shape of ``core.services.factory_ops.board`` (what the shop-floor
pages show) and follow its rules: current job = the machine's ``current_job_id`` or its
first job IN_PROGRESS; next = the first PENDING by sequence, then due date. They are
read with indexed per-machine queries instead, because ``board()`` loads every open job
of the organisation, which takes seconds once there are 100,000 of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from sqlalchemy import func, select

from core.clock import utcnow
from core.models import Alert, Job, Machine
from core.serial import to_json

ACTIVE = ("PENDING", "IN_PROGRESS", "PAUSED")

CARD_ROLE = Qt.ItemDataRole.UserRole + 10
STATUS_ROLE = Qt.ItemDataRole.UserRole + 11
ID_ROLE = Qt.ItemDataRole.UserRole + 12
_Index = QModelIndex | QPersistentModelIndex

# Entities whose changes can change a card.
WATCHED = frozenset({"machines", "jobs", "alerts", "downtimes"})


def _job_card(job: Any) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "id": job.id,
        "title": job.title,
        "status": job.status,
        "progress": to_json(job.progress),
        "produced_qty": to_json(job.produced_qty),
        "quantity": to_json(job.quantity),
        "unit": job.unit,
        "version": job.version,
    }


def _next_job(s: Any, live: tuple[Any, ...], machine_id: str) -> Any:
    """First PENDING job by sequence, then due date. In two indexed steps: ordering by
    (sequence, due_at) at once would sort the machine's whole queue."""
    pending = (*live, Job.machine_id == machine_id, Job.status == "PENDING")
    first = s.scalar(select(func.min(Job.sequence)).where(*pending))
    if first is None:
        return None
    return s.scalars(
        select(Job).where(*pending, Job.sequence == first)
        .order_by(Job.due_at.asc().nulls_last(), Job.id).limit(1)
    ).first()  # fmt: skip


def load_cards(session: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    from core.oee import machine_oee

    org = session.org_id
    now = now or utcnow()
    midnight = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    live = (Job.org_id == org, Job.deleted_at.is_(None))
    with session.read() as s:
        machines = s.scalars(
            select(Machine)
            .where(Machine.org_id == org, Machine.deleted_at.is_(None), Machine.is_active.is_(True))
            .order_by(Machine.name)
        ).all()
        counts = dict(
            s.execute(
                select(Job.machine_id, func.count())
                .where(*live, Job.status.in_(ACTIVE))
                .group_by(Job.machine_id)
            ).all()
        )
        alerts = dict(
            s.execute(
                select(Alert.machine_id, func.count())
                .where(
                    Alert.org_id == org, Alert.dismissed_at.is_(None), Alert.deleted_at.is_(None)
                )
                .group_by(Alert.machine_id)
            ).all()
        )
        cards = []
        for m in machines:
            current = None
            if m.current_job_id:
                current = s.get(Job, (org, m.current_job_id))
                if (
                    current is None
                    or current.deleted_at is not None
                    or current.status not in ACTIVE
                ):
                    current = None
            if current is None:
                current = s.scalars(
                    select(Job)
                    .where(*live, Job.machine_id == m.id, Job.status == "IN_PROGRESS")
                    .order_by(Job.sequence)
                    .limit(1)
                ).first()
            upcoming = _next_job(s, live, m.id)
            oee = (
                machine_oee(s, org_id=org, machine_id=m.id, start=midnight, end=now, now=now)
                if now > midnight
                else None
            )
            cards.append(
                {
                    "id": m.id,
                    "name": m.name,
                    "type": m.type,
                    "status": m.status,
                    "status_since": to_json(m.status_since),
                    "color": m.color,
                    "version": m.version,
                    "current_job": _job_card(current),
                    "next_job": _job_card(upcoming),
                    "queue_length": int(counts.get(m.id, 0)),
                    "oee_today": oee["oee"] if oee else None,
                    "open_alerts": int(alerts.get(m.id, 0)),
                    "total_meters": to_json(m.total_meters),
                    "next_maintenance_at": to_json(m.next_maintenance_at),
                }
            )
        return cards


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
