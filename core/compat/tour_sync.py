"""The tour app's offline sync: changes since a cursor, its queue applied exactly once,
and the user's choice on conflicts.

- The cursor (the plan's ``timestamp``) is the audit log's sequence number: every
  write of every entry point appends one audit entry in its transaction, and SQLite
  commits one writer at a time, so "entries after N" never skips a change (a clock
  would: two tablets' clocks disagree, and a transaction commits after it began).
- Flushed operations are remembered by their id with their answer (``applied_ops``,
  keyed ``tour:<id>``, with the user in ``device_id``) in the same transaction that
  applies them: a replay, after a lost answer, gets the same answer and writes nothing.
- An operation that carries the ``version`` it was made on, when the show has moved on
  since, is not applied: it is answered as a conflict with both sides, for
  ``resolve-conflicts`` to apply what the user chose. Without a version, the last
  write wins (as in the old app) and the audit log keeps what it replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import writes
from core.clock import utcnow
from core.compat import rows, tour
from core.errors import Conflict, DomainError, Invalid, NotFound
from core.legacy.coerce import to_id
from core.legacy.present import legacy_key, legacy_value
from core.models import AppliedOp, AuditEntry, Show, ShowCost
from core.registry import spec_for
from core.serial import converters
from core.writes import Actor

MAX_EVENTS = 1000
OP_PREFIX = "tour:"


def _bad(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", details=[{"field": field, "message": message}])


def events(
    session: Session, actor: Actor, *, since: int, limit: int = MAX_EVENTS
) -> dict[str, Any]:
    """Changes to shows (and their costs) after cursor ``since``, oldest first."""
    writes.check_permission(spec_for(tour.SHOWS), actor, "read")
    # The end is fixed first: an entry committed while this runs is after it and comes
    # with the next call, never skipped.
    end = (
        session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.org_id == actor.org_id))
        or 0
    )
    stmt = (
        select(AuditEntry)
        .where(
            AuditEntry.org_id == actor.org_id,
            AuditEntry.seq > since,
            AuditEntry.seq <= end,
            AuditEntry.entity.in_((tour.SHOWS, tour.COSTS)),
        )
        .order_by(AuditEntry.seq)
        .limit(limit + 1)
    )
    entries = list(session.scalars(stmt))
    more = len(entries) > limit
    entries = entries[:limit]
    cursor = entries[-1].seq if more else end
    show_ids = {_show_id(session, actor.org_id, e) for e in entries}
    shows = {
        s.id: s
        for s in session.scalars(
            select(Show).where(Show.org_id == actor.org_id, Show.id.in_(show_ids - {None}))
        )
    }
    live = [s for s in shows.values() if s.deleted_at is None]
    current = {s["id"]: s for s in tour.shows_json(session, actor, live)}
    out = []
    for e in entries:
        sid = _show_id(session, actor.org_id, e)
        is_show = e.entity == tour.SHOWS
        kind = e.kind if is_show else "update"  # a cost change changes its show
        out.append(
            {
                "id": e.seq,
                "type": kind,
                "resourceType": "show",
                "resourceId": sid,
                "version": e.version if is_show else None,
                "changes": _changes(e) if is_show else {},
                "data": current.get(sid) if sid else None,
                "userId": e.actor_id,
                "deviceId": e.device_id,
                "createdAt": legacy_value(e.at),
            }
        )
    return {"events": out, "timestamp": cursor}


def _show_id(session: Session, org_id: str, entry: AuditEntry) -> str | None:
    if entry.entity == tour.SHOWS:
        return entry.entity_id
    cost = session.get(ShowCost, (org_id, entry.entity_id))
    return cost.show_id if cost is not None else None


def _changes(entry: AuditEntry) -> dict[str, Any]:
    """The audit entry's {field: [before, after]} in the app's names and values."""
    spec = spec_for(tour.SHOWS)
    conv = converters(Show)
    out = {}
    for k, v in (entry.changes or {}).items():
        if not (isinstance(v, list) and len(v) == 2) or k not in conv:
            continue
        try:
            before, after = (legacy_value(conv[k](x)) for x in v)
        except (TypeError, ValueError):  # a masked or odd value: as recorded
            before, after = v
        out[legacy_key(spec, k)] = {"before": before, "after": after}
    return out


def _op_fields(op: Mapping[str, Any], index: int) -> tuple[str, str, str | None, dict[str, Any]]:
    op_id = to_id(op.get("id")) if isinstance(op.get("id"), str | int) else None
    if not op_id or len(op_id) > 64 - len(OP_PREFIX):
        raise _bad(f"operations.{index}.id", "each operation needs an id (at most 58 characters)")
    kind = op.get("type", op.get("op", op.get("operationType")))
    if kind not in ("create", "update", "delete"):
        raise _bad(f"operations.{index}.type", "expected create, update or delete")
    resource = op.get("resourceType", "show")
    if resource not in ("show", "shows"):
        raise _bad(f"operations.{index}.resourceType", "only show operations are queued")
    payload = op.get("payload", op.get("data")) or {}
    if not isinstance(payload, dict):
        raise _bad(f"operations.{index}.payload", "expected an object")
    rid = op.get("resourceId", payload.get("id"))
    resource_id = to_id(rid) if isinstance(rid, str | int) else None
    return op_id, kind, resource_id, dict(payload)


def flush(session: Session, actor: Actor, operations: list[Any]) -> dict[str, Any]:
    """Apply queued operations in order, each once; the answer of each is kept."""
    parsed = []
    for i, op in enumerate(operations):
        if not isinstance(op, dict):
            raise _bad(f"operations.{i}", "expected an object")
        parsed.append(_op_fields(op, i))
    results: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for op_id, kind, resource_id, payload in parsed:
        key = OP_PREFIX + op_id
        done = session.get(AppliedOp, (actor.org_id, key))
        if done is not None and done.device_id != actor.user_id:
            # Another user's operation id: neither applied nor their answer shown.
            answer = {"result": {"id": op_id, "resourceId": resource_id, "op": kind,
                                 "success": False, "status": 409,
                                 "error": {"status": 409, "code": "conflict",
                                           "message": "operation id already used"}}}  # fmt: skip
        elif done is not None:
            answer = done.result
        else:
            answer = _apply(session, actor, op_id, kind, resource_id, payload)
            session.add(
                AppliedOp(
                    org_id=actor.org_id,
                    op_id=key,
                    # Whose operation it was: a replay is answered to them only.
                    device_id=actor.user_id,
                    result=answer,
                    applied_at=utcnow(),
                )
            )
            session.flush()
        results.append(answer["result"])
        if answer.get("conflict"):
            conflicts.append(answer["conflict"])
    return {"results": results, "conflicts": conflicts}


def _apply(
    session: Session,
    actor: Actor,
    op_id: str,
    kind: str,
    resource_id: str | None,
    payload: dict[str, Any],
) -> dict[str, Any]:
    data = dict(payload)
    if resource_id and kind != "create":
        data["id"] = resource_id
    elif resource_id:
        data.setdefault("id", resource_id)
    result = tour.run_op(session, actor, kind, data)
    result = {"id": op_id, "resourceId": result.get("id") or resource_id, **result}
    result["id"] = op_id
    error = result.get("error") or {}
    if error.get("status") == 409 and isinstance(error.get("current"), dict):
        server = error["current"]
        local = {k: v for k, v in payload.items() if k not in ("version", "id")}
        conflict = {
            "id": op_id,
            "operationId": op_id,
            "type": kind,
            "resourceType": "show",
            "resourceId": resource_id,
            "local": local,
            "server": server,
            "serverVersion": server.get("version"),
            "fields": sorted(k for k, v in local.items() if server.get(k) != v),
        }
        result["conflict"] = True
        return {"result": result, "conflict": conflict}
    return {"result": result}


def resolve(session: Session, actor: Actor, conflicts: list[Any]) -> dict[str, Any]:
    """Apply the values the user chose for each conflict, all or nothing.

    Per conflict: ``resolution`` ``"server"`` keeps the stored show; ``"local"`` applies
    the queued values (``local``); anything else applies ``resolved`` (or ``data``),
    the merged values. The stored show was seen, so no version is checked."""
    spec = spec_for(tour.SHOWS)
    out = []
    for i, c in enumerate(conflicts):
        if not isinstance(c, dict):
            raise _bad(f"conflicts.{i}", "expected an object")
        rid = c.get("resourceId") or (c.get("server") or {}).get("id")
        show_id = to_id(rid) if isinstance(rid, str | int) else None
        if not show_id:
            raise _bad(f"conflicts.{i}.resourceId", "required")
        resolution = c.get("resolution", "merged")
        chosen = c.get("local") if resolution == "local" else c.get("resolved", c.get("data"))
        try:
            if resolution == "server":
                show = rows.get(session, actor, spec, show_id)
            elif c.get("type") == "delete" and resolution == "local":
                tour.delete_show(session, actor, show_id)
                show = None
            else:
                if not isinstance(chosen, dict):
                    raise _bad("resolved", "the chosen values (an object) are required")
                values = {k: v for k, v in chosen.items() if k not in ("id", "version")}
                show = tour.update_show(session, actor, show_id, values)
        except NotFound:
            raise
        except DomainError as exc:
            raise _index(exc, i) from None
        item = {**c, "resolution": resolution}
        item["show"] = tour.show_json(session, actor, show) if show is not None else None
        out.append(item)
    return {"resolved": out}


def _index(exc: DomainError, i: int) -> DomainError:
    if isinstance(exc.details, list):
        exc.details = [
            {**d, "field": f"conflicts.{i}.{d.get('field', '')}"} if isinstance(d, dict) else d
            for d in exc.details
        ]
    if isinstance(exc, Conflict):
        exc.current = None
    return exc
