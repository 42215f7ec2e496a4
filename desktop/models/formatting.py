"""How stored values read in a table cell: decimals without trailing noise, times in
the user's local zone, lists joined. Pure functions so models and exports agree."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else "—"
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)[:200]
    return str(value)


def format_decimal(value: Decimal, places: int | None = None) -> str:
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
        return f"{value:,.{places}f}"
    text = format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def money(value: Decimal | str | None, currency: str = "") -> str:
    if value is None:
        return ""
    amount = Decimal(value) if not isinstance(value, Decimal) else value
    text = f"{amount:,.2f}"
    return f"{text} {currency}".strip()


def is_numeric(value: Any) -> bool:
    return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)
