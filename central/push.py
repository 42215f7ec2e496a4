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

Every change goes through ``core.writes`` (validation, references, audit, the
feed recorder); nothing here writes rows by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from central.enroll import check_device_of
from central.feed import FeedRecorder, written_entries
from core import writes
from core.clock import utcnow, uuid7
from core.db import Store
from core.errors import Conflict, DomainError, Invalid, RuleBroken
from core.models import AppliedOp, ConflictRecord
from core.registry import EntitySpec, registry
from core.rowload import insert_rows
from core.rules import SYNC, rule_reason
from core.serial import row_to_json
from core.sync import reasons, wire
from core.sync.conflicts import WRITERS_KEY, conflict_json, write_args
from core.sync.unit import unit_of
from core.writes import Actor

MAX_BATCH = wire.MAX_PUSH_OPS
# The device's lock, its organisation's modules and the device itself (known, not
# revoked, of the token's organisation) in the push's first statement. Not the ops
# already applied: the statement's snapshot is taken before it waits for the lock, and
# a push of the same device that held it would not be seen (applied twice).
_LOCK_AND_MODULES = text(
    "SELECT o.id IS NOT NULL, o.modules, dv.org_id, dv.revoked_at "
    "FROM (SELECT pg_advisory_xact_lock(hashtext(:d))) AS locked "
    "LEFT JOIN organisations o ON o.id = :org "
    "LEFT JOIN devices dv ON dv.id = :d"
)


@dataclass(frozen=True)
class DeviceCtx:
    org_id: str
    device_id: str


class Rejected(Exception):
    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


def push_batch(
    store: Store,
    ctx: DeviceCtx,
    ops: Sequence[wire.Op],
    *,
    prelude: Callable[[Session], None] | None = None,
    written: list[wire.FeedEntry] | None = None,
) -> list[dict[str, Any]]:
    """Apply ``ops`` in order in one transaction and return one result per op (a
    ``wire.OpResult`` as JSON: what is stored in ``applied_ops`` and answered again).

    ``prelude`` runs first in that transaction (the sync route checks the device and
    the epoch there); what it raises refuses the whole push, with nothing written.
    ``written`` receives the feed entries the push committed.

    The ops' shape was checked against ``wire.Op`` by whoever parsed them; what is
    left to refuse per op is what depends on this organisation (entity, module, row)
    and the write path's rules.

    The fast path applies ops without a savepoint each: the write path and the merge
    refuse an op (validation, permission, missing row) before they change anything, so
    a refused op leaves nothing behind. Should the database itself fail mid-op (a
    constraint the checks did not foresee), the transaction is rolled back and the batch
    is applied again with a savepoint per op, so one bad op cannot sink the others.
    """
    if len(ops) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} ops per push")
    try:
        return _push(store, ctx, ops, prelude, written, savepoints=False)
    except DBAPIError:
        return _push(store, ctx, ops, prelude, written, savepoints=True)


