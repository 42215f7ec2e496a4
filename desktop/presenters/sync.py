"""The sync panel's logic: the agent's state, what waits in the outbox, and the
conflicts a person has to decide.

A conflict keeps the value that lost (ours) and the one that won (theirs). Resolving
it writes the fields the person chose to keep from ours as a normal change through the
write path (so it is audited and pushed like any edit), then marks the record resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Signal
from sqlalchemy import func, select

from core.errors import DomainError, NotFound
from core.models import ConflictRecord, OutboxEntry
from core.registry import registry
from core.sync.conflicts import resolve_conflict
from desktop.i18n import conflict_kind, conflict_text, entity_label
from desktop.presenters.errors import user_message


@dataclass
class SyncStatus:
    state: str  # online | offline | not_enrolled | error | syncing
    pending: int
    last_sync: str | None
    last_error: str | None
    conflicts: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConflictItem:
    id: str
    entity: str
    entity_id: str
    kind: str
    reason: str
    created_at: datetime
    rows: list[tuple[str, Any, Any]]  # (field, mine, theirs)
    # In the user's language: the entity's name, the kind and the reason in words.
    label: str = ""
    kind_text: str = ""
    reason_text: str = ""


class SyncPresenter(QObject):
    failed = Signal(object)
    resolved = Signal(str)

    def __init__(self, session: Any, status_source: Any = None,
                 parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.session = session
        # A callable returning the agent's status dict (SiteHost.sync_status), if any.
        self.status_source = status_source

    def status(self) -> SyncStatus:
        with self.session.read() as s:
            pending = (
                s.scalar(
                    select(func.count())
                    .select_from(OutboxEntry)
                    .where(OutboxEntry.status == "pending")
                )
                or 0
            )
            conflicts = s.scalar(
                select(func.count()).select_from(ConflictRecord).where(
                    ConflictRecord.org_id == self.session.org_id,
                    ConflictRecord.resolved_at.is_(None))
            ) or 0  # fmt: skip
        agent = dict(self.status_source() or {}) if self.status_source else {}
        state = str(agent.get("state") or "not_enrolled")
        # Names as sync_agent.SyncAgent.status() reports them (older names accepted).
        last = agent.get("last_sync_at") or agent.get("last_success")
        pending = agent.get("pending_ops", agent.get("pending", pending))
        return SyncStatus(state, int(pending), str(last) if last else None,
                          agent.get("last_error"), int(conflicts), agent)  # fmt: skip

    def conflicts(self) -> list[ConflictItem]:
        with self.session.read() as s:
            rows = s.scalars(
                select(ConflictRecord)
                .where(ConflictRecord.org_id == self.session.org_id,
                       ConflictRecord.resolved_at.is_(None))
                .order_by(ConflictRecord.created_at.desc())
            ).all()  # fmt: skip
        out = []
        for r in rows:
            names = list(r.fields or []) or sorted(set(r.losing_values) | set(r.winning_values))
            spec = registry().get(r.entity)
            out.append(ConflictItem(
                r.id, r.entity, r.entity_id, r.kind, r.reason or "", r.created_at,
                [(n, (r.losing_values or {}).get(n), (r.winning_values or {}).get(n))
                 for n in names],
                entity_label(spec) if spec is not None else r.entity,
                conflict_kind(r.kind), conflict_text(r.kind, r.reason),
            ))  # fmt: skip
        return out

    def resolve(self, conflict_id: str, keep_mine: set[str]) -> bool:
        """Settle a conflict through the one path (``core.sync.conflicts``): keeping
        nothing of this site's values keeps the row as it is (``server``); otherwise
        the kept values are written (``values``), or for a refused create of a taken
        value, merged into the row that holds it. A rename needs a new value: the site
        API or `structura sync conflicts --choice rename`."""
        try:
            with self.session.write() as s:
                rec = s.get(ConflictRecord, conflict_id)
                if rec is None or rec.org_id != self.session.org_id:
                    raise NotFound(f"conflict '{conflict_id}' not found")
                kept = {k: v for k, v in (rec.losing_values or {}).items() if k in keep_mine}
                if rec.kind == "unique":
                    choice = "merge" if kept else "discard"
                else:
                    choice = "values" if kept else "server"
                resolve_conflict(s, actor=self.session.actor, conflict_id=conflict_id,
                                 choice=choice, values=kept or None)  # fmt: skip
        except DomainError as exc:
            self.failed.emit(user_message(exc))
            return False
        self.resolved.emit(conflict_id)
        return True
