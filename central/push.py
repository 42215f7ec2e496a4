"""Applying a batch of pushed operations on the central server.

One PostgreSQL transaction per batch. Each op is answered once and its answer kept in
``applied_ops``: the same op pushed again (a retry after a lost reply, a duplicated or
reordered batch) gets the stored answer and changes nothing (guarantee 2).

Merge (guarantee 6): an update carries the central version it was made on
(``base_version``). A field whose ``field_versions`` entry is not newer than that base
— or whose newer version this same device made — is applied. A field changed since by
someone else is a same-field conflict, settled by the entity's rule (``last_arrival``:
the arriving op wins; ``central_wins``: the central value stays) and the losing values
are kept in a conflict record. Ordering comes only from versions and arrival order, never
from the op's ``made_at`` clock (guarantee 10). Deleted rows stay deleted (guarantee 5).

Every change goes through ``core.services.writes`` (validation, references, audit, the
feed recorder); nothing here writes rows by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.clock import utcnow, uuid7
from core.db import Store
from core.errors import DomainError, Invalid
from core.models import AppliedOp, ConflictRecord, Organisation
from core.registry import EntitySpec, registry
from core.serial import row_to_json
from core.services import writes
from core.services.sync_apply import WRITERS_KEY, write_args
from core.services.writes import Actor

KINDS = ("create", "update", "delete")
MAX_BATCH = 5000


@dataclass(frozen=True)
class DeviceCtx:
    org_id: str
    device_id: str


class Rejected(Exception):
    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


def push_batch(store: Store, ctx: DeviceCtx, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply ``ops`` in order in one transaction and return one result per op.

    The fast path applies ops without a savepoint each: the write path and the merge
    refuse an op (validation, permission, missing row) before they change anything, so
    a refused op leaves nothing behind. Should the database itself fail mid-op (a
    constraint the checks did not foresee), the transaction is rolled back and the batch
    is applied again with a savepoint per op, so one bad op cannot sink the others.
    """
    if len(ops) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} ops per push")
    try:
        return _push(store, ctx, ops, savepoints=False)
    except DBAPIError:
        return _push(store, ctx, ops, savepoints=True)


def _push(
    store: Store, ctx: DeviceCtx, ops: list[dict[str, Any]], *, savepoints: bool
) -> list[dict[str, Any]]:
    with store.write() as session:
        # One push per device at a time: its ops then apply in outbox order, and a retry
        # racing the original waits for it and finds its answers instead of re-applying.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:d))"), {"d": ctx.device_id})
        ids = [str(op.get("op_id") or "") for op in ops]
        known = {
            op_id: result
            for op_id, result in session.execute(
                select(AppliedOp.op_id, AppliedOp.result).where(
                    AppliedOp.org_id == ctx.org_id, AppliedOp.op_id.in_(set(ids))
                )
            )
        }
        org = session.get(Organisation, ctx.org_id)
        modules = set(org.modules or ()) if org else set()
        _lock_rows(session, ctx.org_id, [op for op, i in zip(ops, ids, strict=True)
                                         if i not in known])  # fmt: skip
        recorder = store.recorder
        results: list[dict[str, Any]] = []
        fresh: list[dict[str, Any]] = []
        now = utcnow()
        # Lookups below find rows in the identity map; autoflush would re-scan every
        # object of the batch before each query (quadratic in the batch size).
        with session.no_autoflush:
            for n, (op_id, op) in enumerate(zip(ids, ops, strict=True)):
                if op_id in known:
                    results.append(known[op_id])
                    continue
                mark = recorder.mark(session)
                savepoint = session.begin_nested() if savepoints else None
                try:
                    result = _apply(session, ctx, modules, op)
                    if savepoint is not None:
                        savepoint.commit()
                except (Rejected, DomainError) as exc:
                    if savepoint is not None:
                        savepoint.rollback()
                    recorder.rollback_to(session, mark)
                    result = _rejected(session, ctx, op, exc)
                except DBAPIError as exc:
                    if savepoint is None:
                        raise  # start again with savepoints (see push_batch)
                    savepoint.rollback()
                    recorder.rollback_to(session, mark)
                    reason = Rejected("database", f"refused by the database: {exc.orig}")
                    result = _rejected(session, ctx, op, reason)
                result["op_id"] = op_id
                if op_id:
                    known[op_id] = result
                    fresh.append(
                        {"org_id": ctx.org_id, "op_id": op_id, "device_id": ctx.device_id,
                         "result": result, "applied_at": now}
                    )  # fmt: skip
                results.append(result)
                if n % 500 == 499:
                    session.flush()
        session.flush()
        if fresh:
            session.execute(insert(AppliedOp), fresh)
        recorder.finalize(session)
    return results


