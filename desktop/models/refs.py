"""How a referenced record is named wherever a person reads a reference: table cells,
dropdowns, exports, the trash. A show is its date, city and venue ("2026-03-29 · Madrid ·
WiZink Center"), since a tour plays the same city more than once; a record with a
document number leads with it; everything else is its title field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from core.registry import EntitySpec, registry

# Columns that hold a list of ids of another entity (not a foreign key column).
LIST_REFS = {"operator_ids": "users"}
MAX_CHOICES = 500


def _columns(spec: EntitySpec) -> list[Any]:
    model = spec.model
    cols = [model.id, getattr(model, spec.title_field)]
    for extra in ("number", "starts_at", "venue", "tz"):
        if extra != spec.title_field and hasattr(model, extra):
            cols.append(getattr(model, extra))
    return cols


def label(spec: EntitySpec, values: dict[str, Any]) -> str:
    title = values.get(spec.title_field)
    text = "" if title is None else str(title)
    if spec.name == "shows":
        from core.tour.timezones import local

        when = values.get("starts_at")
        day = local(when, values.get("tz") or "UTC").date().isoformat() if when else ""
        text = " · ".join(p for p in (day, text, values.get("venue") or "") if p)
    number = values.get("number")
    return f"{number} · {text}" if number else text


def titles(s: Any, org_id: str, target: str, ids: Iterable[str]) -> dict[str, str]:
    """Names for ``ids`` of entity ``target`` (deleted ones too: a reference outlives it)."""
    ids = set(ids)
    if not ids:
        return {}
    spec = registry()[target]
    cols = _columns(spec)
    stmt = select(*cols).where(spec.model.org_id == org_id, spec.model.id.in_(ids))
    return {r.id: label(spec, r._asdict()) for r in s.execute(stmt)}


def choices(s: Any, org_id: str, target: str) -> list[tuple[str, str]]:
    """(id, name) of the live records of ``target`` for a dropdown, in reading order
    (shows by date, others by name)."""
    spec = registry()[target]
    model = spec.model
    order = getattr(model, "starts_at" if target == "shows" else spec.title_field)
    stmt = (
        select(*_columns(spec))
        .where(model.org_id == org_id, model.deleted_at.is_(None))
        .order_by(order)
        .limit(MAX_CHOICES)
    )
    return [(r.id, label(spec, r._asdict())) for r in s.execute(stmt)]


def _like(column: Any, text: str) -> Any:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def search_clause(spec: EntitySpec, org_id: str, text: str, *, depth: int = 2) -> Any:
    """Rows whose own search fields contain ``text``, or whose references' names do (a
    job found by its machine, its project, or its project's client). Subqueries on the
    referenced tables' names, so SQLite answers from their (org_id, name) indexes."""
    from sqlalchemy import false, or_

    model = spec.model
    text = text.strip()
    parts = [_like(getattr(model, f), text) for f in spec.search]
    if hasattr(model, "number"):
        parts.append(_like(model.number, text))
    if depth > 0:
        reg = registry()
        for col, target in spec.refs.items():
            if target == spec.name or (target == "users" and depth < 2):
                continue
            tspec = reg[target]
            inner = search_clause(tspec, org_id, text, depth=depth - 1)
            ids = select(tspec.model.id).where(tspec.model.org_id == org_id, inner)
            parts.append(getattr(model, col).in_(ids))
    return or_(*parts) if parts else false()
