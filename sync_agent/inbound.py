"""What comes back from the central server, applied to the site's SQLite store: pulled
feed entries (``wire.FeedEntry``), the answers to pushed ops (``wire.OpResult``) and the
snapshot rows of a bootstrap. (The central server's side of a push is ``central.push``;
conflict records both sides share are ``core.sync.conflicts``.)

Pulled rows are written straight to the table — never through the outbox (no echo, no
loops: guarantee 7) — with an audit entry saying they came from the central server.

Outbox entry states (``OutboxEntry.status``):

- ``pending``: not answered by the central server yet. Re-applied on top of every
  pulled version of its row (rebase), so a local edit never disappears while it waits.
- ``acked``: its own change came back in the feed before the push reply (a lost or slow
  reply). No longer rebased (the pulled row contains it); still pushed again to fetch
  its stored answer — the central server answers an op once (guarantee 2).
- ``sent``: answered (applied/merged at version V) but the feed has not brought version
  V yet; rebased on older pulled versions so the edit does not flicker away.
- ``done``: answered and reflected in the local row.

Versions decide what is newer (a pulled row older than the local copy is ignored);
wall clocks never do (guarantee 10).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import writes
from core.clock import utcnow, uuid7
from core.db import in_batches, json_text
from core.models import AuditEntry, ConflictRecord, OutboxEntry, SyncState
from core.registry import EntitySpec, registry, spec_for
from core.serial import to_json, values_from_json
from core.sync import reasons, wire
from core.sync.notices import ChangeNotice
from core.sync.recorders import buffer_insert
from core.sync.unit import unit_of
from core.writes import Actor
from sync_agent import fastload

ACTIVE = ("pending", "acked", "sent")
MASK = "***"
CURSOR_KEY = "cursor"


# The agent's own keys are read and set on the session's connection with plain SQL:
# they are on the path of every pulled page and push answer, where each statement built
# through SQLAlchemy cost a few tenths of a millisecond of Python, several times that
# while the other site's agent in the same process held the GIL (docs/benchmarks.md,
# "Propagation, fourth pass"). Values are JSON text as the column's own type writes it
# (core.db.json_text). They read what is stored: no SyncState object is added through
# the ORM in a session these run in (core.site and the PIN state use their own).
_GET_KEY = "SELECT value FROM sync_state WHERE key = ?"
_GET_KEYS = "SELECT key, value FROM sync_state WHERE key IN ({})"
_SET_KEYS = (
    "INSERT INTO sync_state (key, value) VALUES {} "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


_ACTIVE_ROWS = "SELECT entity, entity_id FROM outbox WHERE status IN ({})".format(
    ", ".join(f"'{status}'" for status in ACTIVE)
)


def _value(stored: Any) -> Any:
    # A column declared JSON has numeric affinity in SQLite: the text of a number (a
    # cursor) is stored, and read back, as that number.
    return orjson.loads(stored) if isinstance(stored, str) else stored


def get_key(session: Session, key: str, default: Any = None) -> Any:
    found = session.connection().exec_driver_sql(_GET_KEY, (key,)).first()
    return default if found is None else _value(found[0])


def set_key(session: Session, key: str, value: Any) -> None:
    set_keys(session, {key: value})


def get_keys(session: Session, keys: Sequence[str]) -> dict[str, Any]:
    """Several keys' values in one statement (a key not set is left out): a pull reads
    three of them before each request."""
    keys = list(keys)
    sql = _GET_KEYS.format(", ".join("?" * len(keys)))
    return {k: _value(v) for k, v in session.connection().exec_driver_sql(sql, tuple(keys))}


def set_keys(session: Session, values: Mapping[str, Any]) -> None:
    """Set several keys in one statement (an upsert: every pulled page sets two, and a
    read of the rows and their update at the flush were two statements and ORM loads).
    A copy of a key's row the session holds is expired, so it reads the new value."""
    if not values:
        return
    params = tuple(x for k, v in values.items() for x in (k, json_text(v)))
    sql = _SET_KEYS.format(", ".join(["(?, ?)"] * len(values)))
    session.connection().exec_driver_sql(sql, params)
    for key in values:
        held = session.identity_map.get(session.identity_key(SyncState, key))
        if held is not None:
            session.expire(held, ["value"])