def _push(
    store: Store,
    ctx: DeviceCtx,
    ops: Sequence[wire.Op],
    prelude: Callable[[Session], None] | None,
    written: list[wire.FeedEntry] | None,
    *,
    savepoints: bool,
) -> list[dict[str, Any]]:
    with store.write() as session:
        # One push per device at a time: its ops then apply in outbox order, and a retry
        # racing the original waits for it and finds its answers instead of re-applying.
        # With the lock, the organisation's modules: what the write path's module check
        # reads (a statement of its own was a round trip and an ORM load per push).
        known_org, listed, *device = session.execute(
            _LOCK_AND_MODULES, {"d": ctx.device_id, "org": ctx.org_id}
        ).one()
        check_device_of((device[0], device[1]), ctx.org_id)
        modules = set(listed or ())
        unit_of(session).org_modules[ctx.org_id] = frozenset(modules) if known_org else None
        if prelude is not None:
            prelude(session)
        ids = [op.op_id for op in ops]
        known = {
            op_id: result
            for op_id, result in session.execute(
                select(AppliedOp.op_id, AppliedOp.result).where(
                    AppliedOp.org_id == ctx.org_id, AppliedOp.op_id.in_(set(ids))
                )
            )
        }
        _lock_rows(session, ctx.org_id, [op for op, i in zip(ops, ids, strict=True)
                                         if i not in known])  # fmt: skip
        recorder = store.recorder
        # The central store records into the change feed (central.context).
        assert isinstance(recorder, FeedRecorder)
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
                savepoint = session.begin_nested() if savepoints else None
                try:
                    result = _apply(session, ctx, modules, op).model_dump(mode="json")
                    if savepoint is not None:
                        session.flush()  # a unique index refuses here, inside the savepoint
                        savepoint.commit()
                except RuleBroken as exc:
                    # A rule of the work refused it: nothing of it is applied (rules run
                    # before the write path changes anything; with a savepoint, its
                    # rollback drops what the unit of work collected), and the refusal
                    # is a conflict record people see on both sides.
                    if savepoint is not None:
                        savepoint.rollback()
                    result = _rule_conflict(session, ctx, op, exc).model_dump(mode="json")
                except (Rejected, DomainError) as exc:
                    # Without a savepoint nothing was written (see push_batch); with one,
                    # its rollback also drops what the unit of work collected for it.
                    if savepoint is not None:
                        savepoint.rollback()
                    result = _rejected(session, ctx, op, exc).model_dump(mode="json")
                except DBAPIError as exc:
                    if savepoint is None:
                        raise  # start again with savepoints (see push_batch)
                    savepoint.rollback()
                    # A value another push took meanwhile (it committed while this insert
                    # waited on the unique index): a unique conflict like any other.
                    unique = _unique_clash(session, ctx, modules, op)
                    if unique is not None:
                        result = unique.model_dump(mode="json")
                    else:
                        reason = Rejected("database", f"refused by the database: {exc.orig}")
                        result = _rejected(session, ctx, op, reason).model_dump(mode="json")
                known[op_id] = result
                fresh.append(
                    {"org_id": ctx.org_id, "op_id": op_id, "device_id": ctx.device_id,
                     "result": result, "applied_at": now}
                )  # fmt: skip
                results.append(result)
                if n % 500 == 499:
                    session.flush()
        session.flush()
        insert_rows(session, AppliedOp, fresh)
        recorder.finalize(session)
    if written is not None:
        written.extend(written_entries(session))  # committed
    return results


def _lock_rows(session: Session, org_id: str, ops: list[wire.Op]) -> None:
    """Load and lock the batch's rows in a few statements; the per-op loads then hit
    the session."""
    by_entity: dict[str, set[str]] = {}
    for op in ops:
        by_entity.setdefault(op.entity, set()).add(op.entity_id)
    reg = registry()
    for entity, ids in sorted(by_entity.items()):
        spec = reg.get(entity)
        if spec is not None:
            writes.load_many(session, spec.model, org_id, ids, for_update=True)


def _rejected(session: Session, ctx: DeviceCtx, op: wire.Op, exc: Exception) -> wire.RejectedResult:
    if isinstance(exc, Rejected):
        code, message, details = exc.code, exc.message, exc.details
    else:
        assert isinstance(exc, DomainError)
        code, message, details = exc.code, exc.message, exc.details
    reason = wire.Reason(code=code, message=message, details=_plain(details))
    spec = registry().get(op.entity)
    # The row as it stands here, so the site can put its copy back (convergence).
    row = session.get(spec.model, (ctx.org_id, op.entity_id)) if spec is not None else None
    if row is None:
        return wire.RejectedResult(op_id=op.op_id, reason=reason)
    return wire.RejectedResult(
        op_id=op.op_id, reason=reason, row=row_to_json(row), version=row.version
    )


