"""A record's history, read from the audit log the write path keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.models import AuditEntry, User
from desktop.i18n import choice_label, field_label, tr


@dataclass
class HistoryItem:
    at: datetime
    who: str
    kind: str
    version: int
    changes: dict[str, list[Any]]

    @property
    def action(self) -> str:
        """created / updated / deleted / restored (a restore clears ``deleted_at``)."""
        if (
            self.kind == "update"
            and "deleted_at" in self.changes
            and (self.changes["deleted_at"][1] is None)
        ):
            return "restored"
        return {"create": "created", "update": "updated", "delete": "deleted"}.get(
            self.kind, self.kind
        )

    def summary(self, limit: int = 4) -> str:
        shown = [(k, v) for k, v in self.changes.items() if k != "deleted_at"]
        parts = [f"{field_label(k)}: {_short(b)} → {_short(a)}"
                 for k, (b, a) in shown[:limit]]  # fmt: skip
        more = len(shown) - limit
        if more > 0:
            parts.append(f"+{more}")
        return "; ".join(parts)


def _short(value: Any) -> str:
    from desktop.labels import CHOICES

    # A stored code reads as its word in the history too (IN_PROGRESS -> In progress).
    coded = isinstance(value, str) and value in CHOICES
    text = "∅" if value is None else choice_label(value) if coded else str(value)
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
                who=names.get(r.actor_id) or tr("system"),
                kind=r.kind,
                version=r.version,
                changes=dict(r.changes or {}),
            )
            for r in rows
        ]