def _lock_rows(session: Session, org_id: str, ops: list[dict[str, Any]]) -> None:
    """Load and lock the batch's rows in a few statements (in id order, so two batches
    touching the same rows cannot deadlock); the per-op loads then hit the session."""
    by_entity: dict[str, set[str]] = {}
    for op in ops:
        entity, entity_id = op.get("entity"), op.get("entity_id")
        if isinstance(entity, str) and isinstance(entity_id, str):
            by_entity.setdefault(entity, set()).add(entity_id)
    reg = registry()
    for entity, id_set in sorted(by_entity.items()):
        spec = reg.get(entity)
        if spec is None:
            continue
        model = spec.model
        ordered = sorted(id_set)
        for i in range(0, len(ordered), 1000):
            chunk = ordered[i : i + 1000]
            rows = session.scalars(
                select(model)
                .where(model.org_id == org_id, model.id.in_(chunk))
                .order_by(model.id)
                .with_for_update()
            ).all()
            locked = session.info.setdefault("locked_rows", set())
            locked.update((model, (org_id, r.id)) for r in rows)
            # The identity map holds rows weakly: keep them, or each load queries again.
            session.info.setdefault("locked_objs", []).extend(rows)


def _rejected(session: Session, ctx: DeviceCtx, op: dict[str, Any], exc: Exception) -> dict:
    if isinstance(exc, Rejected):
        code, message, details = exc.code, exc.message, exc.details
    else:
        assert isinstance(exc, DomainError)
        code, message, details = exc.code, exc.message, exc.details
    result: dict[str, Any] = {
        "status": "rejected",
        "reason": {"code": code, "message": message, "details": _plain(details)},
        "row": None,
    }
    spec = registry().get(str(op.get("entity")))
    entity_id = op.get("entity_id")
    if spec is not None and isinstance(entity_id, str):
        # The row as it stands here, so the site can put its copy back (convergence).
        row = session.get(spec.model, (ctx.org_id, entity_id))
        if row is not None:
            result["row"] = row_to_json(row)
            result["version"] = row.version
    return result


def _plain(details: Any) -> Any:
    return details if isinstance(details, list | dict | str | int | float | None) else str(details)