def active_rows(
    session: Session, among: Iterable[tuple[str, str]] | None = None
) -> set[tuple[str, str]]:
    """(entity, id) of rows with outbox entries that may need rebasing or acking; only
    those ``among`` the given keys when given (a push answer asks about its own rows,
    not the whole outbox)."""
    o = OutboxEntry
    if among is None:  # every pulled page asks this first: plain SQL, as the keys above
        session.flush()  # what the ORM's autoflush would have written first
        return {(e, i) for e, i in session.connection().exec_driver_sql(_ACTIVE_ROWS)}
    stmt = select(o.entity, o.entity_id).where(o.status.in_(ACTIVE))
    found: set[tuple[str, str]] = set()
    for batch in in_batches(set(among)):
        keys = set(batch)
        rows = session.execute(stmt.where(o.entity_id.in_({k[1] for k in keys})))
        found.update((e, r) for e, r in rows if (e, r) in keys)
    return found


def _lost_fields(op: OutboxEntry) -> set[str]:
    """Fields of an answered op that did not win at the central server."""
    res = op.result or {}
    conflict = res.get("conflict") or {}
    if res.get("status") == "conflict" and conflict.get("rule") == "central_wins":
        return set(conflict.get("fields") or ())
    return set()


def apply_row(
    session: Session,
    spec: EntitySpec,
    data: Mapping[str, Any],
    *,
    active: set[tuple[str, str]],
    force: bool = False,
    op_id: str | None = None,
    from_device: str | None = None,
    own_device: str | None = None,
    accept_older: bool = False,
) -> bool:
    """Make the local row equal to the central row ``data``, then rebase local edits.

    ``accept_older``: after a central restore, versions went back: the restored server
    numbers its versions anew and a version the site holds may stand for other content.
    The central row is then taken whenever its content differs from the local one
    (whatever the versions say), unless local edits of it still wait (they are rebased
    as always).

    Returns False when the local copy already has this version or a newer one.
    ``force`` re-applies the same version (after a conflict or rejection the local row
    may hold edits that lost and must be put back to the central state)."""
    model = spec.model
    key = (str(data["org_id"]), str(data["id"]))
    server_version = int(data["version"])
    # Rows added earlier in this transaction are pending, not yet in the identity map
    # (lookups run without autoflush): find them here.
    made = unit_of(session).made_here
    local = made.get(("pulled", model, key)) or session.get(model, key)
    if local is not None and accept_older and local.sync_version >= server_version:
        # A verify repair (``force``) takes the central row even where this site's
        # version is higher: after a restore the numbers say nothing.
        if (spec.name, key[1]) in active or (not force and _same_content(spec, local, data)):
            return False
    elif local is not None:
        if local.sync_version > server_version:
            return False
        if local.sync_version == server_version and not force:
            # Still ack our own echo (the local row already has this version).
            _settle_ops(session, spec.name, key[1], server_version, op_id, from_device,
                        own_device, active, local=None)  # fmt: skip
            return False
    values = values_from_json(model, data)
    values.pop("version", None)
    values["sync_version"] = server_version
    if spec.unique and values.get("deleted_at") is None:
        _park_holders(session, spec, key, values)
    before: dict[str, Any] = {}
    new_here = local is None
    if local is None:
        local = model(version=1, **values)
        session.add(local)
        made[("pulled", model, key)] = local
        changes = {k: [None, to_json(v)] for k, v in values.items()}
    else:
        for k, v in values.items():
            old = getattr(local, k)
            if old != v:
                before[k] = old
                setattr(local, k, v)
        local.version += 1
        changes = {k: [to_json(b), to_json(getattr(local, k))] for k, b in before.items()}
    _settle_ops(session, spec.name, key[1], server_version, op_id, from_device, own_device,
                active, local=local, tombstone=data.get("deleted_at") is not None)  # fmt: skip
    # Looked at once the whole page is in (after_pull): rules, derived totals.
    unit_of(session).pulled.append((spec, local, None if new_here else before, op_id))
    secret = set(spec.secret_inputs.values())
    # Buffered like the write path's entries (same columns: one insert for all of them
    # at the flush), not an ORM object through the unit of work.
    buffer_insert(session, AuditEntry, {
        "org_id": key[0], "at": utcnow(), "actor_id": data.get("updated_by"),
        "device_id": from_device, "ip_address": None, "user_agent": None,
        "entity": spec.name, "entity_id": key[1], "kind": "sync", "op_id": op_id,
        "version": local.version,
        "changes": {k: ([MASK, MASK] if k in secret else v) for k, v in changes.items()
                    if k not in ("field_versions", "sync_version", "updated_at")},
    })  # fmt: skip
    unit_of(session).notice(
        ChangeNotice(entity=spec.name, id=key[1], kind="sync", version=local.version,
                     org_id=key[0], source="sync")
    )  # fmt: skip
    return True


