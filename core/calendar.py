"""The tour calendar: shows, travel and other days in one list, and its iCalendar
(RFC 5545) export so that phones and office calendars can subscribe to it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import CalendarEntry, Show, Travel

# Without an end a show occupies the evening and a trip its departure hour.
SHOW_LENGTH = timedelta(hours=3)
TRAVEL_LENGTH = timedelta(hours=1)


def calendar_items(
    session: Session, *, org_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Everything on the calendar in [start, end), in time order. Canceled shows stay
    (marked) because crews plan around them; deleted rows do not."""
    items: list[dict[str, Any]] = []
    shows = select(Show).where(
        Show.org_id == org_id,
        Show.deleted_at.is_(None),
        Show.starts_at >= start,
        Show.starts_at < end,
    )
    for s in session.scalars(shows):
        items.append(
            {
                "kind": "show",
                "id": s.id,
                "title": f"{s.city}: {s.venue}" if s.venue else s.city,
                "starts_at": s.starts_at,
                "ends_at": s.starts_at + SHOW_LENGTH,
                "tz": s.tz,
                "all_day": False,
                "location": ", ".join(x for x in (s.venue, s.city, s.country) if x),
                "status": s.status,
            }
        )
    trips = select(Travel).where(
        Travel.org_id == org_id,
        Travel.deleted_at.is_(None),
        Travel.departs_at >= start,
        Travel.departs_at < end,
    )
    for t in session.scalars(trips):
        items.append(
            {
                "kind": "travel",
                "id": t.id,
                "title": f"{t.kind}: {t.origin} → {t.destination}",
                "starts_at": t.departs_at,
                "ends_at": t.arrives_at or t.departs_at + TRAVEL_LENGTH,
                "tz": t.departs_tz,
                "all_day": False,
                "location": t.origin,
                "status": t.reference or "",
            }
        )
    days = select(CalendarEntry).where(
        CalendarEntry.org_id == org_id,
        CalendarEntry.deleted_at.is_(None),
        CalendarEntry.starts_on < end.date() + timedelta(days=1),
        ((CalendarEntry.ends_on.is_(None)) & (CalendarEntry.starts_on >= start.date()))
        | (CalendarEntry.ends_on >= start.date()),
    )
    for c in session.scalars(days):
        first, last = c.starts_on, c.ends_on or c.starts_on
        items.append(
            {
                "kind": c.kind,
                "id": c.id,
                "title": c.title,
                "starts_at": datetime.combine(first, time(), UTC),
                "ends_at": datetime.combine(last + timedelta(days=1), time(), UTC),
                "tz": "UTC",
                "all_day": True,
                "location": c.location or "",
                "status": "",
            }
        )
    return sorted(items, key=lambda i: (i["starts_at"], i["kind"], i["id"]))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> Iterable[str]:
    """Lines longer than 75 octets are folded (RFC 5545 3.1), never inside a character."""
    data = line.encode()
    while len(data) > 75:
        cut = 75
        while (data[cut] & 0xC0) == 0x80:  # do not split a UTF-8 sequence
            cut -= 1
        yield data[:cut].decode()
        data = b" " + data[cut:]
    yield data.decode()


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _day(d: date) -> str:
    return d.strftime("%Y%m%d")


def to_ical(items: list[dict[str, Any]], *, calendar_name: str, now: datetime | None = None) -> str:
    now = now or utcnow()
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Structura//Tour calendar//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_escape(calendar_name)}",
    ]
    for item in items:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{item['kind']}-{item['id']}@structura",
            f"DTSTAMP:{_stamp(now)}",
        ]
        if item["all_day"]:
            lines.append(f"DTSTART;VALUE=DATE:{_day(item['starts_at'].date())}")
            lines.append(f"DTEND;VALUE=DATE:{_day(item['ends_at'].date())}")
        else:
            lines.append(f"DTSTART:{_stamp(item['starts_at'])}")
            lines.append(f"DTEND:{_stamp(item['ends_at'])}")
        lines.append(f"SUMMARY:{_escape(item['title'])}")
        if item["location"]:
            lines.append(f"LOCATION:{_escape(item['location'])}")
        lines.append(f"CATEGORIES:{item['kind'].upper()}")
        if item["status"] == "canceled":
            lines.append("STATUS:CANCELLED")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(f"{part}\r\n" for line in lines for part in _fold(line))
