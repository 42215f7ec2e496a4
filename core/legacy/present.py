"""Stored rows -> rows as the old browser apps kept them (the way back, and the
compatibility APIs). The reverse of ``core.legacy.mapping``, from its tables: what this
writes, ``map_row`` reads back to the same fields.

- keys: the old app's name (``LEGACY_NAMES``), else the camelCase of ours;
- values: numbers as JSON numbers, times as ``Date.toISOString()`` wrote them, enums
  in the old spelling (roles: the one the row was imported with, if still true);
- flags the old apps kept (``dismissed``, ``read``) next to our time;
- whatever the import kept in ``extra`` comes back under its own key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from core.legacy import coerce as c
from core.legacy.mapping import FLAGS, LEGACY_NAMES, LEGACY_ROLES, PIECES_NAMES, ROLES
from core.orm.base import SYSTEM_COLUMNS
from core.registry import EntitySpec


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def legacy_value(value: Any) -> Any:
    """A stored value as the old app held it in JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


@cache
def _keys(entity: str, fields: tuple[str, ...]) -> dict[str, str]:
    names = LEGACY_NAMES.get(entity, {})
    return {f: names.get(f, camel(f)) for f in fields}


def legacy_key(spec: EntitySpec, field: str, *, pieces: bool = False) -> str:
    """The old app's key for one of our fields (to name it in an error)."""
    if pieces and field in PIECES_NAMES:
        return PIECES_NAMES[field]
    return _keys(spec.name, spec.stored_fields).get(field, camel(field))


def legacy_role(role: str, remembered: Any) -> str:
    if isinstance(remembered, str) and ROLES.get(remembered.strip().upper()) == role:
        return remembered
    return LEGACY_ROLES.get(role, role.upper())


def to_legacy(spec: EntitySpec, row: Any, *, meta: bool = False) -> dict[str, Any]:
    """One stored row in the old app's shape. ``meta`` adds what a live client needs
    beyond that (``version`` for optimistic checks, ``createdAt``/``updatedAt``)."""
    entity = spec.name
    extra: dict[str, Any] = dict(row.extra or {})
    out: dict[str, Any] = {"id": row.id}
    pieces = entity == "jobs" and getattr(row, "unit", None) == "pcs"
    for field, key in _keys(entity, spec.stored_fields).items():
        if pieces and field in PIECES_NAMES:
            key = PIECES_NAMES[field]
        elif pieces and field == "unit":
            continue  # said by the keys' names
        elif entity == "jobs" and field == "unit":
            continue  # metres: the old app's default, named by quantityMeters
        value = getattr(row, field)
        if entity == "users" and field == "role":
            value = legacy_role(value, extra.get("legacy_role"))
        out[key] = legacy_value(value)
    for flag, field in FLAGS.get(entity, {}).items():
        out[flag] = getattr(row, field) is not None
    for key, value in extra.items():
        if key == "legacy_role" and entity == "users":
            continue
        name = camel(key) if key in SYSTEM_COLUMNS else key
        out.setdefault(name, value)
    if meta:
        out.setdefault("createdAt", legacy_value(row.created_at))
        out["updatedAt"] = legacy_value(row.updated_at)
        out["version"] = row.version
    return out


# Keys a client sends back with a row it read that are not fields to write.
READ_ONLY_KEYS = frozenset({"id", "version", "createdAt", "updatedAt", "created_at", "updated_at"})


def unknown_keys(spec: EntitySpec, raw: dict[str, Any], row: Any | None) -> list[str]:
    """Keys of an update that name no field of ours. A key the row already holds with
    the same value in ``extra`` (the client sent back what it read) is not unknown."""
    from core.legacy.mapping import ALIASES, SECRET_KEYS, SPECIALS

    fields = set(spec.fields.model_fields)
    aliases = ALIASES.get(spec.name, {})
    extra = dict(row.extra or {}) if row is not None else {}
    out = []
    for key, value in raw.items():
        if key in READ_ONLY_KEYS:
            continue
        skey = c.snake(key)
        if aliases.get(skey, skey) in fields or skey in SPECIALS.get(spec.name, ()):
            continue
        if skey in SECRET_KEYS or extra.get(key, object()) == value:
            continue
        out.append(key)
    return out