def _rule_conflict(
    session: Session, ctx: DeviceCtx, op: wire.Op, exc: RuleBroken
) -> wire.ConflictResult:
    spec = registry()[op.entity]
    fields = {k: v for k, v in op.fields.items() if k in spec.model.__table__.c}
    rec = _conflict(
        session, ctx, spec, op.entity_id, op.op_id, kind="rule", rule=None,
        losing=fields, winning={}, reason=rule_reason(exc),
    )  # fmt: skip
    row = session.get(spec.model, (ctx.org_id, op.entity_id))
    params = {k: _plain(v) for k, v in exc.params.items()}
    return wire.ConflictResult(
        op_id=op.op_id,
        version=row.version if row is not None else 0,
        conflict_id=rec.id,
        conflict=wire.ConflictInfo.model_validate(conflict_json(rec)),
        row=row_to_json(row) if row is not None else None,
        reason=wire.RuleReason(code=exc.code, params=params, details=_plain(exc.details)),
    )


def _plain(details: Any) -> Any:
    return details if isinstance(details, list | dict | str | int | float | None) else str(details)


def _entity(op: wire.Op, modules: set[str]) -> EntitySpec:
    """The op's entity, if this organisation has it (its shape is already valid)."""
    spec = registry().get(op.entity)
    if spec is None:
        raise Rejected("invalid", f"unknown entity '{op.entity}'")
    if spec.module != "core" and spec.module not in modules:
        raise Rejected("module_disabled", f"module {spec.module!r} is not enabled")
    return spec


Result = wire.Applied | wire.Merged | wire.ConflictResult


def _apply(session: Session, ctx: DeviceCtx, modules: set[str], op: wire.Op) -> Result:
    spec = _entity(op, modules)
    actor = Actor(
        org_id=ctx.org_id, user_id=op.made_by, role=writes.SYSTEM, device_id=ctx.device_id
    )
    kind, entity_id, base, op_id = op.kind, op.entity_id, op.base_version, op.op_id
    fields = dict(op.fields)
    row = writes.load(session, spec, ctx.org_id, entity_id, for_update=True)
    if kind == "create" and row is None:
        clash = _taken(session, spec, ctx.org_id, entity_id, fields)
        if clash is not None:
            return _unique_conflict(session, ctx, spec, op, clash)
        data, hashed = write_args(spec, fields)
        try:
            row = writes.create(
                session, actor=actor, entity=spec.name, data=data, id=entity_id, op_id=op_id,
                hashed_secrets=hashed or None, origin=SYNC,
            )  # fmt: skip
        except Conflict:
            # Taken by a push that committed after the look above (the write path's own
            # check saw it, before writing anything).
            clash = _taken(session, spec, ctx.org_id, entity_id, fields)
            if clash is None:
                raise
            return _unique_conflict(session, ctx, spec, op, clash)
        return wire.Applied(op_id=op_id, version=row.version)
    if row is None:
        raise Rejected("not_found", f"{spec.name} '{entity_id}' does not exist here")
    if row.deleted_at is not None:
        if kind == "delete":
            return wire.Applied(op_id=op_id, version=row.version)
        lost = {k: v for k, v in fields.items() if k in spec.model.__table__.c}
        conflict = _conflict(
            session, ctx, spec, entity_id, op_id, kind="deleted", rule=None,
            losing=lost, winning={},
            reason=reasons.encode(reasons.DELETED_BEFORE_EDIT),
        )  # fmt: skip
        return _conflict_result(conflict, row)
    if kind == "delete":
        return _delete(session, ctx, spec, actor, row, base, op_id)
    # An update, or a create of an id that exists (only base 0 is known of it).
    return _update(session, ctx, spec, actor, row, 0 if kind == "create" else base, fields, op_id)


