"""A month of shows, travel and other days, keyed by local date (each item in its own
time zone: a show at 23:30 in Mexico City is on that day there)."""

from __future__ import annotations

import calendar as _cal
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from core.models import CalendarEntry, Show, Travel
from core.tour.timezones import local_date, local_time


@dataclass(frozen=True)
class CalendarItem:
    day: date
    kind: str  # show | travel | day_off | rehearsal | ...
    text: str
    id: str
    entity: str


def month_items(session: Any, year: int, month: int) -> dict[date, list[CalendarItem]]:
    first = date(year, month, 1)
    last = date(year, month, _cal.monthrange(year, month)[1])
    # A day away on each side covers every time zone.
    start = datetime.combine(first - timedelta(days=1), time(), UTC)
    end = datetime.combine(last + timedelta(days=2), time(), UTC)
    out: dict[date, list[CalendarItem]] = defaultdict(list)
    org = session.org_id
    with session.read() as s:
        for sh in s.scalars(
            select(Show).where(
                Show.org_id == org,
                Show.deleted_at.is_(None),
                Show.starts_at >= start,
                Show.starts_at < end,
            )
        ):
            at = local_time(sh.starts_at, sh.tz)
            d = at.date
            if first <= d <= last:
                text = f"♪ {at.text(with_date=False, with_zone=False)} {sh.city}"
                out[d].append(CalendarItem(d, "show", text, sh.id, "shows"))
        for t in s.scalars(select(Travel).where(Travel.org_id == org, Travel.deleted_at.is_(None),
                                                Travel.departs_at >= start,
                                                Travel.departs_at < end)):  # fmt: skip
            d = local_date(t.departs_at, t.departs_tz)
            if first <= d <= last:
                out[d].append(CalendarItem(d, "travel", f"→ {t.destination}", t.id, "travel"))
        for c in s.scalars(select(CalendarEntry).where(
                CalendarEntry.org_id == org, CalendarEntry.deleted_at.is_(None),
                CalendarEntry.starts_on <= last)):  # fmt: skip
            d = max(c.starts_on, first)
            while d <= min(c.ends_on or c.starts_on, last):
                out[d].append(CalendarItem(d, c.kind, c.title, c.id, "calendar_entries"))
                d += timedelta(days=1)
    for items in out.values():
        items.sort(key=lambda i: (i.kind != "show", i.text))
    return dict(out)


def month_grid(year: int, month: int) -> list[list[date | None]]:
    """Weeks (Monday first) of the month; None outside it."""
    weeks = _cal.Calendar(firstweekday=0).monthdatescalendar(year, month)
    return [[d if d.month == month else None for d in week] for week in weeks]