def _same_content(spec: EntitySpec, local: Any, data: Mapping[str, Any]) -> bool:
    values = values_from_json(spec.model, data)
    names = [*spec.stored_fields, "deleted_at"]
    return all(getattr(local, n) == values.get(n) for n in names if n in values)


def _park_holders(
    session: Session, spec: EntitySpec, key: tuple[str, str], values: Mapping[str, Any]
) -> None:
    """Make room for a central row's unique values (the database refuses two live rows
    with one value). A local row still holding one is either this site's own create the
    central server has not taken yet — it will come back as a ``unique`` conflict, its
    values kept there — or a row whose central change has not arrived; either way it is
    set aside as a local tombstone (no outbox entry). A later central version of it
    brings it back as the central server has it."""
    model = spec.model
    for fname in spec.unique:
        value = values.get(fname)
        if value is None:
            continue
        holders = session.scalars(
            select(model).where(
                model.org_id == key[0], getattr(model, fname) == value,
                model.deleted_at.is_(None), model.id != key[1],
            )
        ).all()  # fmt: skip
        for other in holders:
            # The identity map may hold a newer, not yet flushed state of it.
            if other.deleted_at is None and getattr(other, fname) == value:
                other.deleted_at = utcnow()
                other.version += 1
                unit_of(session).notice(
                    ChangeNotice(entity=spec.name, id=other.id, kind="sync",
                                 version=other.version, org_id=key[0], source="sync")
                )  # fmt: skip
        if holders:
            session.flush()  # the tombstones go first, then the row taking the value


def _settle_ops(
    session: Session,
    entity: str,
    entity_id: str,
    server_version: int,
    op_id: str | None,
    from_device: str | None,
    own_device: str | None,
    active: set[tuple[str, str]],
    *,
    local: Any,
    tombstone: bool = False,
) -> None:
    """Ack our own echo, retire answered ops the row now reflects, rebase the rest."""
    if (entity, entity_id) not in active:
        return
    ops = session.scalars(
        select(OutboxEntry)
        .where(OutboxEntry.entity == entity, OutboxEntry.entity_id == entity_id,
               OutboxEntry.status.in_(ACTIVE))
        .order_by(OutboxEntry.seq)
    ).all()  # fmt: skip
    model = spec_for(entity).model
    for op in ops:
        if op.status not in ACTIVE:
            continue  # settled earlier in this (not yet flushed) transaction
        if op.status == "pending" and op_id and op.op_id == op_id and from_device == own_device:
            op.status = "acked"
            continue
        if op.status == "sent" and int((op.result or {}).get("version") or 0) <= server_version:
            op.status = "done"
            op.done_at = utcnow()
            continue
        if op.status == "acked" or local is None:
            continue
        # pending, or sent with a version newer than this pulled one: keep it on top.
        if op.kind == "delete":
            if local.deleted_at is None:
                local.deleted_at = op.created_at
            continue
        if tombstone:
            continue  # an edit of a row deleted centrally: it will come back as a conflict
        lost = _lost_fields(op)
        for k, v in values_from_json(model, op.fields or {}).items():
            if k not in lost:
                setattr(local, k, v)


