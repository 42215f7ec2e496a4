"""Input fields of the tour entities."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic.json_schema import JsonDict
from pydantic_core import PydanticCustomError

from core.fields import (
    Country,
    Currency,
    DocNumber,
    LongText,
    Name,
    NonNegMoney,
    Percent,
    Rate,
    RefId,
    ShortText,
    Strict,
    Timestamp,
    TimeZone,
)

ShowStatus = Literal["draft", "pending", "confirmed", "completed", "canceled"]
CostType = Literal["sound", "light", "transport", "hotel", "catering", "backline", "other"]
TravelKind = Literal["flight", "train", "bus", "car", "hotel"]
CalendarKind = Literal["day_off", "rehearsal", "promo", "travel_day", "other"]
CommissionBase = Literal["gross", "gross_less_production"]


# The zone field of each instant: the instant is shown and typed in that place's time.
def _in_zone(zone_field: str) -> JsonDict:
    return {"x-zone-field": zone_field}


_RATE: TypeAdapter[Decimal] = TypeAdapter(Rate)


def _rate_text(value: Any) -> str:
    # Stored as a decimal string: JSON has no decimal type and a float would drift.
    if isinstance(value, bool):
        raise PydanticCustomError("rate_invalid", "rate_invalid")
    try:
        rate = _RATE.validate_python(value if isinstance(value, Decimal) else str(value))
    except ValidationError:
        raise PydanticCustomError("rate_invalid", "rate_invalid") from None
    return format(rate.normalize(), "f")


# {"USD": "0.92"}: how much one unit of each other currency is in the show's fee
# currency, entered by the office for the costs paid in it (see core.tour.finance).
Rates = Annotated[dict[Currency, Annotated[str, BeforeValidator(_rate_text)]], Field(max_length=30)]

# Costs that are production by default (the settlement's "gross less production" base).
PRODUCTION_TYPES = frozenset({"sound", "light", "backline"})


class ShowFields(Strict):
    doc_number: DocNumber | None = None
    city: Name
    country: Country
    venue: ShortText | None = None
    starts_at: Timestamp = Field(json_schema_extra=_in_zone("tz"))
    tz: TimeZone = "UTC"
    fee: NonNegMoney
    currency: Currency
    tour: ShortText | None = None
    owner_id: RefId | None = None
    mgmt_agency: ShortText | None = None
    mgmt_pct: Percent = Decimal(0)
    booking_agency: ShortText | None = None
    booking_pct: Percent = Decimal(0)
    wht_pct: Percent = Decimal(0)
    fx_rate: Rate | None = None
    fx_rates: Rates | None = None
    status: ShowStatus = "draft"
    notes: LongText | None = None


class ShowCostFields(Strict):
    show_id: RefId
    type: CostType
    amount: NonNegMoney
    currency: Currency
    description: ShortText | None = None
    fx_rate: Rate | None = None
    is_production: bool | None = None


class TravelFields(Strict):
    kind: TravelKind
    origin: Name
    destination: Name
    departs_at: Timestamp = Field(json_schema_extra=_in_zone("departs_tz"))
    departs_tz: TimeZone = "UTC"
    arrives_at: Timestamp | None = Field(default=None, json_schema_extra=_in_zone("arrives_tz"))
    arrives_tz: TimeZone = "UTC"
    show_id: RefId | None = None
    reference: ShortText | None = None
    cost: NonNegMoney | None = None
    currency: Currency | None = None
    people: list[ShortText] = Field(default_factory=list, max_length=100)
    notes: LongText | None = None


class CalendarEntryFields(Strict):
    kind: CalendarKind
    title: Name
    starts_on: date
    ends_on: date | None = None
    location: ShortText | None = None
    notes: LongText | None = None


class FinanceRuleFields(Strict):
    home_currency: Currency
    user_id: RefId | None = None
    mgmt_base: CommissionBase = "gross"
    booking_base: CommissionBase = "gross"
