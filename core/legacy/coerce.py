"""Turning the loose values of browser localStorage exports into typed values.

Real exports are messier than any sample: numbers as text, timestamps as epoch
milliseconds or bare dates, booleans as "true"/"1", enum values in another case. Each
function here takes one raw value and returns the typed value or raises ``BadValue``
with a message that never repeats the value itself (it may be a secret).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any


class BadValue(ValueError):
    """A value that cannot be coerced to the field's type."""


# Epoch values at or above this are milliseconds (1e11 s is the year 5138; 1e11 ms is
# 1973), below it seconds: the old apps used Date.now(), other tools write seconds.
_MS_THRESHOLD = 100_000_000_000
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "1", "yes", "y", "si", "sí", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off", ""})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_decimal(value: Any) -> Decimal | None:
    """Numbers, or numbers written as text ("8207", " 12.5 ", "12,5"), within the
    domain every numeric column shares (core.fields): ``1e999999`` is refused here,
    before rounding to the column's scale would try to build it digit by digit."""
    from core.fields import OutOfDomain, decimal_in_domain

    d = _to_decimal(value)
    if d is None:
        return None
    try:
        return decimal_in_domain(d)
    except OutOfDomain as exc:
        raise BadValue(str(exc)) from None


def _to_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue("expected a number, got a boolean")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise BadValue("expected a finite number")
        # Through str() so 2419.68 stays 2419.68 rather than its binary expansion.
        return Decimal(str(value))
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if text == "":
            return None
        # "12,5" is a Spanish decimal; "12,500" is ambiguous and refused below.
        if _DECIMAL_COMMA.match(text) and len(text.split(",")[1]) != 3:
            text = text.replace(",", ".")
        if _NUMBER.match(text):
            try:
                return Decimal(text)
            except InvalidOperation:  # pragma: no cover - the pattern already checked
                pass
    raise BadValue("expected a number")


def to_int(value: Any) -> int | None:
    d = to_decimal(value)
    if d is None:
        return None
    if d != d.to_integral_value():
        raise BadValue("expected a whole number")
    return int(d)


def _from_epoch(number: Decimal) -> datetime:
    seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadValue("epoch timestamp out of range") from exc


def _epoch_number(value: Any) -> Decimal:
    d = to_decimal(value)
    if d is None:
        raise BadValue("expected a date and time")
    return d


def to_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO text, a bare date (midnight UTC) or epoch ms/s.

    ISO text without an offset is taken as UTC: the old apps wrote
    ``Date.prototype.toISOString()``, which is always UTC.
    """
    if value is None:
        return None
    if _is_number(value):
        return _from_epoch(_epoch_number(value))
    if not isinstance(value, str):
        raise BadValue("expected a date and time")
    text = value.strip()
    if text == "":
        return None
    if _NUMBER.match(text):
        return _from_epoch(_epoch_number(text))
    if _BARE_DATE.match(text):
        try:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
        except ValueError as exc:
            raise BadValue("not a valid date") from exc
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadValue("not an ISO 8601 date and time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise BadValue("date and time out of range once converted to UTC") from exc


def to_date(value: Any) -> date | None:
    """A calendar date from a bare date, an ISO timestamp (its UTC date) or epoch ms."""
    if value is None:
        return None
    if isinstance(value, str) and _BARE_DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise BadValue("not a valid date") from exc
    ts = to_timestamp(value)
    return None if ts is None else ts.date()


def to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if _is_number(value):
        if value in (0, 1):
            return bool(value)
        raise BadValue("expected true or false")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise BadValue("expected true or false")


def to_text(value: Any) -> str | None:
    """Text fields sometimes hold numbers (a phone, a tax id): keep them as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise BadValue("expected text, got a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    raise BadValue("expected text")


def to_id(value: Any) -> str | None:
    """Legacy ids are text; some tools wrote them as numbers. Empty means none."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise BadValue("expected an id")


def to_id_list(value: Any) -> list[str]:
    """A list of ids, or one comma-separated text."""
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise BadValue("expected a list of ids")
    out = [to_id(v) for v in items]
    return [v for v in out if v is not None]


def to_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise BadValue("expected an object")


def to_choice(value: Any, choices: tuple[str, ...]) -> Any:
    """The allowed spelling of an enum value given in another case ("in_progress" ->
    "IN_PROGRESS", "Confirmed" -> "confirmed"). Unknown values pass through unchanged so
    that validation refuses them with the field's list of allowed values."""
    if not isinstance(value, str):
        return value
    key = value.strip().casefold().replace("-", "_").replace(" ", "_")
    for choice in choices:
        if choice.casefold() == key:
            return choice
    return value.strip()


@lru_cache(maxsize=4096)  # a file repeats the same few dozen keys on every row
def snake(name: str) -> str:
    """camelCase or snake_case key -> snake_case ("oeeAvailability" -> "oee_availability")."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.strip())
    out = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", out)
    return out.replace("-", "_").replace(" ", "_").lower()
