"""The tour calendar: shows, travel and other days in one list, and its iCalendar
(RFC 5545) export so that phones and office calendars can subscribe to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar as ICalendar
from icalendar import Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import CalendarEntry, Show, Travel
from core.tour.timezones import local

# Without an end a show occupies the evening and a trip its departure hour.
SHOW_LENGTH = timedelta(hours=3)
TRAVEL_LENGTH = timedelta(hours=1)


def _timed(instant: datetime, tz: str, length: timedelta, end: datetime | None) -> dict[str, Any]:
    finish = end or instant + length
    start_local = local(instant, tz)
    return {
        "starts_at": instant,
        "ends_at": finish,
        "tz": tz,
        "all_day": False,
        "date": start_local.date(),
        "local_start": start_local.isoformat(timespec="minutes"),
        "local_end": local(finish, tz).isoformat(timespec="minutes"),
        "starts_on": None,
        "ends_on": None,
    }


def calendar_items(
    session: Session, *, org_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Everything on the calendar in [start, end), in local-day order. Canceled shows
    stay (marked) because crews plan around them; deleted rows do not.

    Shows and travel are instants with the zone of the place (``local_start`` and
    ``date`` say how they read there); days off and the like are plain dates
    (``starts_on``/``ends_on``, both inclusive) with no instant and no zone."""
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
                **_timed(s.starts_at, s.tz or "UTC", SHOW_LENGTH, None),
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
        item = {
            "kind": "travel",
            "id": t.id,
            "title": f"{t.kind}: {t.origin} → {t.destination}",
            **_timed(t.departs_at, t.departs_tz or "UTC", TRAVEL_LENGTH, t.arrives_at),
            "location": t.origin,
            "status": t.reference or "",
        }
        if t.arrives_at is not None:  # an arrival reads in the zone it happens in
            item["local_end"] = local(t.arrives_at, t.arrives_tz).isoformat(timespec="minutes")
            item["end_tz"] = t.arrives_tz or "UTC"
        items.append(item)
    days = select(CalendarEntry).where(
        CalendarEntry.org_id == org_id,
        CalendarEntry.deleted_at.is_(None),
        CalendarEntry.starts_on < end.date() + timedelta(days=1),
        ((CalendarEntry.ends_on.is_(None)) & (CalendarEntry.starts_on >= start.date()))
        | (CalendarEntry.ends_on >= start.date()),
    )
    for c in session.scalars(days):
        items.append(
            {
                "kind": c.kind,
                "id": c.id,
                "title": c.title,
                "starts_at": None,
                "ends_at": None,
                "tz": None,
                "all_day": True,
                "date": c.starts_on,
                "local_start": None,
                "local_end": None,
                "starts_on": c.starts_on,
                "ends_on": c.ends_on or c.starts_on,
                "location": c.location or "",
                "status": "",
            }
        )
    return sorted(items, key=_order)


def _order(item: dict[str, Any]) -> tuple[Any, ...]:
    # By the day it happens on there; a whole day before the timed things of that day.
    instant = item["starts_at"] or datetime.min.replace(tzinfo=UTC)
    return (item["date"], not item["all_day"], instant, item["kind"], item["id"])


def to_ical(items: list[dict[str, Any]], *, calendar_name: str, now: datetime | None = None) -> str:
    """RFC 5545 text. Timed events carry the place's zone (``DTSTART;TZID=Asia/Tokyo``
    with its VTIMEZONE), so a phone anywhere shows a Tokyo show on its Tokyo date and
    time; whole days are ``VALUE=DATE`` (end exclusive, as the RFC wants)."""
    cal = ICalendar()
    cal.add("prodid", "-//Structura//Tour calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar_name)
    stamp = (now or utcnow()).astimezone(UTC)
    for item in items:
        ev = Event()
        ev.add("uid", f"{item['kind']}-{item['id']}@structura")
        ev.add("dtstamp", stamp)
        if item["all_day"]:
            ev.add("dtstart", item["starts_on"])
            ev.add("dtend", item["ends_on"] + timedelta(days=1))
        else:
            ev.add("dtstart", local(item["starts_at"], item["tz"]))
            ev.add("dtend", local(item["ends_at"], item.get("end_tz") or item["tz"]))
        ev.add("summary", item["title"])
        if item["location"]:
            ev.add("location", item["location"])
        ev.add("categories", [item["kind"].upper()])
        if item["status"] == "canceled":
            ev.add("status", "CANCELLED")
        cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical().decode()
