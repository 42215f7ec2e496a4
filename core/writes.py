"""The one write path. Every create, update and delete — from the desktop, a LAN
browser, the import or a domain action — goes through here, and in the same transaction:

1. validates the input against the entity's schema, its references and its rules;
2. applies it to the row, bumps the row's version (optimistic concurrency);
3. appends an audit entry (who, when, each field before/after);
4. hands the change to the store's recorder (site: outbox; central: change feed).

There is no second path that forgets the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from core import rules
from core.clock import utcnow, uuid7
from core.db import in_batches
from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from core.fields import ID_PATTERN
from core.identity.security import hash_secret
from core.models import AuditEntry, Organisation
from core.registry import EntitySpec, registry, spec_for
from core.rowload import insert_rows
from core.serial import normalise, row_to_json, to_json
from core.sync.notices import ChangeNotice, NoticeKind
from core.sync.recorders import Change, buffer_insert
from core.sync.unit import unit_of

SYSTEM = "system"
MASK = "***"


@dataclass(frozen=True)
class Actor:
    """Who makes a change. ``role`` is one of the user roles, or ``system`` for the
    import, rules and sync apply (which check permissions their own way)."""

    org_id: str
    user_id: str | None
    role: str
    device_id: str | None = None
    # Where the request came from, for the audit log (set by the HTTP edge).
    ip_address: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls, org_id: str, device_id: str | None = None) -> Actor:
        return cls(org_id=org_id, user_id=None, role=SYSTEM, device_id=device_id)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]


def _invalid(errors: list[tuple[str, str]] | list[dict[str, str]], what: str) -> Invalid:
    details = [e if isinstance(e, dict) else {"field": e[0], "message": e[1]} for e in errors]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return Invalid(f"invalid {what}: {summary}", details=details)


def check_permission(spec: EntitySpec, actor: Actor, action: str) -> None:
    if actor.role == SYSTEM:
        return
    roles = spec.read_roles if action == "read" else spec.write_roles
    if actor.role not in roles:
        raise Forbidden(f"role '{actor.role}' may not {action} {spec.name}")


def load(
    session: Session, spec: EntitySpec, org_id: str, id: str, *, for_update: bool = False
) -> Any:
    made = _made_here(session).get(("row", spec.name, org_id, id))
    if made is not None:
        return made
    # Rows a caller already locked in bulk (the sync push locks a whole batch in a few
    # statements): the session's copy is then the locked row.
    locked = (spec.model, (org_id, id)) in unit_of(session).locked
    if for_update and not locked and session.get_bind().dialect.name != "sqlite":
        stmt = select(spec.model).where(spec.model.org_id == org_id, spec.model.id == id)
        return session.scalars(stmt.with_for_update()).one_or_none()
    return session.get(spec.model, (org_id, id))


def load_many(
    session: Session, model: Any, org_id: str, ids: Iterable[str], *, for_update: bool = False
) -> None:
    """Bring these rows into the session in a few statements, so that ``load`` of each
    then finds it there (the sync push's batch, a pulled page, a push's answers).

    By the whole key: the tables' key is (org_id, id) and every index begins with the
    organisation, so ``id IN (...)`` alone read the whole table (a plant's 100,000 jobs).
    The rows are kept for the transaction (the identity map holds them weakly). With
    ``for_update`` they are locked, in id order (two batches touching the same rows
    cannot deadlock), and ``load`` knows they are."""
    unit = unit_of(session)
    for batch in in_batches(ids):
        stmt = select(model).where(model.org_id == org_id, model.id.in_(batch))
        if for_update:
            stmt = stmt.order_by(model.id).with_for_update()
        rows = session.scalars(stmt).all()
        if for_update:
            unit.locked.update((model, (org_id, r.id)) for r in rows)
        unit.keep(rows)


def get_live(
    session: Session, spec: EntitySpec, org_id: str, id: str, *, for_update: bool = False
) -> Any:
    row = load(session, spec, org_id, id, for_update=for_update)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"{spec.name} '{id}' not found")
    return row


def _made_here(session: Session) -> dict[tuple[Any, ...], Any]:
    """Rows created or re-keyed in this transaction and not necessarily flushed yet.

    Inserts are not flushed one by one (a bulk import would spend most of its time
    there); lookups consult this index first so that a job can reference a machine made
    a moment earlier in the same transaction. Entries are candidates: the live object is
    always re-checked, so a later change to it is seen. Cleared when a savepoint rolls
    back (the rows made in it are gone; earlier ones were flushed when it began).
    """
    return unit_of(session).made_here


def _remember(session: Session, spec: EntitySpec, row: Any) -> None:
    made = _made_here(session)
    made[("row", spec.name, row.org_id, row.id)] = row
    for fname in spec.unique:
        value = getattr(row, fname)
        if value is not None:
            made.setdefault(("uq", spec.name, row.org_id, fname, value), []).append(row)


def _lookup(session: Session, entity: str, org_id: str, id: str) -> Any:
    """The row by key: made in this transaction, in the session, or read. Read without
    an autoflush: whether a row with this key exists does not depend on changes still
    pending (rows made here are in ``_made_here``; others are in the session), and a
    flush per lookup split a progress report's one flush at commit into several. A row
    read is kept for the transaction: the identity map holds it weakly, and the rules
    that look at the same row a moment later (a report's machine: its reference, then
    its counter) read it again once it was collected."""
    row = _made_here(session).get(("row", entity, org_id, id))
    if row is None:
        with session.no_autoflush:
            row = session.get(registry()[entity].model, (org_id, id))
        if row is not None:
            unit_of(session).kept.append(row)
    return row


def check_version(spec: EntitySpec, row: Any, version: int | None) -> None:
    """Optimistic concurrency: the caller saw ``version``; refuse if the row moved on."""
    if version is not None and version != row.version:
        raise Conflict(
            f"{spec.name} '{row.id}' was changed by someone else (you had version {version}, "
            f"it is now at {row.version})",
            current=row,
        )


def _check_refs(
    session: Session, spec: EntitySpec, org_id: str, values: Mapping[str, Any]
) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    for fname, target, ref_id in refs_of(spec, values):
        if ref_id is None:
            continue
        row = _lookup(session, target, org_id, ref_id)
        if row is None or row.deleted_at is not None:
            errors.append((fname, f"no {target} with id '{ref_id}'"))
        elif inspect(row).pending and not unit_of(session).fk_at_commit:
            # The unit of work orders inserts by ORM relationships, which these tables do
            # not declare: insert what this row points at first, or the foreign key fails.
            session.flush()
    return errors


def _check_unique(
    session: Session, spec: EntitySpec, org_id: str, id: str, values: Mapping[str, Any]
) -> None:
    model = spec.model
    for fname in spec.unique:
        value = values.get(fname)
        if value is None:
            continue
        here = _made_here(session).get(("uq", spec.name, org_id, fname, value), ())
        clash = any(
            r.id != id and r.deleted_at is None and getattr(r, fname) == value for r in here
        )
        stmt = select(func.count()).where(
            model.org_id == org_id,
            getattr(model, fname) == value,
            model.deleted_at.is_(None),
            model.id != id,
        )
        if clash or session.scalar(stmt):
            raise Conflict(
                f"another {spec.name} row already has {fname} '{value}'",
                details=[{"field": fname, "message": "already in use"}],
            )


def _mask(spec: EntitySpec, fields: dict[str, Any]) -> dict[str, Any]:
    if not spec.secret_inputs:
        return fields
    secret_cols = set(spec.secret_inputs.values())
    return {k: (MASK if k in secret_cols and v is not None else v) for k, v in fields.items()}


def _store_secrets(spec: EntitySpec, values: dict[str, Any]) -> None:
    for plain, column in spec.secret_inputs.items():
        if plain in values:
            secret = values.pop(plain)
            values[column] = hash_secret(secret) if secret is not None else None


def _prehashed(
    spec: EntitySpec,
    actor: Actor,
    values: Mapping[str, Any],
    hashed: Mapping[str, str] | None,
) -> dict[str, str]:
    """Secret columns from already-hashed inputs (see ``create``)."""
    if not hashed:
        return {}
    if actor.role != SYSTEM:
        raise Forbidden("only the system actor may pass hashed secrets")
    out: dict[str, str] = {}
    for plain, digest in hashed.items():
        column = spec.secret_inputs.get(plain)
        if column is None:
            raise _invalid([(plain, "not a secret input")], spec.name)
        if values.get(plain) is not None:
            raise _invalid([(plain, "given both in plain and hashed")], spec.name)
        # Refuse anything that is not an argon2 hash, so a plaintext can never slip
        # into the column through this door.
        if not isinstance(digest, str) or not digest.startswith("$argon2"):
            raise _invalid([(plain, "hashed value is not an argon2 hash")], spec.name)
        out[column] = digest
    return out


def _emit(
    session: Session,
    spec: EntitySpec,
    actor: Actor,
    row: Any,
    kind: str,
    fields: dict[str, Any],
    before: dict[str, Any],
    base_version: int,
    op_id: str | None,
) -> Change:
    change = Change(
        entity=spec.name,
        entity_id=row.id,
        org_id=row.org_id,
        kind=kind,
        op_id=op_id or uuid7(),
        base_version=base_version,
        fields=fields,
        before=before,
        version=row.version,
        actor_id=actor.user_id,
        device_id=actor.device_id,
        row=row,
    )
    masked_before = _mask(spec, before)  # the old secret hash is as secret as the new one
    buffer_insert(
        session,
        AuditEntry,
        {
            "org_id": row.org_id,
            "at": row.updated_at,
            "actor_id": actor.user_id,
            "device_id": actor.device_id,
            "ip_address": actor.ip_address,
            "user_agent": actor.user_agent[:300] if actor.user_agent else None,
            "entity": spec.name,
            "entity_id": row.id,
            "kind": kind,
            "op_id": change.op_id,
            "version": row.version,
            "changes": {k: [masked_before.get(k), v] for k, v in _mask(spec, fields).items()}
            if kind != "delete"
            else {},
        },
    )
    unit = unit_of(session)
    unit.recorder.record(session, change)
    unit.notice(
        ChangeNotice(
            entity=spec.name,
            id=row.id,
            kind=cast(NoticeKind, kind),
            version=row.version,
            org_id=row.org_id,
        )
    )
    return change


# --- the rules hook (core.rules): module, derived fields, each entity's rules ----------


_ORG_MODULES = select(Organisation.modules).where(Organisation.id == bindparam("org"))


def check_module(session: Session, spec: EntitySpec, org_id: str) -> None:
    """The organisation must have the entity's module enabled, whoever writes."""
    if spec.module == "core":
        return
    cache = unit_of(session).org_modules
    if org_id not in cache:
        held = session.identity_map.get(identity_key(Organisation, org_id))
        if held is not None:  # the session's copy, with any change not yet flushed
            cache[org_id] = frozenset(held.modules or ())
        else:
            # One column on the connection: the ORM row cost twice as much, on every
            # write's first check (docs/benchmarks.md, "Propagation, third pass").
            found = session.connection().execute(_ORG_MODULES, {"org": org_id}).first()
            cache[org_id] = None if found is None else frozenset(found[0] or ())
    modules = cache[org_id]
    if modules is not None and spec.module not in modules:
        raise rules.refuse("module_disabled", status=403, module=spec.module)


def _derived(spec: EntitySpec, actor: Actor, values: dict[str, Any], origin: str) -> None:
    """Derived fields are computed by each store: an update's values are ignored from
    sync and refused from anyone else (a create's value is the row's opening value;
    see the entity's rules)."""
    for name in spec.rules.derived:
        if name in values and origin == rules.SYNC:
            values.pop(name)


def _refuse_derived(spec: EntitySpec, changed: Mapping[str, Any]) -> None:
    for name in spec.rules.derived:
        if name in changed:
            raise rules.refuse("derived_field", status=422, field=name, field_name=name)


def _context(
    session: Session,
    spec: EntitySpec,
    actor: Actor,
    kind: str,
    row: Any,
    values: dict[str, Any],
    changed: dict[str, Any],
    origin: str,
) -> rules.WriteContext:
    return rules.WriteContext(session, actor, spec.name, kind, row, values, changed, origin)


# What a write takes: a raw mapping (the sync apply, an import, a batch operation, the
# desktop), validated here, or an instance of the entity's own schema (or a subclass of
# it, such as the HTTP edge's request model), validated when it was made and so only
# read here: one validation per request (docs/dev-notes.md).
WriteData = Mapping[str, Any] | BaseModel


def _values(
    schema: type[BaseModel], data: WriteData, entity: str, *, exclude_unset: bool = False
) -> dict[str, Any]:
    if isinstance(data, schema):
        # Only the schema's own fields, not those a subclass adds (the edge's id, version).
        own = None if type(data) is schema else set(schema.model_fields)
        return data.model_dump(include=own, exclude_unset=exclude_unset)
    if isinstance(data, BaseModel):
        raise TypeError(f"{entity}: a {type(data).__name__} is not a {schema.__name__}")
    try:
        model = schema.model_validate(dict(data))
    except ValidationError as exc:
        raise _invalid(validation_details(exc), entity) from None
    return model.model_dump(exclude_unset=exclude_unset)


def validate_create(spec: EntitySpec, data: WriteData) -> dict[str, Any]:
    return _values(spec.create, data, spec.name)


def validate_update(spec: EntitySpec, data: WriteData) -> dict[str, Any]:
    values = _values(spec.update, data, spec.name, exclude_unset=True)
    nulls = [(k, "may not be null") for k, v in values.items() if v is None and k in spec.not_null]
    if nulls:
        raise _invalid(nulls, spec.name)
    return values


def _writable(
    session: Session, entity: str, actor: Actor, action: str, check: bool = True
) -> EntitySpec:
    """The entity's spec, once the actor may ``action`` it (unless ``check`` is off: the
    sync apply, the import), the entity is not append-only for a change or a delete, and
    its module is on for the organisation."""
    spec = spec_for(entity)
    if check:
        check_permission(spec, actor, action)
    if spec.append_only and action != "create":
        done = "changed" if action == "update" else "deleted"
        raise Forbidden(f"{spec.name} are append-only and cannot be {done}")
    check_module(session, spec, actor.org_id)
    return spec


def _bump(row: Any, actor: Actor, at: datetime | None = None) -> None:
    """A new local version of the row, by the actor, now."""
    row.version += 1
    row.updated_at = at or utcnow()
    row.updated_by = actor.user_id


def create(
    session: Session,
    *,
    actor: Actor,
    entity: str,
    data: WriteData,
    id: str | None = None,
    op_id: str | None = None,
    extra: dict[str, Any] | None = None,
    hashed_secrets: Mapping[str, str] | None = None,
    known_new: bool = False,
    origin: str = rules.LOCAL,
) -> Any:
    """Create a row from ``data`` (see ``WriteData``). ``hashed_secrets`` is for the
    system actor only (the legacy import, the demo data): secret inputs already hashed
    with ``core.identity.security.hash_secret``, keyed by input name
    (``{"pin": "$argon2id$..."}``). It lets a bulk caller hash many secrets in a thread
    pool up front while the row still goes through this one path; plaintext never
    reaches it, and the audit entry masks the value as usual.

    ``known_new`` (system actor only): the caller looked the given id up in bulk in this
    same write transaction and found nothing, so the per-row lookup is skipped. The
    primary key still refuses a duplicate, at flush.

    ``origin``: ``rules.SYNC`` when applying a change made on another store (see
    core.rules)."""
    spec = _writable(session, entity, actor, "create")
    now = utcnow()
    planned = _plan_new(session, spec, actor, NewRow(data, id, extra, hashed_secrets), 0, now,
                        origin)  # fmt: skip
    values, prehashed, ctx, row_id = planned.values, planned.prehashed, planned.ctx, planned.row_id
    # Lookups go through _made_here() (rows of this transaction) and need not flush the
    # pending inserts one by one: they go to the database together at the next flush.
    with session.no_autoflush:
        errors = _check_refs(session, spec, actor.org_id, values)
        if spec.check:
            errors += spec.check(values)
        if spec.guard:
            errors += spec.guard(session, spec.model, actor.org_id, row_id, values)
        if errors:
            raise _invalid(errors, spec.name)
        # A fresh UUIDv7 cannot exist already; only a caller-given id is looked up.
        if known_new and actor.role != SYSTEM:
            raise Forbidden("only the system actor may skip the existence check")
        look = id is not None and not known_new
        existing = _lookup(session, spec.name, actor.org_id, row_id) if look else None
        if existing is not None:
            raise Conflict(f"{spec.name} '{row_id}' already exists", current=existing)
        _check_unique(session, spec, actor.org_id, row_id, values)
        if spec.secret_check:
            spec.secret_check(session, actor.org_id, row_id, values)
    rules.run(spec.rules.checks, ctx)
    _store_secrets(spec, values)
    values.update(prehashed)
    model: Any = spec.model  # a mapped class; the mixin type does not list its columns
    row = model(
        org_id=actor.org_id,
        id=row_id,
        version=1,
        sync_version=0,
        field_versions={},
        created_at=now,
        updated_at=now,
        updated_by=actor.user_id,
        deleted_at=None,
        extra=extra or None,
        **values,
    )
    session.add(row)
    _remember(session, spec, row)
    fields = {k: to_json(v) for k, v in values.items()}
    _emit(session, spec, actor, row, "create", fields, {}, 0, op_id)
    ctx.row = row
    rules.run(spec.rules.after, ctx)
    return row


@dataclass(frozen=True)
class NewRow:
    """One row for ``create_many``: what ``create`` takes for one row."""

    data: WriteData
    id: str | None = None
    extra: dict[str, Any] | None = None
    hashed_secrets: Mapping[str, str] | None = None


def batch_safe(spec: EntitySpec) -> bool:
    """Whether an entity's new rows can be checked as one set (see ``create_many``): no
    rule, guard or secret check of the entity reads other rows of it made in the same
    write, nothing follows from a create, and no reference points at the entity itself."""
    r = spec.rules
    return (
        not r.after
        and spec.guard is None
        and spec.secret_check is None
        and spec.name not in spec.refs.values()
        and spec.name not in spec.list_refs.values()
        and all(rules.is_batch_safe(h) for h in r.prepare + r.checks)
    )


def _live_ids(
    session: Session, entity: str, org_id: str, ids: set[str], *, live: bool = True
) -> set[str]:
    model: Any = spec_for(entity).model
    found: set[str] = set()
    for batch in in_batches(ids):
        stmt = select(model.id).where(model.org_id == org_id, model.id.in_(batch))
        if live:
            stmt = stmt.where(model.deleted_at.is_(None))
        found.update(session.scalars(stmt))
    return found


def _taken_values(
    session: Session, spec: EntitySpec, org_id: str, fname: str, values: set[Any]
) -> dict[Any, set[str]]:
    """Live rows' ids by value of a unique field, for the given values."""
    model: Any = spec.model
    column = getattr(model, fname)
    taken: dict[Any, set[str]] = {}
    for batch in in_batches(values):
        stmt = select(column, model.id).where(
            model.org_id == org_id, column.in_(batch), model.deleted_at.is_(None)
        )
        for value, row_id in session.execute(stmt):
            taken.setdefault(value, set()).add(row_id)
    return taken


_CLASH = object()  # create_many: "the id exists", before the existing row is read


class _Planned:
    """A row of ``create_many`` between its own checks and the set-wide ones."""

    __slots__ = ("ctx", "extra", "index", "prehashed", "row_id", "values")

    def __init__(
        self,
        index: int,
        row_id: str,
        values: dict[str, Any],
        prehashed: dict[str, str],
        ctx: rules.WriteContext,
        extra: dict[str, Any] | None,
    ) -> None:
        self.index, self.row_id, self.values = index, row_id, values
        self.prehashed, self.ctx, self.extra = prehashed, ctx, extra


def create_many(
    session: Session,
    *,
    actor: Actor,
    entity: str,
    rows: list[NewRow],
    known_new: bool = False,
    origin: str = rules.LOCAL,
) -> list[Any]:
    """The bulk form of ``create``: the same validation, rules, audit and recording for
    each row, with the lookups done for the whole set (references, ids and unique values
    in a few ``IN`` queries) and the rows inserted in one statement (``core.rowload``)
    instead of one ORM object each through the unit of work. For each row, in order, the
    created row (a detached object; read it again from the session to change it) or the
    ``DomainError`` that refused it; a refused row leaves nothing behind.

    Only for an entity whose rules allow it (``batch_safe``); any other entity's rows
    go through ``create`` one by one, each seeing the ones before it. The errors are
    ``create``'s own, in the same order of checks, and a row that clashes with an
    earlier row of the same set (id, unique value) is refused as it would be had the
    earlier one been created first."""
    spec = _writable(session, entity, actor, "create")
    if not batch_safe(spec):
        out: list[Any] = []
        for r in rows:
            try:
                out.append(create(session, actor=actor, entity=entity, data=r.data, id=r.id,
                                  extra=r.extra, hashed_secrets=r.hashed_secrets,
                                  known_new=known_new, origin=origin))  # fmt: skip
            except DomainError as exc:
                out.append(exc)
        return out
    if known_new and actor.role != SYSTEM:
        raise Forbidden("only the system actor may skip the existence check")
    results: list[Any] = [None] * len(rows)
    planned: list[_Planned] = []
    now = utcnow()
    for i, r in enumerate(rows):
        try:
            planned.append(_plan_new(session, spec, actor, r, i, now, origin))
        except DomainError as exc:
            results[i] = exc
    # What the set-wide lookups read must include rows made earlier in this transaction.
    session.flush()
    org_id = actor.org_id
    wanted: dict[str, set[str]] = {}
    for p in planned:
        for _field, target, ref_id in refs_of(spec, p.values):
            if ref_id is not None:
                wanted.setdefault(target, set()).add(ref_id)
    live = {t: _live_ids(session, t, org_id, ids) for t, ids in wanted.items()}
    given = {p.row_id for p in planned if not known_new and rows[p.index].id is not None}
    existing = _live_ids(session, spec.name, org_id, given, live=False) if given else set()
    taken = {
        f: _taken_values(session, spec, org_id, f, {p.values.get(f) for p in planned} - {None})
        for f in spec.unique
    }
    made: list[tuple[_Planned, Any]] = []
    made_ids: dict[str, Any] = {}
    for p in planned:
        clash = p.row_id in existing or p.row_id in made_ids
        try:
            row = _check_planned(spec, p, live, taken, clash, now)
        except Conflict as exc:
            if exc.current is _CLASH:
                current = made_ids.get(p.row_id) or session.get(spec.model, (org_id, p.row_id))
                exc = Conflict(exc.message, current=current)
            results[p.index] = exc
            continue
        except DomainError as exc:
            results[p.index] = exc
            continue
        made_ids[p.row_id] = row
        for f in spec.unique:
            if (v := p.values.get(f)) is not None:
                taken[f].setdefault(v, set()).add(p.row_id)
        made.append((p, row))
        results[p.index] = row
    for p, row in made:
        fields = {k: to_json(v) for k, v in p.values.items()}
        _emit(session, spec, actor, row, "create", fields, {}, 0, None)
    model: Any = spec.model
    names = _columns(model)
    insert_rows(session, spec.model, [{n: getattr(row, n) for n in names} for _, row in made])
    return results


def refs_of(spec: EntitySpec, values: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(field, target entity, id) of each reference the values make (a list reference
    gives one per id; a missing one gives None)."""
    wanted = [(f, t, values.get(f)) for f, t in spec.refs.items()]
    wanted += [(f, t, v) for f, t in spec.list_refs.items() for v in values.get(f) or ()]
    return wanted


def _plan_new(
    session: Session,
    spec: EntitySpec,
    actor: Actor,
    r: NewRow,
    index: int,
    now: datetime,
    origin: str,
) -> _Planned:
    """A row's own part of ``create`` (and of each row of ``create_many``): everything
    that needs no other row."""
    data = r.data
    given = data.model_fields_set if isinstance(data, BaseModel) else set(data)
    values = normalise(spec.model, validate_create(spec, data))
    prehashed = _prehashed(spec, actor, values, r.hashed_secrets)
    if spec.defaults:
        spec.defaults(values, now, actor)
    changed = {k: v for k, v in values.items() if k in given}
    ctx = _context(session, spec, actor, "create", None, values, changed, origin)
    rules.run(spec.rules.prepare, ctx)
    missing = [(f, "is required") for f in sorted(spec.not_null) if values.get(f) is None]
    if missing:  # optional in the schema but filled by defaults; refuse, don't crash
        raise _invalid(missing, spec.name)
    if r.id is not None and not ID_PATTERN.match(r.id):
        raise _invalid([("id", "must be 1-64 letters, digits or . _ : -")], spec.name)
    return _Planned(index, r.id or uuid7(), values, prehashed, ctx, r.extra)


def _check_planned(
    spec: EntitySpec,
    p: _Planned,
    live: dict[str, set[str]],
    taken: dict[str, dict[Any, set[str]]],
    clash: bool,
    now: datetime,
) -> Any:
    """The rest of ``create`` for one planned row, against the set-wide lookups; the
    row object, not yet added anywhere."""
    values = p.values
    errors = [
        (fname, f"no {target} with id '{ref_id}'")
        for fname, target, ref_id in refs_of(spec, values)
        if ref_id is not None and ref_id not in live.get(target, ())
    ]
    if spec.check:
        errors += spec.check(values)
    if errors:
        raise _invalid(errors, spec.name)
    if clash:  # the caller puts the existing row in place of the marker
        raise Conflict(f"{spec.name} '{p.row_id}' already exists", current=_CLASH)
    for fname in spec.unique:
        value = values.get(fname)
        if value is not None and taken[fname].get(value, set()) - {p.row_id}:
            raise Conflict(
                f"another {spec.name} row already has {fname} '{value}'",
                details=[{"field": fname, "message": "already in use"}],
            )
    rules.run(spec.rules.checks, p.ctx)
    _store_secrets(spec, values)
    values.update(p.prehashed)
    model: Any = spec.model
    row = _plain_row(model)()
    for k, v in values.items():
        setattr(row, k, v)
    row.org_id, row.id, row.version, row.sync_version = p.ctx.actor.org_id, p.row_id, 1, 0
    row.field_versions, row.created_at, row.updated_at = {}, now, now
    row.updated_by, row.deleted_at, row.extra = p.ctx.actor.user_id, None, p.extra or None
    p.ctx.row = row
    return row


@cache
def _plain_row(model: Any) -> type:
    """A plain class with the model's columns as slots, standing for the model
    (``model_of``: what ``core.serial.row_to_json`` and the recorders read): a row of
    ``create_many`` is written by ``core.rowload``, so an ORM object, its instrumented
    attributes and its instance state would cost more than the row and serve nobody."""
    return type(f"New{model.__name__}", (), {"__slots__": _columns(model), "model_of": model})


@cache
def _columns(model: Any) -> tuple[str, ...]:
    return tuple(c.key for c in inspect(model).columns)


def update(
    session: Session,
    *,
    actor: Actor,
    entity: str,
    id: str,
    data: WriteData,
    version: int | None = None,
    op_id: str | None = None,
    check: bool = True,
    hashed_secrets: Mapping[str, str] | None = None,
    origin: str = rules.LOCAL,
) -> Any:
    """Change some fields (``data``: see ``WriteData``). ``version`` is the row version
    the caller last saw: if the row has moved on since, the update is refused with a
    Conflict carrying the current row. ``hashed_secrets`` as for ``create`` (system
    actor only: the sync push carries the hashes a site made, never plaintext)."""
    spec = _writable(session, entity, actor, "update", check)
    values = normalise(spec.model, validate_update(spec, data))
    _derived(spec, actor, values, origin)
    prehashed = _prehashed(spec, actor, values, hashed_secrets)
    row = get_live(session, spec, actor.org_id, id, for_update=True)
    check_version(spec, row, version)
    if spec.secret_check:
        spec.secret_check(session, actor.org_id, id, values)
    _store_secrets(spec, values)
    values.update(prehashed)
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    if not changed:
        return row
    _refuse_derived(spec, changed)
    merged = {f: getattr(row, f) for f in spec.stored_fields} | changed
    with session.no_autoflush:  # see create()
        errors = _check_refs(
            session, spec, actor.org_id, {k: merged[k] for k in changed if k in merged}
        )
        if spec.check:
            errors += spec.check(merged)
        if spec.guard:  # only what changes: old rows are not re-judged
            errors += spec.guard(session, spec.model, actor.org_id, id, changed)
        if errors:
            raise _invalid(errors, spec.name)
        unique = {k: v for k, v in changed.items() if k in spec.unique}
        _check_unique(session, spec, actor.org_id, id, unique)
    ctx = _context(session, spec, actor, "update", row, merged, changed, origin)
    rules.run(spec.rules.prepare, ctx)  # may add fields that follow (completed_at ...)
    merged.update(changed)
    rules.run(spec.rules.checks, ctx)
    before = {k: to_json(getattr(row, k)) for k in changed}
    ctx.previous = {k: getattr(row, k) for k in changed}
    for k, v in changed.items():
        setattr(row, k, v)
    if unique:
        _remember(session, spec, row)
    _bump(row, actor)
    fields = {k: to_json(v) for k, v in changed.items()}
    _emit(session, spec, actor, row, "update", fields, before, row.sync_version, op_id)
    ctx.row = row
    rules.run(spec.rules.after, ctx)
    return row


def delete(
    session: Session,
    *,
    actor: Actor,
    entity: str,
    id: str,
    version: int | None = None,
    op_id: str | None = None,
    check: bool = True,
    origin: str = rules.LOCAL,
) -> Any:
    """Soft delete: the row becomes a tombstone that syncs and never comes back silently."""
    spec = _writable(session, entity, actor, "delete", check)
    row = get_live(session, spec, actor.org_id, id, for_update=True)
    check_version(spec, row, version)
    current = {f: getattr(row, f) for f in spec.stored_fields}
    ctx = _context(session, spec, actor, "delete", row, current, {}, origin)
    rules.run(spec.rules.checks, ctx)
    now = utcnow()
    row.deleted_at = now
    _bump(row, actor, now)
    _emit(session, spec, actor, row, "delete", {}, {}, row.sync_version, op_id)
    rules.run(spec.rules.after, ctx)
    return row


def restore(
    session: Session,
    *,
    actor: Actor,
    entity: str,
    id: str,
    version: int | None = None,
    op_id: str | None = None,
    check: bool = True,
) -> Any:
    """Bring a soft-deleted row back from the trash (the desktop's Restore and the undo
    of a delete). Needs the delete permission (whoever may throw away may take back) and
    the rules a create would meet: live references and unique values still free.
    Recorded as an update of ``deleted_at`` to null, so it is audited and synced."""
    # Whoever may throw away may take back.
    spec = _writable(session, entity, actor, "delete", check)
    row = load(session, spec, actor.org_id, id, for_update=True)
    if row is None:
        raise NotFound(f"{spec.name} '{id}' not found")
    if row.deleted_at is None:
        return row  # already live: nothing to do
    check_version(spec, row, version)
    values = {f: getattr(row, f) for f in spec.stored_fields}
    with session.no_autoflush:
        errors = _check_refs(session, spec, actor.org_id, values)
        if errors:
            raise _invalid(errors, spec.name)
        _check_unique(session, spec, actor.org_id, id,
                      {k: values[k] for k in spec.unique if values.get(k) is not None})  # fmt: skip
    before = {"deleted_at": to_json(row.deleted_at)}
    row.deleted_at = None
    _bump(row, actor)
    _emit(session, spec, actor, row, "update", {"deleted_at": None}, before,
          row.sync_version, op_id)  # fmt: skip
    return row


def give_back(session: Session, *, actor: Actor, entity: str, id: str) -> Any | None:
    """Offer the central server again a row it no longer has (it was restored from a
    backup older than the row, and the row was made there, so no site's outbox holds its
    create): the local row goes out as a create of all its fields, the local edits it
    carries included, and a local tombstone then as its delete, so a delete made here
    while the central server lacked the row is not undone by another site giving the
    row back live. The row itself does not change. None when there is no local row."""
    spec = spec_for(entity)
    row = load(session, spec, actor.org_id, id)
    if row is None:
        return None
    fields = {f: to_json(getattr(row, f)) for f in spec.stored_fields}
    _emit(session, spec, actor, row, "create", fields, {}, 0, None)
    if row.deleted_at is not None:
        _emit(session, spec, actor, row, "delete", {}, {}, 0, None)
    return row


def snapshot(spec: EntitySpec, row: Any) -> dict[str, Any]:
    """The row as JSON, system columns included (what the feed and conflicts carry)."""
    return row_to_json(row)
