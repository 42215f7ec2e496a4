"""What kind of editor each schema field needs, and text ⇄ value for it.

Driven by the entity's pydantic input model from the registry, so a new entity or field
gets a working, validating form with no desktop code.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ValidationError

from core import iso
from core.registry import EntitySpec
from desktop.i18n import field_label, language, tr
from desktop.models.formatting import display, format_decimal

MULTILINE = {"description", "notes", "body", "address"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    # text | multiline | choice | bool | int | number | date | datetime | list | json | ref
    kind: str
    required: bool
    choices: tuple[str, ...] = ()
    ref: str | None = None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) with Optional and Annotated peeled off."""
    optional = False
    t = annotation
    while True:
        origin = typing.get_origin(t)
        if origin is typing.Annotated:
            t = typing.get_args(t)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(t))
            if len(args) != 1:
                return t, optional
            t = args[0]
        else:
            return t, optional


def field_specs(spec: EntitySpec) -> list[FieldSpec]:
    out = []
    refs = {**spec.refs}
    for name, info in spec.fields.model_fields.items():
        if name in spec.secret_inputs:
            continue
        t, _optional = _unwrap(info.annotation)
        origin = typing.get_origin(t)
        choices: tuple[str, ...] = ()
        if name in refs:
            kind = "ref"
        elif origin is Literal:
            kind, choices = "choice", tuple(str(a) for a in typing.get_args(t))
        elif t is bool:
            kind = "bool"
        elif t is int:
            kind = "int"
        elif t is Decimal:
            kind = "number"
        elif t in (datetime, AwareDatetime):
            kind = "datetime"
        elif t is date:
            kind = "date"
        elif origin is list or t is list:
            kind = "list"
        elif origin is dict or t is dict:
            kind = "json"
        else:
            kind = "multiline" if name in MULTILINE else "text"
        out.append(FieldSpec(name, field_label(name), kind, info.is_required(), choices,
                             refs.get(name)))  # fmt: skip
    return out


def to_text(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "number" and isinstance(value, Decimal):
        return format_decimal(value)
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M")
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "bool":
        return "true" if value else "false"
    return display(value)


class ParseError(ValueError):
    pass


def from_text(kind: str, text: str) -> Any:
    """The typed value for an editor's text (None for empty). Raises ParseError."""
    text = text.strip()
    if text == "":
        return [] if kind == "list" else None
    try:
        if kind == "int":
            return int(text)
        if kind == "number":
            # Decimal comma (Spanish keyboards) when there is no dot.
            return Decimal(text.replace(",", ".") if "." not in text else text.replace(",", ""))
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "datetime":
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return value if value.tzinfo else value.astimezone()  # local time as typed
        if kind == "bool":
            return text.lower() in ("true", "1", "yes", "sí", "si")
        if kind == "list":
            return [p.strip() for p in text.split(",") if p.strip()]
        if kind == "json":
            return json.loads(text)
    except (ValueError, InvalidOperation, json.JSONDecodeError) as exc:
        # Whole sentences, so each language words them its own way.
        expected = {"int": "Expected a whole number", "number": "Expected a number",
                    "date": "Expected a date (YYYY-MM-DD)",
                    "datetime": "Expected a date and time (YYYY-MM-DD HH:MM)",
                    "json": "Expected JSON"}.get(kind, "Expected a value")  # fmt: skip
        raise ParseError(tr(expected)) from exc
    return text


def check_field(model: type[BaseModel], name: str, value: Any, required: bool) -> str:
    """'' when the value is acceptable for this field alone, else the message."""
    if value is None or value == "":
        return tr("Required") if required else ""
    try:
        model.model_validate({name: value})
    except ValidationError as exc:
        return friendly(name, exc.errors(include_url=False)[0])
    return ""


# The error types core.fields raises for country and currency codes; a withdrawn code is
# shown with its name so the user sees which currency or country it was.
_CODE_ERRORS = {
    "currency_code": "Not a currency code (ISO 4217, e.g. EUR)",
    "currency_withdrawn": "{name} ({code}) is no longer in use",
    "currency_not_money": "{name} ({code}) is not a currency for payments",
    "country_code": "Not a country code (ISO 3166, e.g. ES)",
    "country_withdrawn": "{name} ({code}) is no longer a country code",
}


def friendly(name: str, err: Any) -> str:
    """A pydantic error in words for people (no regular expressions on screen)."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        return tr("Not a valid e-mail address") if "email" in name else tr("Invalid format")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        key = {"greater_than_equal": ("ge", "Must be at least {n}"),
               "greater_than": ("gt", "Must be greater than {n}"),
               "less_than_equal": ("le", "Must be at most {n}"),
               "less_than": ("lt", "Must be at most {n}")}[kind]  # fmt: skip
        return tr(key[1], n=ctx.get(key[0], ""))
    if kind == "string_too_long":
        return tr("At most {n} characters", n=ctx.get("max_length", ""))
    if kind == "decimal_max_places":
        return tr("At most {n} decimal places", n=ctx.get("decimal_places", ""))
    if kind == "rate_invalid":
        return tr("Must be a positive decimal rate")
    if kind == "literal_error":
        return tr("Choose one of: {options}", options=ctx.get("expected", ""))
    if kind in _CODE_ERRORS:
        code = str(ctx.get("code", ""))
        lang: Literal["es", "en"] = "es" if language() == "es" else "en"
        named = iso.currency_name if kind.startswith("currency") else iso.country_name
        return tr(_CODE_ERRORS[kind], code=code, name=named(code, lang))
    return str(err.get("msg", "")).removeprefix("Value error, ")