def apply_entries(
    session: Session,
    entries: Iterable[wire.FeedEntry],
    *,
    own_device: str | None,
    accept_older: bool = False,
) -> int:
    entries = list(entries)
    active = active_rows(session)
    reg = registry()
    applied = 0
    by_entity: dict[str, set[tuple[str, str]]] = {}
    for e in entries:
        if e.entity in reg:
            by_entity.setdefault(e.entity, set()).add((str(e.row["org_id"]), e.id))
    for entity, keys in by_entity.items():
        _load_keys(session, reg[entity].model, keys)
    with session.no_autoflush:  # rows are in the session now; see _preload
        for e in entries:
            spec = reg.get(e.entity)
            if spec is None:
                continue  # an entity this version does not know; the schema check stops it
            if apply_row(session, spec, e.row, active=active, op_id=e.op_id,
                         from_device=e.device_id, own_device=own_device,
                         accept_older=accept_older):  # fmt: skip
                applied += 1
    session.flush()
    # Only rows with an active op can have one waiting for its answer ("sent" is set by
    # the push alone): a page of other sites' changes reads the outbox once, not twice.
    settle_answered(session, {(e.entity, e.id) for e in entries} & active)
    after_pull(session, own_device=own_device)
    return applied


def after_pull(session: Session, *, own_device: str | None, check: bool = True) -> None:
    """What the write path does after a change, for rows that came from the central
    server (they are written directly, see the module docstring): a job's totals are the
    sums of this store's production reports (the central row does not hold reports this
    site has not sent yet), and a pulled row that contradicts this site's own unsent
    changes (a second job running on a machine, a machine running with an open stop) is
    kept as a conflict record with the rule's code, never refused and never silent."""
    from core.factory.rules import recompute_jobs
    from core.rules import check_pulled, rule_reason

    unit = unit_of(session)
    pulled, unit.pulled = unit.pulled, []
    jobs: dict[str, set[str]] = {}
    for spec, row, _before, _op in pulled:
        if spec.name == "jobs":
            jobs.setdefault(row.org_id, set()).add(row.id)
        elif spec.name == "production_reports":
            jobs.setdefault(row.org_id, set()).add(row.job_id)
    for org_id, ids in jobs.items():
        recompute_jobs(session, org_id, ids)
    if not check:
        return
    for spec, row, before, op_id in pulled:
        if not spec.rules.invariants or row.deleted_at is not None:
            continue
        actor = Actor.system(row.org_id, own_device)
        broken = check_pulled(
            session, actor, spec.name, spec.rules, row, before, spec.stored_fields
        )
        if broken is None:
            continue
        changed = sorted(before) if before is not None else sorted(spec.stored_fields)
        session.add(
            ConflictRecord(
                id=uuid7(), org_id=row.org_id, entity=spec.name, entity_id=row.id,
                kind="rule", op_id=op_id, device_id=own_device, rule=None, fields=changed,
                losing_values={}, winning_values={k: to_json(getattr(row, k)) for k in changed},
                reason=rule_reason(broken), created_at=utcnow(),
            )
        )  # fmt: skip


_SETTLED = ("applied", "merged")


