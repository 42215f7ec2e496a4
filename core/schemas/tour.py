"""Input fields of the tour entities."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from core.schemas.common import (
    Country,
    Currency,
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

# Costs that are production by default (the settlement's "gross less production" base).
PRODUCTION_TYPES = frozenset({"sound", "light", "backline"})


class ShowFields(Strict):
    city: Name
    country: Country
    venue: ShortText | None = None
    starts_at: Timestamp
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
    departs_at: Timestamp
    departs_tz: TimeZone = "UTC"
    arrives_at: Timestamp | None = None
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
