"""How stored values read in a table cell: decimals without trailing noise, times in
the user's local zone, lists joined, money in the user's language. Pure functions (of the
value and the chosen language) so models and exports agree."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.iso import minor_units
from desktop.i18n import language


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


def display_at(value: datetime | None, tz: str | None) -> str:
    """An instant that happens somewhere, as it reads there: '2026-03-29 21:30 Madrid'."""
    if value is None:
        return ""
    from core.tour.timezones import local_time

    return local_time(value, tz).text()


def home_note(value: datetime | None, tz: str | None) -> str:
    """The office's own time for the same instant, when its clock differs ('' if not)."""
    if value is None:
        return ""
    from core.tour.timezones import home_zone, local_time

    return local_time(value, tz, home_zone()).home_text()


def format_decimal(value: Decimal) -> str:
    """Plain digits for editing and formulas (no grouping, so it reads back as typed)."""
    text = format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def money(value: Decimal | str | None, currency: str = "") -> str:
    """An amount with its currency's decimals (ISO 4217: none for JPY, three for KWD, as
    core rounds them) in the digits of the user's language, by Babel (CLDR): 1,234.50 in
    English, 1.234,50 in Spanish. The code follows the amount, unambiguous for any currency."""
    if value is None:
        return ""
    from babel.numbers import format_decimal as cldr_decimal

    amount = Decimal(value) if not isinstance(value, Decimal) else value
    places = minor_units(currency) if currency else 2
    pattern = "#,##0" + ("." + "0" * places if places else "")
    text = cldr_decimal(amount, format=pattern, locale=language())
    return f"{text} {currency}".strip()


def is_numeric(value: Any) -> bool:
    return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)


def number(value: int | Decimal | float) -> str:
    """A number as people read it in their language (CLDR via Babel): 2,325.5 in English,
    2.325,5 in Spanish. For tables and labels; editors keep ``format_decimal``."""
    from babel.numbers import format_decimal as cldr_decimal

    return str(cldr_decimal(value, locale=language(), decimal_quantization=False))


def cell_text(value: Any) -> str:
    """What a table cell or an export shows: numbers in the language's digits, dates and
    times in its order, lists joined. JSON payloads are summarised as "key: value"."""
    if isinstance(value, bool) or value is None:
        return display(value)
    if is_numeric(value):
        return number(value)
    if isinstance(value, datetime):
        from babel.dates import format_datetime

        return str(format_datetime(value.astimezone(), "short", locale=language()))
    if isinstance(value, date):
        from babel.dates import format_date

        return str(format_date(value, "medium", locale=language()))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {cell_text(v) if not isinstance(v, str) else v}"
                         for k, v in value.items())[:200]  # fmt: skip
    return display(value)