def record_answers(
    session: Session,
    seqs: Sequence[int],
    results: Sequence[Mapping[str, Any]],
    *,
    own_device: str | None,
) -> dict[str, int]:
    """Store a push batch's answers (``results[i]`` answers outbox entry ``seqs[i]``).

    Most answers say the op was taken ("applied", "merged"): for those only the op's
    status and result change, so they are recorded for the whole batch with one read of
    the rows' sync versions per entity and one ``UPDATE`` statement (executemany),
    without loading an outbox entry or a row as an ORM object. The rest (conflicts,
    refusals: the local row may go back to the central state) go through
    ``record_results``, one by one. Entries the puller retired meanwhile keep their
    state; each counts an attempt."""
    answer = dict(zip(seqs, results, strict=True))
    o = OutboxEntry
    light = session.execute(
        select(o.seq, o.status, o.org_id, o.entity, o.entity_id)
        .where(o.seq.in_(list(answer)))
        .order_by(o.seq)
    ).all()
    quick = [r for r in light if answer[r.seq].get("status") in _SETTLED]
    slow = [r.seq for r in light if answer[r.seq].get("status") not in _SETTLED]
    counts: dict[str, int] = {}
    now = utcnow()
    versions = _sync_versions(session, [(r.org_id, r.entity, r.entity_id) for r in quick])
    params = []
    for r in quick:
        res = answer[r.seq]
        status = str(res["status"])
        counts[status] = counts.get(status, 0) + 1
        seen = versions.get((r.org_id, r.entity, r.entity_id), -1) >= int(res.get("version") or 0)
        done = r.status == "acked" or seen
        params.append(
            {"b_seq": r.seq, "b_status": "done" if done else "sent",
             "b_done": now if done else None, "b_result": dict(res)}
        )  # fmt: skip
    if params:
        table: Any = o.__table__
        session.execute(
            update(table)
            .where(table.c.seq == bindparam("b_seq"))
            .values(
                status=bindparam("b_status"), done_at=bindparam("b_done"),
                result=bindparam("b_result"), attempts=table.c.attempts + 1,
            ),
            params,
        )  # fmt: skip
    if slow:
        ops = session.scalars(select(o).where(o.seq.in_(slow)).order_by(o.seq)).all()
        for op in ops:
            op.attempts = (op.attempts or 0) + 1
        more = record_results(session, ops, [answer[op.seq] for op in ops], own_device=own_device)
        for k, v in more.items():
            counts[k] = counts.get(k, 0) + v
    if quick:
        # Versions read above still hold, except for rows the slow path may have put
        # back to the central state.
        slow_seqs = set(slow)
        moved = {(r.org_id, r.entity, r.entity_id) for r in light if r.seq in slow_seqs}
        still = {k: v for k, v in versions.items() if k not in moved}
        settle_answered(session, {(r.entity, r.entity_id) for r in quick}, still)
    return counts


def _sync_versions(
    session: Session, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], int]:
    """(org, entity, id) -> the local row's sync version, a few queries per entity."""
    by_entity: dict[tuple[str, str], set[str]] = {}
    for org_id, entity, entity_id in keys:
        by_entity.setdefault((org_id, entity), set()).add(entity_id)
    reg = registry()
    out: dict[tuple[str, str, str], int] = {}
    for (org_id, entity), ids in by_entity.items():
        spec = reg.get(entity)
        if spec is None:
            continue
        model: Any = spec.model
        for batch in in_batches(ids):
            stmt = select(model.id, model.sync_version).where(
                model.org_id == org_id, model.id.in_(batch)
            )
            out.update(((org_id, entity, rid), v) for rid, v in session.execute(stmt))
    return out


def record_results(
    session: Session,
    ops: Sequence[OutboxEntry],
    results: Sequence[Mapping[str, Any]],
    *,
    own_device: str | None,
) -> dict[str, int]:
    """Store each op's answer; copy conflicts; put refused or lost edits back to the
    central state so that every site converges (the losing values stay in a conflict
    record a person can see)."""
    counts: dict[str, int] = {}
    now = utcnow()
    restore: list[tuple[OutboxEntry, Mapping[str, Any]]] = []
    _preload(session, ops)
    wanted = [c["id"] for res in results if (c := res.get("conflict") or {}).get("id")]
    known: set[str] = set()
    for batch in in_batches(wanted):
        known.update(session.scalars(select(ConflictRecord.id).where(ConflictRecord.id.in_(batch))))
    with session.no_autoflush:  # see _preload: every lookup below hits the session
        for op, res in zip(ops, results, strict=True):
            _record_one(session, op, res, counts, restore, now, own_device, known)
    session.flush()
    active = active_rows(session, {(op.entity, op.entity_id) for op, _ in restore})
    for op, res in restore:
        _restore(session, op, res, own_device=own_device, active=active)
    settle_answered(session, {(op.entity, op.entity_id) for op in ops})
    refused_reports = {
        (op.org_id, str((op.fields or {}).get("job_id")))
        for op, _ in restore
        if op.entity == "production_reports"
    }
    for org_id, job_id in refused_reports:  # a refused report no longer counts here
        from core.factory.rules import recompute_jobs

        recompute_jobs(session, org_id, {job_id})
    after_pull(session, own_device=own_device, check=False)
    return counts


