"""Sync pieces both sides share: the wire schema version, turning an operation's stored
fields back into write-path input, and listing/resolving conflict records.

The central push merge lives in ``central.push`` and the site-side apply of pulled rows
in ``sync_agent.apply``; both write only through ``core.services.writes`` (central) or
the documented no-outbox apply (site). Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.models import ConflictRecord
from core.registry import EntitySpec, spec_for
from core.serial import row_to_json
from core.services import writes
from core.services.writes import Actor

# Version of the sync wire format and of the entity schemas it carries. A central server
# serves clients in [MIN_SCHEMA_VERSION, SCHEMA_VERSION]; bump SCHEMA_VERSION when an
# entity gains or changes a field, and MIN when old clients can no longer be merged
# safely (guarantee 9: refuse them rather than write half-understood data).
SCHEMA_VERSION = 1
MIN_SCHEMA_VERSION = 1
SCHEMA_HEADER = "X-Structura-Schema"

# Reserved key of ``field_versions`` on the central server: {str(version): device_id} of
# the device whose op produced that version (only versions some field still points at).
# A device's later op does not conflict with a field its own earlier op changed: it was
# made after that op, on the same site, so it knew of it.
WRITERS_KEY = "~by"

CHOICES = ("server", "mine", "values")


def write_args(spec: EntitySpec, fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict]:
    """An op's fields (stored column names, JSON values) as write-path input.

    Secret columns travel as the argon2 hashes the site made; they go in as
    ``hashed_secrets`` (or as a plain ``None`` to clear them), never as plaintext.
    """
    by_column = {col: plain for plain, col in spec.secret_inputs.items()}
    data: dict[str, Any] = {}
    hashed: dict[str, str] = {}
    for name, value in fields.items():
        plain = by_column.get(name)
        if plain is None:
            data[name] = value
        elif value is None:
            data[plain] = None
        else:
            hashed[plain] = value
    return data, hashed


def conflict_json(c: ConflictRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "entity": c.entity,
        "entity_id": c.entity_id,
        "kind": c.kind,
        "op_id": c.op_id,
        "device_id": c.device_id,
        "rule": c.rule,
        "fields": list(c.fields or []),
        "losing_values": dict(c.losing_values or {}),
        "winning_values": dict(c.winning_values or {}),
        "reason": c.reason,
        "created_at": c.created_at.isoformat() if c.created_at else None,
        "resolved_at": c.resolved_at.isoformat() if c.resolved_at else None,
        "resolved_by": c.resolved_by,
        "resolution": c.resolution,
    }


def list_conflicts(
    session: Session, org_id: str, *, open_only: bool = True, limit: int = 500
) -> list[dict[str, Any]]:
    stmt = select(ConflictRecord).where(ConflictRecord.org_id == org_id)
    if open_only:
        stmt = stmt.where(ConflictRecord.resolved_at.is_(None))
    stmt = stmt.order_by(ConflictRecord.created_at, ConflictRecord.id).limit(limit)
    return [conflict_json(c) for c in session.scalars(stmt)]


def resolve_conflict(
    session: Session,
    *,
    actor: Actor,
    conflict_id: str,
    choice: str,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Close a conflict. ``server`` keeps the row as it is; ``mine`` writes the losing
    values back; ``values`` writes the given values. Writes are normal writes through the
    one write path (audit, outbox or feed), made by ``actor``, so they sync like any edit.
    A deleted row is never brought back this way (guarantee 5): create a new one."""
    if choice not in CHOICES:
        raise Invalid(f"choice must be one of {', '.join(CHOICES)}")
    rec = session.get(ConflictRecord, conflict_id)
    if rec is None or rec.org_id != actor.org_id:
        raise NotFound(f"conflict '{conflict_id}' not found")
    if rec.resolved_at is not None:
        return conflict_json(rec)
    written: dict[str, Any] | None = None
    if choice != "server":
        chosen = dict(rec.losing_values or {}) if choice == "mine" else dict(values or {})
        if not chosen:
            raise Invalid("no values to write")
        written = _write_values(session, actor, rec, chosen)
    rec.resolved_at = utcnow()
    rec.resolved_by = actor.user_id or actor.device_id
    rec.resolution = {"choice": choice, "row": written}
    session.flush()
    return conflict_json(rec)


def _write_values(
    session: Session, actor: Actor, rec: ConflictRecord, chosen: dict[str, Any]
) -> dict[str, Any]:
    spec = spec_for(rec.entity)
    row = writes.load(session, spec, actor.org_id, rec.entity_id, for_update=True)
    columns = sa_inspect(spec.model).columns
    stored = {k: v for k, v in chosen.items() if k in columns}
    data, hashed = write_args(spec, stored)
    # Secrets can only come back as hashes from the system actor (a sync rule of the
    # write path); a person resolving a conflict re-enters a PIN instead.
    hashed_arg = hashed if actor.role == writes.SYSTEM else None
    if row is None:
        row = writes.create(
            session, actor=actor, entity=spec.name, data=data, id=rec.entity_id,
            hashed_secrets=hashed_arg,
        )  # fmt: skip
    elif row.deleted_at is not None:
        raise Conflict(
            f"{spec.name} '{rec.entity_id}' is deleted; deleted rows are not brought back "
            "by resolving a conflict (create a new one)",
            current=row,
        )
    else:
        row = writes.update(
            session, actor=actor, entity=spec.name, id=rec.entity_id, data=data,
            hashed_secrets=hashed_arg,
        )  # fmt: skip
    return row_to_json(row)
