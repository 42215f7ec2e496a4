"""What the write path does with each change besides the row and the audit entry.

A site appends the change to its outbox (it reaches the central server later); the
central server's recorder lives in ``central`` and appends to the change feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from core.clock import HybridClock, utcnow
from core.models import OutboxEntry
from core.sync.unit import unit_of


@dataclass
class Change:
    entity: str
    entity_id: str
    org_id: str
    kind: str  # create | update | delete
    op_id: str
    base_version: int
    fields: dict[str, Any]  # JSON values of the changed fields (all of them on create)
    before: dict[str, Any]  # JSON values before, for the same fields
    version: int
    actor_id: str | None
    device_id: str | None
    row: Any  # the ORM row after the change


class Recorder(Protocol):
    clock: HybridClock

    def record(self, session: Session, change: Change) -> None: ...


class OutboxRecorder:
    def __init__(self) -> None:
        self.clock = HybridClock()

    def record(self, session: Session, change: Change) -> None:
        buffer_insert(
            session,
            OutboxEntry,
            {
                "op_id": change.op_id,
                "org_id": change.org_id,
                "entity": change.entity,
                "entity_id": change.entity_id,
                "kind": change.kind,
                "base_version": change.base_version,
                "fields": change.fields,
                "made_at": self.clock.now(),
                "made_by": change.actor_id,
                "created_at": utcnow(),
                "status": "pending",
                "attempts": 0,
            },
        )


def buffer_insert(session: Session, model: type, values: dict[str, Any]) -> None:
    """Queue a bookkeeping row (outbox, audit) on the session's unit of work; it is
    written with one multi-row INSERT per table at the next flush."""
    unit_of(session).buffer_insert(model, values)
