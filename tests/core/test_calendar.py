"""The tour calendar: one list of shows, travel and other days, and its RFC 5545 export."""

from datetime import UTC, datetime, timedelta

from core import writes
from core.tour.calendar import calendar_items, to_ical
from core.writes import Actor


def _seed(store, site):
    actor = Actor(org_id=site.org_id, user_id=None, role="office")
    with store.write() as s:
        show = writes.create(
            s,
            actor=actor,
            entity="shows",
            data={
                "city": "València",
                "country": "ES",
                "venue": "Sala Muñoz; aforo 900",
                "starts_at": "2026-12-04T20:00:00+01:00",
                "tz": "Europe/Madrid",
                "fee": 9000,
                "currency": "EUR",
                "status": "canceled",
            },
        )
        writes.create(
            s,
            actor=actor,
            entity="travel",
            data={
                "kind": "train",
                "origin": "Madrid",
                "destination": "València",
                "departs_at": "2026-12-04T09:00:00+01:00",
                "arrives_at": "2026-12-04T11:00:00+01:00",
            },
        )
        writes.create(
            s,
            actor=actor,
            entity="calendar_entries",
            data={
                "kind": "day_off",
                "title": "Descanso, playa",
                "starts_on": "2026-12-05",
                "ends_on": "2026-12-06",
            },
        )
        writes.create(
            s,
            actor=actor,
            entity="calendar_entries",
            data={"kind": "promo", "title": "x" * 150, "starts_on": "2027-03-01"},
        )
    return show


def test_items_in_time_order_within_the_range(store, site):
    _seed(store, site)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with store.read() as s:
        items = calendar_items(s, org_id=site.org_id, start=start, end=start + timedelta(days=30))
    assert [i["kind"] for i in items] == ["travel", "show", "day_off"]
    assert items[1]["title"] == "València: Sala Muñoz; aforo 900"
    assert items[1]["local_start"] == "2026-12-04T20:00+01:00" and items[1]["tz"] == "Europe/Madrid"
    day_off = items[2]
    assert day_off["all_day"] and day_off["starts_at"] is None and day_off["tz"] is None
    assert (day_off["starts_on"].isoformat(), day_off["ends_on"].isoformat()) == (
        "2026-12-05",
        "2026-12-06",
    )  # dates, not midnights


def test_ical_escapes_folds_and_marks_canceled(store, site):
    _seed(store, site)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with store.read() as s:
        items = calendar_items(s, org_id=site.org_id, start=start, end=start + timedelta(days=120))
    text = to_ical(items, calendar_name="Gira", now=start)
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert text.count("BEGIN:VEVENT") == 4 == text.count("END:VEVENT")
    assert "SUMMARY:València: Sala Muñoz\\; aforo 900" in lines
    assert "STATUS:CANCELLED" in lines
    # 20:00 in Madrid reads 20:00 Madrid time wherever the phone is (with its VTIMEZONE).
    assert "DTSTART;TZID=Europe/Madrid:20261204T200000" in lines
    assert "TZID:Europe/Madrid" in lines
    assert "DTSTART:20261204T080000Z" in lines  # a leg with no zone given is UTC
    assert "DTSTART;VALUE=DATE:20261205" in lines and "DTEND;VALUE=DATE:20261207" in lines
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = text.replace("\r\n ", "")
    assert "SUMMARY:" + "x" * 150 in unfolded
