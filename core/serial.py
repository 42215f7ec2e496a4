"""Row values to and from JSON, driven by the column types: the one conversion used by
the outbox, the audit log, the change feed and the sync apply step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Date, inspect

from core.orm.types import Fixed, UTCDateTime


def to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _from_json_for(coltype: Any) -> Callable[[Any], Any]:
    if isinstance(coltype, Fixed):
        return lambda v: None if v is None else Decimal(str(v))
    if isinstance(coltype, UTCDateTime):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if isinstance(coltype, Date):
        return lambda v: None if v is None else date.fromisoformat(v)
    return lambda v: v


@cache
def converters(model: Any) -> dict[str, Callable[[Any], Any]]:
    return {c.key: _from_json_for(c.type) for c in _columns(model)}


def _columns(model: Any) -> list[Any]:
    return list(inspect(model).columns)


def row_to_json(row: Any, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    # A mapped row, or a plain one standing for its model (``core.writes.create_many``).
    model: Any = getattr(type(row), "model_of", type(row))
    conv = converters(model)
    keys = names if names is not None else tuple(conv)
    return {k: to_json(getattr(row, k)) for k in keys}


def values_from_json(model: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON values back to Python values for the model's columns (unknown keys dropped)."""
    conv = converters(model)
    return {k: conv[k](v) for k, v in data.items() if k in conv}


@cache
def _quanta(model: Any) -> dict[str, Decimal]:
    return {
        c.key: Decimal(1).scaleb(-c.type.scale)
        for c in _columns(model)
        if isinstance(c.type, Fixed)
    }


def normalise(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Round decimals to their column's scale so that the value recorded in the outbox,
    the audit log and the feed is exactly the value stored."""
    for key, quantum in _quanta(model).items():
        v = values.get(key)
        if v is not None:
            values[key] = Decimal(v).quantize(quantum)
    return values