def sent_keys(session: Session) -> set[tuple[str, str]]:
    """(entity, id) of every op answered but not yet seen in the local row."""
    stmt = select(OutboxEntry.entity, OutboxEntry.entity_id).where(OutboxEntry.status == "sent")
    return {(e, i) for e, i in session.execute(stmt)}


def settle_answered(
    session: Session,
    touched: Iterable[tuple[str, str]],
    versions: Mapping[tuple[str, str, str], int] | None = None,
) -> int:
    """Retire answered ops whose row already shows the version they were answered with.

    Push answers and feed pages reach the site in either order, and after a central
    restart a retried push may be answered from the central record after the feed has
    already brought that version; the op is then done whichever came first. Run at the
    end of every push answer and every pull, for the rows it ``touched`` (so a large
    sync stays linear), so no op stays "sent" for a row that already reflects it. Set
    based: a few reads per entity (the ops, the rows' sync versions) and one ``UPDATE``
    per 500 retired ops, which also brings any copy of them in the session up to date.
    ``versions``: rows' sync versions the caller has just read ((org, entity, id) ->
    version), not read again. Returns the number retired."""
    o = OutboxEntry
    by_entity: dict[str, set[str]] = {}
    for entity, entity_id in touched:
        by_entity.setdefault(entity, set()).add(entity_id)
    retired: list[int] = []
    known = versions or {}
    for entity, ids in by_entity.items():
        if entity not in registry():
            continue
        for batch in in_batches(ids):
            sent = session.execute(
                select(o.seq, o.org_id, o.entity_id, o.result).where(
                    o.status == "sent", o.entity == entity, o.entity_id.in_(batch)
                )
            ).all()
            keys = [(r.org_id, entity, r.entity_id) for r in sent]
            read = _sync_versions(session, [k for k in keys if k not in known])
            for r, key in zip(sent, keys, strict=True):
                answered = int((r.result or {}).get("version") or 0)
                local = known.get(key, read.get(key))
                if local is not None and local >= answered:
                    retired.append(r.seq)
    now = utcnow()
    for seqs in in_batches(retired):
        session.execute(update(o).where(o.seq.in_(seqs)).values(status="done", done_at=now))
    return len(retired)


def _preload(session: Session, ops: Sequence[OutboxEntry]) -> None:
    """Load the batch's rows in a few queries; per-op lookups (with autoflush re-scanning
    the whole session each time) would make a large batch quadratic."""
    by_entity: dict[str, set[tuple[str, str]]] = {}
    for op in ops:
        by_entity.setdefault(op.entity, set()).add((op.org_id, op.entity_id))
    reg = registry()
    for entity, keys in by_entity.items():
        spec = reg.get(entity)
        if spec is not None:
            _load_keys(session, spec.model, keys)


def _load_keys(session: Session, model: Any, keys: Iterable[tuple[str, str]]) -> None:
    """Load the rows of these (organisation, id) keys into the session (``load_many``)."""
    by_org: dict[str, list[str]] = {}
    for org_id, id_ in keys:
        by_org.setdefault(org_id, []).append(id_)
    for org_id, ids in sorted(by_org.items()):
        writes.load_many(session, model, org_id, ids)


