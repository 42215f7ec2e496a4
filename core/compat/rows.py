"""Rows of any entity in an old app's shape: read, create, change, delete.

The old apps had no versions: a write without one is applied to the row as it is now
(last write wins, as in localStorage), and the audit entry keeps the values it replaced.
A write that sends the ``version`` it read is checked like any other (409 with the
current row, in the old shape). Refusals name the old app's keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import rules, writes
from core.clock import uuid7
from core.errors import Conflict, DomainError, Invalid, NotFound
from core.identity import auth
from core.legacy.coerce import to_id
from core.legacy.mapping import MappedRow, RowRefused, map_changes, map_row
from core.legacy.present import READ_ONLY_KEYS, legacy_key, to_legacy, unknown_keys
from core.registry import EntitySpec, spec_for_model
from core.writes import Actor


def _rename(spec: EntitySpec, mapped: MappedRow | None, field: str) -> str:
    if mapped is not None and field in mapped.sources:
        return mapped.sources[field]
    head, _, rest = field.partition(".")
    if head in spec.fields.model_fields:
        return legacy_key(spec, head) + (f".{rest}" if rest else "")
    return field


def legacy_error(exc: DomainError, spec: EntitySpec, mapped: MappedRow | None = None) -> None:
    """Rename the fields of a refusal to the old app's keys, and put the current row of
    a conflict in the old shape (in place: the caller re-raises)."""
    if isinstance(exc.details, list):
        exc.details = [
            {**d, "field": _rename(spec, mapped, str(d.get("field", "")))}
            if isinstance(d, dict)
            else d
            for d in exc.details
        ]
    if isinstance(exc, Conflict) and exc.current is not None and not isinstance(exc.current, dict):
        try:
            exc.current = to_legacy(spec_for_model(type(exc.current)), exc.current, meta=True)
        except KeyError:
            exc.current = None


@contextmanager
def legacy_errors(spec: EntitySpec, mapped: MappedRow | None = None) -> Iterator[None]:
    try:
        yield
    except DomainError as exc:
        legacy_error(exc, spec, mapped)
        raise


def version_of(raw: Mapping[str, Any]) -> int | None:
    value = raw.get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(
            "version must be a row version",
            details=[{"field": "version", "message": "expected a whole number from 1"}],
        )
    return value


def _refused(exc: RowRefused) -> Invalid:
    return Invalid(
        f"invalid row: {exc.field}: {exc.message}",
        details=[{"field": exc.field, "message": exc.message}],
    )


def _input(mapped: MappedRow) -> dict[str, Any]:
    # A PIN or password the app sends is plaintext input: the write path hashes it.
    return {**mapped.data, **mapped.secrets}


def list_all(session: Session, actor: Actor, spec: EntitySpec, **filters: Any) -> list[Any]:
    """Every live row the actor may see, in the entity's default order."""
    writes.check_permission(spec, actor, "read")
    model = spec.model
    stmt = select(model).where(model.org_id == actor.org_id, model.deleted_at.is_(None))
    scope = auth.row_scope(spec, actor)
    if scope is not None:
        stmt = stmt.where(scope)
    for name, value in filters.items():
        stmt = stmt.where(getattr(model, name) == value)
    key = spec.default_sort
    col = getattr(model, key.lstrip("-"))
    stmt = stmt.order_by(col.desc() if key.startswith("-") else col, model.id)
    return list(session.scalars(stmt))


def get(session: Session, actor: Actor, spec: EntitySpec, id: str) -> Any:
    writes.check_permission(spec, actor, "read")
    row = writes.load(session, spec, actor.org_id, id)
    if row is None or row.deleted_at is not None or not auth.can_see(spec, actor, row):
        raise NotFound(f"{spec.name} '{id}' not found")
    return row


def create(session: Session, actor: Actor, spec: EntitySpec, raw: Mapping[str, Any]) -> Any:
    """A row from the old app's object; its id if it chose one (the old apps did)."""
    body = {k: v for k, v in raw.items() if k not in READ_ONLY_KEYS or k in ("id", "createdAt")}
    try:
        row_id = to_id(raw.get("id")) or uuid7()
        mapped = map_row(spec.name, {**body, "id": row_id})
    except (RowRefused, ValueError) as exc:
        raise _refused(exc if isinstance(exc, RowRefused) else RowRefused("id", str(exc))) from None
    data = _input(mapped)
    with legacy_errors(spec, mapped):
        auth.check_write_scope(spec, actor, data)
        # A person's write at this site, as from the native API (the old app's derived
        # values are checked like anyone's: unchanged ones pass, new ones are refused).
        return writes.create(
            session, actor=actor, entity=spec.name, data=data, id=row_id,
            extra=mapped.extra or None, origin=rules.LOCAL,
        )  # fmt: skip


def update(
    session: Session, actor: Actor, spec: EntitySpec, id: str, raw: Mapping[str, Any]
) -> Any:
    version = version_of(raw)
    with legacy_errors(spec):
        row = get(session, actor, spec, id)
        unknown = unknown_keys(spec, dict(raw), row)
        if unknown:
            raise Invalid(
                f"invalid {spec.name}: unknown field(s) {', '.join(unknown)}",
                details=[{"field": k, "message": "unknown field"} for k in unknown],
            )
    body = {k: v for k, v in raw.items() if k not in READ_ONLY_KEYS}
    try:
        mapped = map_changes(spec.name, body)
    except RowRefused as exc:
        raise _refused(exc) from None
    data = _input(mapped)
    with legacy_errors(spec, mapped):
        auth.check_write_scope(spec, actor, data, row)
        return writes.update(
            session, actor=actor, entity=spec.name, id=id, data=data, version=version,
            origin=rules.LOCAL,
        )  # fmt: skip


def delete(
    session: Session, actor: Actor, spec: EntitySpec, id: str, version: int | None = None
) -> Any:
    with legacy_errors(spec):
        row = get(session, actor, spec, id)
        auth.check_write_scope(spec, actor, {}, row)
        return writes.delete(
            session, actor=actor, entity=spec.name, id=id, version=version, origin=rules.LOCAL
        )


def present(spec: EntitySpec, row: Any) -> dict[str, Any]:
    return to_legacy(spec, row, meta=True)