def _check_shape(op: dict[str, Any], modules: set[str]) -> EntitySpec:
    if not op.get("op_id") or not isinstance(op.get("op_id"), str):
        raise Rejected("invalid", "op_id missing")
    spec = registry().get(str(op.get("entity")))
    if spec is None:
        raise Rejected("invalid", f"unknown entity '{op.get('entity')}'")
    if spec.module != "core" and spec.module not in modules:
        raise Rejected("forbidden", f"module '{spec.module}' is not enabled for this organisation")
    if op.get("kind") not in KINDS:
        raise Rejected("invalid", f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(op.get("entity_id"), str) or not op["entity_id"]:
        raise Rejected("invalid", "entity_id missing")
    if not isinstance(op.get("base_version", 0), int) or op.get("base_version", 0) < 0:
        raise Rejected("invalid", "base_version must be a non-negative integer")
    if not isinstance(op.get("fields") or {}, dict):
        raise Rejected("invalid", "fields must be an object")
    return spec


def _apply(session: Session, ctx: DeviceCtx, modules: set[str], op: dict[str, Any]) -> dict:
    spec = _check_shape(op, modules)
    actor = Actor(
        org_id=ctx.org_id, user_id=op.get("made_by"), role=writes.SYSTEM, device_id=ctx.device_id
    )
    kind, entity_id = op["kind"], op["entity_id"]
    base = int(op.get("base_version") or 0)
    fields = dict(op.get("fields") or {})
    op_id = op["op_id"]
    row = writes.load(session, spec, ctx.org_id, entity_id, for_update=True)
    if kind == "create" and row is None:
        data, hashed = write_args(spec, fields)
        row = writes.create(
            session, actor=actor, entity=spec.name, data=data, id=entity_id, op_id=op_id,
            hashed_secrets=hashed or None,
        )  # fmt: skip
        return {"status": "applied", "version": row.version}
    if row is None:
        raise Rejected("not_found", f"{spec.name} '{entity_id}' does not exist here")
    if row.deleted_at is not None:
        if kind == "delete":
            return {"status": "applied", "version": row.version}
        lost = {k: v for k, v in fields.items() if k in spec.model.__table__.c}
        conflict = _conflict(
            session, ctx, spec, entity_id, op_id, kind="deleted", rule=None,
            losing=lost, winning={},
            reason="the row was deleted before this edit arrived; the edit was not applied",
        )  # fmt: skip
        return _conflict_result(conflict, row)
    if kind == "delete":
        return _delete(session, ctx, spec, actor, row, base, op_id)
    # An update, or a create of an id that exists (only base 0 is known of it).
    return _update(session, ctx, spec, actor, row, 0 if kind == "create" else base, fields, op_id)


def _newer_elsewhere(row: Any, base: int, device_id: str) -> Any:
    fv = row.field_versions or {}
    writers = fv.get(WRITERS_KEY) or {}

    def newer(name: str) -> bool:
        v = int(fv.get(name, 0) or 0)
        return v > base and writers.get(str(v)) != device_id

    return newer


def _update(
    session: Session,
    ctx: DeviceCtx,
    spec: EntitySpec,
    actor: Actor,
    row: Any,
    base: int,
    fields: dict[str, Any],
    op_id: str,
) -> dict[str, Any]:
    newer = _newer_elsewhere(row, base, ctx.device_id)
    contested_names = [f for f in fields if newer(f)]
    current = row_to_json(row, tuple(n for n in contested_names if n in spec.model.__table__.c))
    # The same value on both sides is agreement, not a conflict.
    contested = {f: fields[f] for f in contested_names if current.get(f) != fields[f]}
    clean = {f: v for f, v in fields.items() if f not in contested_names}
    rule = spec.conflict_rule
    if rule == "central_wins":
        to_apply, losing, winning = clean, contested, {f: current.get(f) for f in contested}
    else:  # last_arrival: the op arriving now wins, the value it replaces is kept
        to_apply = clean | contested
        losing, winning = {f: current.get(f) for f in contested}, contested
    before_version = row.version
    if to_apply:
        data, hashed = write_args(spec, to_apply)
        row = writes.update(
            session, actor=actor, entity=spec.name, id=row.id, data=data, op_id=op_id,
            check=False, hashed_secrets=hashed or None,
        )  # fmt: skip
    if contested:
        conflict = _conflict(
            session, ctx, spec, row.id, op_id, kind="field", rule=rule,
            losing=losing, winning=winning,
            reason=f"changed on both sides since version {base}; {rule} decided",
        )  # fmt: skip
        return _conflict_result(conflict, row)
    status = "merged" if base < before_version else "applied"
    return {"status": status, "version": row.version}


def _delete(
    session: Session,
    ctx: DeviceCtx,
    spec: EntitySpec,
    actor: Actor,
    row: Any,
    base: int,
    op_id: str,
) -> dict[str, Any]:
    newer = _newer_elsewhere(row, base, ctx.device_id)
    unseen = [n for n in spec.stored_fields if n in spec.model.__table__.c and newer(n)]
    unseen_values = row_to_json(row, tuple(unseen))
    row = writes.delete(session, actor=actor, entity=spec.name, id=row.id, op_id=op_id, check=False)
    if not unseen:
        return {"status": "applied", "version": row.version}
    # The delete wins, but edits its maker never saw went with it: show them to a person.
    conflict = _conflict(
        session, ctx, spec, row.id, op_id, kind="deleted", rule="delete_wins",
        losing=unseen_values, winning={},
        reason=f"deleted by a device that had not seen the edits after version {base}",
    )  # fmt: skip
    return _conflict_result(conflict, row)


def _conflict(
    session: Session,
    ctx: DeviceCtx,
    spec: EntitySpec,
    entity_id: str,
    op_id: str,
    *,
    kind: str,
    rule: str | None,
    losing: dict[str, Any],
    winning: dict[str, Any],
    reason: str,
) -> ConflictRecord:
    rec = ConflictRecord(
        id=uuid7(),
        org_id=ctx.org_id,
        entity=spec.name,
        entity_id=entity_id,
        kind=kind,
        op_id=op_id,
        device_id=ctx.device_id,
        rule=rule,
        fields=sorted(losing),
        losing_values=losing,
        winning_values=winning,
        reason=reason,
        created_at=utcnow(),
    )
    session.add(rec)
    return rec


def _conflict_result(rec: ConflictRecord, row: Any) -> dict[str, Any]:
    from core.services.sync_apply import conflict_json

    return {
        "status": "conflict",
        "version": row.version,
        "conflict_id": rec.id,
        "conflict": conflict_json(rec),
        "row": row_to_json(row),
    }