def _record_one(
    session: Session,
    op: OutboxEntry,
    res: Mapping[str, Any],
    counts: dict[str, int],
    restore: list[tuple[OutboxEntry, Mapping[str, Any]]],
    now: Any,
    own_device: str | None,
    known: set[str],
) -> None:
    status = str(res.get("status"))
    counts[status] = counts.get(status, 0) + 1
    op.result = dict(res)
    if status in ("applied", "merged"):
        spec = spec_for(op.entity)
        local = session.get(spec.model, (op.org_id, op.entity_id))
        seen = local is not None and local.sync_version >= int(res.get("version") or 0)
        if op.status == "acked" or seen:
            op.status, op.done_at = "done", now
        else:
            op.status = "sent"
        return
    op.status, op.done_at = "done", now
    if status == "conflict":
        c = res.get("conflict") or {}
        if c.get("id") and c["id"] not in known:  # known: copied by an earlier answer
            known.add(c["id"])
            session.add(conflict_copy(op, c))
    elif status == "rejected":
        reason = res.get("reason") or {}
        if reason.get("code") == "not_found" and op.kind in ("update", "delete"):
            # The central server does not know a row this site holds: it lost it in a
            # restore (a row made there after the backup). Given back whole, with this
            # edit or delete in it, instead of dropped here (docs/sync.md, guarantee 12).
            actor = Actor.system(op.org_id, own_device)
            if writes.give_back(session, actor=actor, entity=op.entity, id=op.entity_id):
                return
        session.add(
            ConflictRecord(
                id=uuid7(), org_id=op.org_id, entity=op.entity, entity_id=op.entity_id,
                kind="rejected", op_id=op.op_id, device_id=own_device, rule=None,
                fields=sorted(op.fields or {}), losing_values=dict(op.fields or {}),
                winning_values={}, reason=reasons.encode(
                    str(reason.get("code") or "rejected"),
                    message=str(reason.get("message") or "")[:300],
                ),
                created_at=now,
            )
        )  # fmt: skip
    restore.append((op, res))


def conflict_copy(op: OutboxEntry, c: Mapping[str, Any]) -> ConflictRecord:
    return ConflictRecord(
        id=c["id"], org_id=op.org_id, entity=op.entity, entity_id=op.entity_id,
        kind=c.get("kind") or "field", op_id=op.op_id, device_id=c.get("device_id"),
        rule=c.get("rule"), fields=list(c.get("fields") or []),
        losing_values=dict(c.get("losing_values") or {}),
        winning_values=dict(c.get("winning_values") or {}),
        reason=c.get("reason"), created_at=utcnow(),
    )  # fmt: skip


def _restore(
    session: Session,
    op: OutboxEntry,
    res: Mapping[str, Any],
    *,
    own_device: str | None,
    active: set[tuple[str, str]],
) -> None:
    spec = spec_for(op.entity)
    row = res.get("row")
    unique = res.get("status") == "conflict" and (res.get("conflict") or {}).get("kind") == "unique"
    if unique:
        # The create was not taken (its value is another row's): the local copy goes; its
        # values wait in the conflict record for a rename, merge or discard.
        _drop_local(session, spec, op, active=set())
    if row:
        apply_row(session, spec, row, active=active, force=True, own_device=own_device)
        return
    _drop_local(session, spec, op, active=active_rows(session))


def _drop_local(
    session: Session, spec: EntitySpec, op: OutboxEntry, *, active: set[tuple[str, str]]
) -> None:
    """The central server has no such row (a refused create): the local copy goes, unless
    other local edits of it still wait for their answer."""
    if (op.entity, op.entity_id) in active:
        return
    local = session.get(spec.model, (op.org_id, op.entity_id))
    if local is None:
        return
    try:
        with session.begin_nested():
            session.delete(local)
    except IntegrityError:
        # Something local still points at it: keep it as a tombstone instead.
        local = session.get(spec.model, (op.org_id, op.entity_id))
        if local is not None and local.deleted_at is None:
            local.deleted_at = utcnow()
            local.version += 1


def bulk_rows(session: Session, spec: EntitySpec, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bootstrap: insert snapshot rows in bulk (no audit per row; one summary entry is
    written by the caller). A row already here is replaced only by a newer version."""
    if not rows:
        return
    model = spec.model
    if fastload.load(session, model, rows):
        return
    table = model.__table__
    assert isinstance(table, Table)  # a declarative model's, never a join or alias
    payload = []
    for data in rows:
        values = values_from_json(model, data)
        values["sync_version"] = int(data["version"])
        values["version"] = 1
        payload.append(values)
    stmt = sqlite_insert(table)
    cols = [c.name for c in table.c if c.name not in ("org_id", "id")]
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "id"],
        set_={c: stmt.excluded[c] for c in cols},
        where=stmt.excluded.sync_version > table.c.sync_version,
    )
    session.execute(stmt, payload)
