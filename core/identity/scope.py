"""Who may see and write which rows: the personal roles (operator, crew) see and send
only their own messages, and see the attachments of their side of the work. Used by
the read path and the write path alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_

from core.attachments.rules import ROLE_OWNERS
from core.errors import Forbidden, NotFound
from core.models import Attachment, Message
from core.registry import EntitySpec
from core.writes import Actor

# Roles that see only the rows that concern them, per entity: a column predicate.
PERSONAL = frozenset({"operator", "crew"})


def row_scope(spec: EntitySpec, actor: Actor) -> Any | None:
    """An extra WHERE clause limiting what ``actor`` may see of ``spec`` (None: all)."""
    if spec.model is Message and actor.role in PERSONAL:
        return or_(Message.from_user_id == actor.user_id, Message.to_user_id == actor.user_id)
    if spec.model is Attachment and actor.role in PERSONAL:
        # An operator sees the shop floor's files, the crew the tour's.
        return Attachment.owner_entity.in_(sorted(ROLE_OWNERS[actor.role] or ()))
    return None


def can_see(spec: EntitySpec, actor: Actor, row: Any) -> bool:
    if spec.model is Message and actor.role in PERSONAL:
        return actor.user_id in (row.from_user_id, row.to_user_id)
    if spec.model is Attachment and actor.role in PERSONAL:
        return row.owner_entity in (ROLE_OWNERS[actor.role] or ())
    return True


def check_write_scope(
    spec: EntitySpec, actor: Actor, data: Mapping[str, Any], row: Any | None = None
) -> None:
    """Personal roles write only their own rows: a message is sent as oneself, and only
    one's own messages can be changed. Unseen rows are reported as missing."""
    if row is not None and not can_see(spec, actor, row):
        raise NotFound(f"{spec.name} '{row.id}' not found")
    if spec.model is Message and actor.role in PERSONAL:
        sender = data.get("from_user_id")
        if sender is not None and sender != actor.user_id:
            raise Forbidden("messages can only be sent as yourself")
