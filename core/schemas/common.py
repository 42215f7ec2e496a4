"""Field types shared by the entity schemas, and the generic derivation of the update
(partial) and read models from one field definition per entity."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
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

from core.iso import COUNTRIES, CURRENCIES


class Strict(BaseModel):
    """Input models refuse unknown fields so that a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _upper(v: Any) -> Any:
    return v.strip().upper() if isinstance(v, str) else v


def _currency(v: str) -> str:
    if v not in CURRENCIES:
        raise ValueError(f"'{v}' is not an ISO 4217 currency code")
    return v


def _country(v: str) -> str:
    if v not in COUNTRIES:
        raise ValueError(f"'{v}' is not an ISO 3166-1 alpha-2 country code")
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
RefId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=4, ge=-(10**13), le=10**13)]
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
Timestamp = AwareDatetime
IdList = Annotated[list[RefId], Field(max_length=100)]

ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


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
