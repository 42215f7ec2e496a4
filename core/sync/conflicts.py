"""Sync pieces both sides share: turning an operation's stored fields back into
write-path input, and listing/resolving conflict records. (The messages themselves and
the schema version are in ``core.sync.wire``.)

The central push merge lives in ``central.push`` and the site-side apply of what comes
back (pulled rows, push answers) in ``sync_agent.inbound``; both write only through
``core.writes`` (central) or the documented no-outbox apply (site). Nothing here knows
about HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import writes
from core.clock import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.models import ConflictRecord
from core.registry import EntitySpec, spec_for
from core.serial import row_to_json

# Re-exported for callers that predate the wire module; the definitions live there.
from core.sync.wire import MIN_SCHEMA_VERSION, SCHEMA_HEADER, SCHEMA_VERSION
from core.writes import Actor

__all__ = ["MIN_SCHEMA_VERSION", "SCHEMA_HEADER", "SCHEMA_VERSION"]

# Reserved key of ``field_versions`` on the central server: {str(version): device_id} of
# the device whose op produced that version (only versions some field still points at).
# A device's later op does not conflict with a field its own earlier op changed: it was
# made after that op, on the same site, so it knew of it.
WRITERS_KEY = "~by"

CHOICES = ("server", "mine", "values", "rename", "merge", "discard")
# A unique conflict (a create whose value another live row holds) is settled by one of:
UNIQUE_CHOICES = ("rename", "merge", "discard", "server")


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
    if rec.kind == "unique" or choice in UNIQUE_CHOICES[:3]:
        written = _settle_unique(session, actor, rec, choice, values)
    elif choice != "server":
        chosen = dict(rec.losing_values or {}) if choice == "mine" else dict(values or {})
        if not chosen:
            raise Invalid("no values to write")
        written = _write_values(session, actor, rec, chosen)
    rec.resolved_at = utcnow()
    rec.resolved_by = actor.user_id or actor.device_id
    rec.resolution = {"choice": choice, "row": written}
    if rec.kind == "rejected":
        # The central server refused the op: its record exists only on the site, and
        # there is nothing there for the agent to close.
        rec.forwarded_at = rec.resolved_at
    session.flush()
    return conflict_json(rec)


def _settle_unique(
    session: Session,
    actor: Actor,
    rec: ConflictRecord,
    choice: str,
    values: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """``rename``: create the refused row with its values and ``values`` on top (a new
    unique value); ``merge``: write ``values`` (by default, the refused row's values for
    fields the holder has empty) into the row holding the value; ``discard`` or
    ``server``: keep nothing of it. Each is an ordinary write that syncs."""
    if rec.kind != "unique":
        raise Invalid(f"'{choice}' settles a unique conflict; this one is '{rec.kind}'")
    if choice not in UNIQUE_CHOICES:
        raise Invalid(f"a unique conflict is settled by {', '.join(UNIQUE_CHOICES)}")
    spec = spec_for(rec.entity)
    losing = dict(rec.losing_values or {})
    if choice == "rename":
        renamed = losing | dict(values or {})
        if all(renamed.get(f) == losing.get(f) for f in spec.unique if f in losing):
            raise Invalid(f"rename needs a new value for {', '.join(spec.unique)}")
        return _write_values(session, actor, rec, renamed)
    if choice == "merge":
        holder_id = str((rec.winning_values or {}).get("id") or "")
        holder = writes.load(session, spec, actor.org_id, holder_id, for_update=True)
        if holder is None or holder.deleted_at is not None:
            raise Conflict(f"{spec.name} '{holder_id}' holding the value is gone", current=holder)
        if values:
            chosen = dict(values)
        else:
            current = row_to_json(holder)
            chosen = {k: v for k, v in losing.items()
                      if k in current and current[k] is None and v is not None}  # fmt: skip
        chosen = {k: v for k, v in chosen.items() if k not in spec.unique}
        if not chosen:
            return row_to_json(holder)
        target = ConflictRecord(entity=rec.entity, entity_id=holder_id)
        return _write_values(session, actor, target, chosen)
    return None


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
