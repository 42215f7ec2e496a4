"""A record's history, read from the audit log the write path keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.models import AuditEntry, User
from desktop.i18n import field_label


@dataclass
class HistoryItem:
    at: datetime
    who: str
    kind: str
    version: int
    changes: dict[str, list[Any]]

    def summary(self, limit: int = 4) -> str:
        parts = [f"{field_label(k)}: {_short(b)} → {_short(a)}"
                 for k, (b, a) in list(self.changes.items())[:limit]]  # fmt: skip
        more = len(self.changes) - limit
        if more > 0:
            parts.append(f"+{more}")
        return "; ".join(parts)


def _short(value: Any) -> str:
    text = "∅" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def history(session: Any, entity: str, id: str, *, limit: int = 200) -> list[HistoryItem]:
    with session.read() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.org_id == session.org_id, AuditEntry.entity == entity,
                   AuditEntry.entity_id == id)
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        ).all()  # fmt: skip
        actor_ids = {r.actor_id for r in rows if r.actor_id}
        names = dict(
            s.execute(
                select(User.id, User.name).where(User.org_id == session.org_id,
                                                 User.id.in_(actor_ids))
            ).all()
        ) if actor_ids else {}  # fmt: skip
        return [
            HistoryItem(
                at=r.at,
                who=names.get(r.actor_id, r.actor_id or "system"),
                kind=r.kind,
                version=r.version,
                changes=dict(r.changes or {}),
            )
            for r in rows
        ]