def _taken(
    session: Session, spec: EntitySpec, org_id: str, entity_id: str, fields: dict[str, Any]
) -> tuple[str, Any] | None:
    """(field, live row) holding one of the create's unique values already, if any: made
    earlier in this batch (not flushed yet) or committed by anyone."""
    model = spec.model
    made = unit_of(session).made_here
    for fname in spec.unique:
        value = fields.get(fname)
        if value is None:
            continue
        for r in made.get(("uq", spec.name, org_id, fname, value), ()):
            if r.id != entity_id and r.deleted_at is None and getattr(r, fname) == value:
                return fname, r
        row = session.scalars(
            select(model).where(
                model.org_id == org_id, getattr(model, fname) == value,
                model.deleted_at.is_(None), model.id != entity_id,
            ).limit(1)
        ).first()  # fmt: skip
        if row is not None:
            return fname, row
    return None


def _unique_clash(
    session: Session, ctx: DeviceCtx, modules: set[str], op: wire.Op
) -> wire.ConflictResult | None:
    """After the database refused ``op``: a unique conflict if it was a create whose
    value is now taken, else None."""
    if op.kind != "create":
        return None
    spec = registry().get(op.entity)
    if spec is None or not spec.unique:
        return None
    clash = _taken(session, spec, ctx.org_id, op.entity_id, dict(op.fields))
    return None if clash is None else _unique_conflict(session, ctx, spec, op, clash)


def _unique_conflict(
    session: Session, ctx: DeviceCtx, spec: EntitySpec, op: wire.Op, clash: tuple[str, Any]
) -> wire.ConflictResult:
    """The second create of a taken value is not applied (never two live rows): its
    values wait in a conflict record for a person to rename it, merge it into the row
    that has the value, or discard it. The answer carries that row."""
    fname, holder = clash
    conflict = _conflict(
        session, ctx, spec, op.entity_id, op.op_id, kind="unique", rule=None,
        losing=dict(op.fields), winning={"id": holder.id, fname: getattr(holder, fname)},
        reason=reasons.encode(reasons.VALUE_TAKEN, field=fname, holder=holder.id),
    )  # fmt: skip
    return _conflict_result(conflict, holder)


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
) -> Result:
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
            check=False, hashed_secrets=hashed or None, origin=SYNC,
        )  # fmt: skip
    if contested:
        conflict = _conflict(
            session, ctx, spec, row.id, op_id, kind="field", rule=rule,
            losing=losing, winning=winning,
            reason=reasons.encode(
                reasons.KEPT_CENTRAL if rule == "central_wins" else reasons.KEPT_LATER, base=base
            ),
        )  # fmt: skip
        return _conflict_result(conflict, row)
    if base < before_version:
        return wire.Merged(op_id=op_id, version=row.version)
    return wire.Applied(op_id=op_id, version=row.version)


def _delete(
    session: Session,
    ctx: DeviceCtx,
    spec: EntitySpec,
    actor: Actor,
    row: Any,
    base: int,
    op_id: str,
) -> Result:
    newer = _newer_elsewhere(row, base, ctx.device_id)
    unseen = [n for n in spec.stored_fields if n in spec.model.__table__.c and newer(n)]
    unseen_values = row_to_json(row, tuple(unseen))
    row = writes.delete(
        session, actor=actor, entity=spec.name, id=row.id, op_id=op_id, check=False, origin=SYNC
    )
    if not unseen:
        return wire.Applied(op_id=op_id, version=row.version)
    # The delete wins, but edits its maker never saw went with it: show them to a person.
    conflict = _conflict(
        session, ctx, spec, row.id, op_id, kind="deleted", rule="delete_wins",
        losing=unseen_values, winning={},
        reason=reasons.encode(reasons.DELETED_UNSEEN_EDITS, base=base),
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


def _conflict_result(rec: ConflictRecord, row: Any) -> wire.ConflictResult:
    return wire.ConflictResult(
        op_id=rec.op_id or "",
        version=row.version,
        conflict_id=rec.id,
        conflict=wire.ConflictInfo.model_validate(conflict_json(rec)),
        row=row_to_json(row),
    )
