"""Field types shared by the entity schemas, and the generic derivation of the update
(partial) and read models from one field definition per entity."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
)
from pydantic_core import PydanticCustomError

from core import iso


class Strict(BaseModel):
    """Input models refuse unknown fields so that a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _upper(v: Any) -> Any:
    return v.strip().upper() if isinstance(v, str) else v


# Each refusal has its own error type (and the code in its context) so an edge can say
# it in the user's language; withdrawn codes are named as such, not as typos.
_CURRENCY_ERRORS = {
    "withdrawn": ("currency_withdrawn", "'{code}' is no longer a current ISO 4217 currency"),
    "special": ("currency_not_money", "'{code}' is an ISO 4217 fund or unit, not a currency"),
    "unknown": ("currency_code", "'{code}' is not an ISO 4217 currency code"),
}
_COUNTRY_ERRORS = {
    "withdrawn": ("country_withdrawn", "'{code}' is a withdrawn ISO 3166 country code"),
    "unknown": ("country_code", "'{code}' is not an ISO 3166-1 alpha-2 country code"),
}


def _currency(v: str) -> str:
    status = iso.currency_status(v)
    if status != "current":
        kind, message = _CURRENCY_ERRORS[status]
        raise PydanticCustomError(kind, message, {"code": v})
    return v


def _country(v: str) -> str:
    status = iso.country_status(v)
    if status != "current":
        kind, message = _COUNTRY_ERRORS[status]
        raise PydanticCustomError(kind, message, {"code": v})
    return v


def _tz(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"'{v}' is not a known time zone") from exc
    return v


def _no_nul(v: str) -> str:
    if "\x00" in v:
        raise ValueError("text may not contain NUL characters")
    return v


Currency = Annotated[str, BeforeValidator(_upper), AfterValidator(_currency)]
Country = Annotated[str, BeforeValidator(_upper), AfterValidator(_country)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_tz)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
ShortText = Annotated[str, Field(max_length=200), AfterValidator(_no_nul)]
LongText = Annotated[str, Field(max_length=10_000), AfterValidator(_no_nul)]

# What an id may be, written once for every entry point: the uuid7 strings made here or
# the keys an import or a device brings ("m-1952365123713"), so letters, digits and . _ : -,
# at most the 64 characters an id column holds. Schemas (entity fields, FastAPI path and
# header parameters) take ID_CONSTRAINTS and so show a pattern plus lengths in OpenAPI;
# plain code (the write path, the request-id middleware) matches ID_PATTERN.
ID_MAX_LENGTH = 64
_ID_CHARS = "A-Za-z0-9._:-"
ID_REGEX = rf"^[{_ID_CHARS}]+$"
ID_PATTERN = re.compile(rf"^[{_ID_CHARS}]{{1,{ID_MAX_LENGTH}}}$")
ID_CONSTRAINTS: dict[str, Any] = {"min_length": 1, "max_length": ID_MAX_LENGTH, "pattern": ID_REGEX}

RefId = Annotated[str, Field(**ID_CONSTRAINTS)]
NonNegMoney = Annotated[Decimal, Field(max_digits=18, decimal_places=4, ge=0, le=10**13)]
Percent = Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)]
Ratio = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
Quantity = Annotated[Decimal, Field(ge=0, le=10**12, decimal_places=3)]
Rate = Annotated[Decimal, Field(gt=0, le=10**9, decimal_places=8)]
Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Email = Annotated[
    str,
    Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
]
Timestamp = Annotated[AwareDatetime, AfterValidator(lambda v: utc_in_domain(v))]
# A document number (site code, kind, sequence: VLC-OT-0042); assigned by the write path.
DocNumber = Annotated[str, Field(max_length=32, pattern=r"^[A-Z0-9]{1,8}-[A-Z]{2}-[0-9]{4,}$")]
# A reported quantity: negative only in a correcting report (core.factory.rules).
SignedQuantity = Annotated[Decimal, Field(ge=-(10**9), le=10**9, decimal_places=3)]
IdList = Annotated[list[RefId], Field(max_length=100)]

