"""The tour's time model: a UTC instant plus the place's zone, read and typed in the
place's local time, across the DST changes of 2026 (Europe: 29 March and 25 October;
United States: 8 March and 1 November) and in Tokyo, which has none."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core import writes
from core.errors import Invalid
from core.tour import timezones as tzs
from core.tour.calendar import calendar_items, to_ical
from core.tour.finance import finance_totals
from core.tour.schemas import ShowFields, TravelFields
from core.writes import Actor

MADRID, TOKYO, NEW_YORK = "Europe/Madrid", "Asia/Tokyo", "America/New_York"


@pytest.mark.parametrize(
    ("wall", "tz", "utc"),
    [
        # Valencia 21:30 on the night the clocks go forward (CEST, +2) and back (CET, +1).
        (datetime(2026, 3, 29, 21, 30), MADRID, datetime(2026, 3, 29, 19, 30, tzinfo=UTC)),
        (datetime(2026, 10, 25, 21, 30), MADRID, datetime(2026, 10, 25, 20, 30, tzinfo=UTC)),
        (datetime(2026, 3, 28, 21, 30), MADRID, datetime(2026, 3, 28, 20, 30, tzinfo=UTC)),
        # New York the night of its own changes (EDT -4 from 8 March, EST -5 from 1 Nov).
        (datetime(2026, 3, 8, 20, 0), NEW_YORK, datetime(2026, 3, 9, 0, 0, tzinfo=UTC)),
        (datetime(2026, 11, 1, 20, 0), NEW_YORK, datetime(2026, 11, 2, 1, 0, tzinfo=UTC)),
        # Tokyo at 01:00 is the previous day in UTC.
        (datetime(2026, 3, 29, 1, 0), TOKYO, datetime(2026, 3, 28, 16, 0, tzinfo=UTC)),
    ],
)
def test_local_input_becomes_the_instant_and_reads_back_the_same(wall, tz, utc):
    instant = tzs.to_instant(wall, tz)
    assert instant == utc
    assert tzs.local(instant, tz).replace(tzinfo=None) == wall
    assert tzs.local_date(instant, tz) == wall.date()
    assert tzs.parse_local(wall.strftime("%Y-%m-%d %H:%M"), tz) == utc


@pytest.mark.parametrize(
    ("text", "tz"),
    [("2026-03-29 02:30", MADRID), ("2026-03-08 02:30", NEW_YORK)],
)
def test_a_time_skipped_by_the_spring_change_is_refused_with_a_code(text, tz):
    with pytest.raises(Invalid) as err:
        tzs.parse_local(text, tz)
    detail = err.value.details[0]
    assert err.value.message == "time_nonexistent"
    assert detail["code"] == "time_nonexistent"
    assert detail["params"] == {"time": text, "tz": tz}


def test_a_repeated_autumn_time_is_its_first_occurrence():
    # 01:30 happens twice in New York on 1 November 2026: first in EDT (-4).
    assert tzs.parse_local("2026-11-01 01:30", NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    # 02:30 happens twice in Valencia on 25 October 2026: first in CEST (+2).
    assert tzs.parse_local("2026-10-25 02:30", MADRID) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_an_explicit_offset_names_the_instant():
    assert tzs.parse_local("2026-03-29T01:00+09:00", MADRID) == datetime(
        2026, 3, 28, 16, 0, tzinfo=UTC
    )


def test_home_time_is_shown_only_when_it_differs():
    instant = datetime(2026, 3, 28, 16, 0, tzinfo=UTC)
    lt = tzs.local_time(instant, TOKYO, ZoneInfo(MADRID))
    assert lt.text() == "2026-03-29 01:00 Tokyo"
    assert lt.home_text() == "17:00 (-1d)"  # still the 28th at home in Valencia
    assert lt.as_json()["local"] == "2026-03-29T01:00+09:00"
    assert tzs.local_time(instant, MADRID, ZoneInfo("Europe/Paris")).home is None
    assert tzs.zone_city(NEW_YORK) == "New York"


def test_schemas_name_the_zone_of_each_instant():
    assert tzs.zone_field(ShowFields, "starts_at") == "tz"
    assert tzs.zone_field(TravelFields, "departs_at") == "departs_tz"
    assert tzs.zone_field(TravelFields, "arrives_at") == "arrives_tz"
    assert tzs.zone_field(ShowFields, "fee") is None


def _show(s, actor, city, wall, tz, country):
    return writes.create(
        s,
        actor=actor,
        entity="shows",
        data={"city": city, "country": country, "starts_at": tzs.to_instant(wall, tz),
              "tz": tz, "fee": 1000, "currency": "EUR", "status": "confirmed"},
    )  # fmt: skip


def test_a_show_lands_on_its_local_date_in_calendar_ics_and_totals(store, site):
    actor = Actor(org_id=site.org_id, user_id=None, role="office")
    with store.write() as s:
        tokyo = _show(s, actor, "Tokyo", datetime(2026, 4, 1, 1, 0), TOKYO, "JP")
        valencia = _show(s, actor, "València", datetime(2026, 3, 29, 21, 30), MADRID, "ES")
        ny = _show(s, actor, "New York", datetime(2026, 3, 8, 20, 0), NEW_YORK, "US")
        tokyo_id, valencia_id, ny_id = tokyo.id, valencia.id, ny.id
        writes.create(
            s,
            actor=actor,
            entity="calendar_entries",
            data={"kind": "day_off", "title": "Off", "starts_on": "2026-03-30"},
        )
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with store.read() as s:
        items = calendar_items(s, org_id=site.org_id, start=start, end=start + timedelta(days=45))
        months = finance_totals(s, org_id=site.org_id, group_by="month")
    by_id = {i["id"]: i for i in items}
    # Tokyo 01:00 on 1 April is 31 March in UTC: it stays on 1 April, and in April's total.
    assert by_id[tokyo_id]["date"] == date(2026, 4, 1)
    assert by_id[tokyo_id]["local_start"] == "2026-04-01T01:00+09:00"
    assert {g["key"]: g["shows"] for g in months} == {"2026-03": 2, "2026-04": 1}
    assert by_id[valencia_id]["local_start"] == "2026-03-29T21:30+02:00"
    assert by_id[ny_id]["local_start"] == "2026-03-08T20:00-04:00"
    assert [i["date"] for i in items] == sorted(i["date"] for i in items)
    ics = to_ical(items, calendar_name="Tour", now=start).split("\r\n")
    assert "DTSTART;TZID=Asia/Tokyo:20260401T010000" in ics
    assert "DTSTART;TZID=Europe/Madrid:20260329T213000" in ics
    assert "DTSTART;TZID=America/New_York:20260308T200000" in ics
    assert "DTSTART;VALUE=DATE:20260330" in ics and "DTEND;VALUE=DATE:20260331" in ics
    assert {"TZID:Asia/Tokyo", "TZID:Europe/Madrid", "TZID:America/New_York"} <= set(ics)


def test_the_ics_reads_back_on_the_venue_date_in_any_calendar(store, site):
    """A calendar program parsing the file gets the Tokyo date and time back."""
    from icalendar import Calendar

    actor = Actor(org_id=site.org_id, user_id=None, role="office")
    with store.write() as s:
        _show(s, actor, "Tokyo", datetime(2026, 4, 1, 1, 0), TOKYO, "JP")
        _show(s, actor, "New York", datetime(2026, 11, 1, 20, 0), NEW_YORK, "US")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with store.read() as s:
        items = calendar_items(s, org_id=site.org_id, start=start, end=start + timedelta(days=300))
    parsed = Calendar.from_ical(to_ical(items, calendar_name="Tour", now=start))
    starts = {str(e["SUMMARY"]): e.decoded("DTSTART") for e in parsed.walk("VEVENT")}
    assert starts["Tokyo"] == datetime(2026, 4, 1, 1, 0, tzinfo=ZoneInfo(TOKYO))
    assert starts["Tokyo"].astimezone(ZoneInfo(TOKYO)).date() == date(2026, 4, 1)
    # The evening the United States leave summer time: 20:00 EST is 01:00 UTC next day.
    assert starts["New York"].astimezone(UTC) == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
