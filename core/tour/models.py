"""Tour domain: shows, their costs, travel, other calendar days and finance rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.orm.base import ID, Base, Synced, live_unique, ref
from core.orm.types import Fixed


class Show(Synced, Base):
    __tablename__ = "shows"
    __table_args__ = (ref("owner_id", "users"), Index("ix_shows_starts", "org_id", "starts_at"))
    owner_id: Mapped[str | None] = mapped_column(ID)
    # The number people see (VLC-SH-0007), unique across the organisation's sites.
    doc_number: Mapped[str | None] = mapped_column(String(32))
    tour: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(120))
    country: Mapped[str] = mapped_column(String(2))
    venue: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    tz: Mapped[str] = mapped_column(String(64), default="UTC")
    fee: Mapped[Decimal] = mapped_column(Fixed(4))
    currency: Mapped[str] = mapped_column(String(3))
    mgmt_agency: Mapped[str | None] = mapped_column(String(200))
    mgmt_pct: Mapped[Decimal] = mapped_column(Fixed(4), default=Decimal(0))
    booking_agency: Mapped[str | None] = mapped_column(String(200))
    booking_pct: Mapped[Decimal] = mapped_column(Fixed(4), default=Decimal(0))
    wht_pct: Mapped[Decimal] = mapped_column(Fixed(4), default=Decimal(0))
    # Rate from the fee's currency to the organisation's home currency, fixed on the
    # record so that a settlement never changes after the fact.
    fx_rate: Mapped[Decimal | None] = mapped_column(Fixed(8))
    # Rates into the fee's currency for costs paid in others ({"USD": "0.92"}), kept as
    # decimal strings; a cost with neither its own rate nor one here is reported.
    fx_rates: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)


class ShowCost(Synced, Base):
    __tablename__ = "show_costs"
    __table_args__ = (ref("show_id", "shows"),)
    show_id: Mapped[str] = mapped_column(ID)
    type: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Fixed(4))
    currency: Mapped[str] = mapped_column(String(3))
    # Rate into the show's fee currency when the cost was paid in another one.
    fx_rate: Mapped[Decimal | None] = mapped_column(Fixed(8))
    is_production: Mapped[bool] = mapped_column(Boolean, default=False)


class Travel(Synced, Base):
    __tablename__ = "travel"
    __table_args__ = (ref("show_id", "shows"), Index("ix_travel_departs", "org_id", "departs_at"))
    show_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(10))
    origin: Mapped[str] = mapped_column(String(120))
    destination: Mapped[str] = mapped_column(String(120))
    departs_at: Mapped[datetime]
    departs_tz: Mapped[str] = mapped_column(String(64), default="UTC")
    arrives_at: Mapped[datetime | None]
    arrives_tz: Mapped[str] = mapped_column(String(64), default="UTC")
    reference: Mapped[str | None] = mapped_column(String(100))
    cost: Mapped[Decimal | None] = mapped_column(Fixed(4))
    currency: Mapped[str | None] = mapped_column(String(3))
    people: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)


class CalendarEntry(Synced, Base):
    """A day that is not a show: day off, rehearsal, promo."""

    __tablename__ = "calendar_entries"
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    location: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)


class FinanceRule(Synced, Base):
    """How settlements are computed for the organisation (user_id empty) or one user."""

    __tablename__ = "finance_rules"
    __table_args__ = (ref("user_id", "users"), live_unique("finance_rules", "user_id"))
    user_id: Mapped[str | None] = mapped_column(ID)
    home_currency: Mapped[str] = mapped_column(String(3))
    mgmt_base: Mapped[str] = mapped_column(String(30), default="gross")
    booking_base: Mapped[str] = mapped_column(String(30), default="gross")