# ---------------------------------------------------------------- value domains
#
# Every number and instant a client sends is checked against what its column can hold
# *before* Python arithmetic or SQL sees it: ``Decimal("1e400000") * 1000`` builds a
# 400,000-digit integer (seconds of CPU), ``NaN`` compares false with everything, and a
# date-time near year 1 or 9999 overflows when converted to UTC. The filter parser
# (core.queries), the entity schemas (via ``Timestamp`` and the numeric types) and the
# legacy import all come through here, so every entry point gets the same bounds.

INT64_MAX = 2**63 - 1
# A number written with more characters than this is no number any column holds.
MAX_NUMBER_TEXT = 40


class OutOfDomain(ValueError):
    """A value outside what its column can store (message names the rule, not data)."""


def decimal_in_domain(value: object, *, scale: int | None = None) -> Decimal:
    """A finite Decimal whose magnitude fits the column: a ``Fixed(scale)`` column keeps
    ``value * 10**scale`` in a signed 64-bit integer. Checked on the exponent first, so
    no arithmetic ever runs on a huge value."""
    if isinstance(value, bool):
        raise OutOfDomain("expected a number")
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_NUMBER_TEXT:
            raise OutOfDomain(f"expected a number of at most {MAX_NUMBER_TEXT} characters")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise OutOfDomain("expected a number") from None
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > INT64_MAX:
            raise OutOfDomain("number out of range")
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    else:
        raise OutOfDomain("expected a number")
    if not d.is_finite():
        raise OutOfDomain("expected a finite number")
    if d.is_zero():
        return d
    limit_digits = 18 - (scale or 0)  # 10**18 < 2**63
    if d.adjusted() >= limit_digits:
        raise OutOfDomain("number out of range")
    if d.adjusted() < -30:
        return Decimal(0)  # far below any column's resolution
    return d


def int_in_domain(value: object) -> int:
    """A whole number that fits a signed 64-bit column."""
    if isinstance(value, bool):
        raise OutOfDomain("expected a whole number")
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 20:
            raise OutOfDomain("expected a whole number")
        try:
            value = int(text)
        except ValueError:
            raise OutOfDomain("expected a whole number") from None
    if not isinstance(value, int):
        raise OutOfDomain("expected a whole number")
    if abs(value) > INT64_MAX:
        raise OutOfDomain("number out of range")
    return value


def utc_in_domain(value: datetime) -> datetime:
    """An aware datetime that converts to UTC and stays within years 1..9999."""
    if value.tzinfo is None:
        raise OutOfDomain("needs a time zone")
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise OutOfDomain("date and time out of range once converted to UTC") from None


def parse_utc(text: str) -> datetime:
    """ISO 8601 text with an offset ("Z" allowed) to an aware UTC datetime."""
    if len(text) > 64:
        raise OutOfDomain("not an ISO 8601 date and time")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OutOfDomain("not an ISO 8601 date and time") from None
    return utc_in_domain(value)


def parse_date(text: str) -> date:
    if len(text) > 32:
        raise OutOfDomain("not an ISO 8601 date")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise OutOfDomain("not an ISO 8601 date") from None


def partial_model(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The same fields, all optional and without defaults: a PATCH body.

    Constraints travel in each field's metadata, so they still apply to given values.
    """
    fields: dict[str, Any] = {}
    for fname, info in model.model_fields.items():
        base: Any = info.annotation
        ann: Any = Annotated[base, *info.metadata] if info.metadata else base
        fields[fname] = (ann | None, Field(default=None, description=info.description))
    return create_model(name, __base__=Strict, **fields)


class RowMeta(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    version: int
    sync_version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None
    deleted_at: datetime | None = None


def read_model(
    model: type[BaseModel], name: str, *, exclude: frozenset[str] = frozenset()
) -> type[BaseModel]:
    """Stored fields plus row metadata: what the API and the sync feed return."""
    fields: dict[str, Any] = {}
    for fname, info in model.model_fields.items():
        if fname in exclude:
            continue
        # Reads show what is stored, so no input constraints here (legacy rows may be
        # outside today's limits and must still be readable).
        fields[fname] = (info.annotation, None if not info.is_required() else ...)
    return create_model(name, __base__=RowMeta, **fields)
