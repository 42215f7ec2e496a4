"""What the write path does with each change besides the row and the audit entry.

A site appends the change to its outbox (it reaches the central server later); the
central server's recorder lives in ``central`` and appends to the change feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from core.clock import HybridClock, utcnow
from core.models import OutboxEntry


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


# Outbox and audit entries are appended for every change; as ORM objects they cost more
# than the row they describe. They are kept as plain rows in the session and written
# with one multi-row INSERT per table whenever the session flushes (before any query
# that autoflushes, and at commit), in the order they were made.
_BUFFER = "insert_buffer"


def buffer_insert(session: Session, model: type, values: dict[str, Any]) -> None:
    buffers: dict[type, list[dict[str, Any]]] = session.info.setdefault(_BUFFER, {})
    buffers.setdefault(model, []).append(values)


def drain_inserts(session: Session, *_: Any) -> None:
    buffers = session.info.pop(_BUFFER, None)
    if not buffers:
        return
    for model, rows in buffers.items():
        # A Core insert of the table: the ORM's bulk-insert mode would also fetch the new
        # primary keys, which nobody needs here.
        session.execute(insert(model.__table__), rows)


def install_buffer_drain() -> None:
    """Drain buffered inserts on every flush and commit, for every session (once)."""
    for name in ("before_flush", "before_commit"):
        if not event.contains(Session, name, drain_inserts):
            event.listen(Session, name, drain_inserts)
