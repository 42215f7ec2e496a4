"""Tour over HTTP: times read in the venue's zone (calendar JSON and ICS), and money
that never disappears from a settlement or a finance total."""

from __future__ import annotations

from typing import Any


def _show(admin: Any, **extra: Any) -> dict[str, Any]:
    body = {"city": "Tokyo", "country": "JP", "venue": "Zepp Haneda",
            "starts_at": "2026-04-01T01:00:00+09:00", "tz": "Asia/Tokyo",
            "fee": "10000", "currency": "EUR", "status": "confirmed"} | extra  # fmt: skip
    r = admin.post("/api/shows", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_tokyo_show_at_one_am_is_on_its_tokyo_date_in_json_and_ics(admin: Any) -> None:
    show = _show(admin)
    stored = admin.get(f"/api/shows/{show['id']}").json()
    assert stored["starts_at"].startswith("2026-03-31T16:00:00")  # the instant, in UTC
    valencia = _show(admin, city="València", country="ES", venue="Roig Arena",
                     starts_at="2026-10-25T21:30:00+01:00", tz="Europe/Madrid")  # fmt: skip
    off = admin.post("/api/calendar_entries", json={"kind": "day_off", "title": "Off",
                                                    "starts_on": "2026-04-02"})  # fmt: skip
    assert off.status_code == 201, off.text
    params = {"start": "2026-03-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}
    items = {i["id"]: i for i in admin.get("/api/calendar", params=params).json()}
    day_off = items[off.json()["id"]]  # a date, not a midnight
    assert (day_off["all_day"], day_off["starts_on"], day_off["ends_on"]) == (
        True,
        "2026-04-02",
        "2026-04-02",
    )
    assert day_off["starts_at"] is None and day_off["tz"] is None
    tokyo = items[show["id"]]
    assert tokyo["date"] == "2026-04-01" and tokyo["tz"] == "Asia/Tokyo"
    assert tokyo["local_start"] == "2026-04-01T01:00+09:00"
    # The night the clocks go back in Spain: 21:30 CET, +01:00.
    assert items[valencia["id"]]["local_start"] == "2026-10-25T21:30+01:00"
    lines = admin.get("/api/calendar.ics", params=params).text.split("\r\n")
    assert "DTSTART;TZID=Asia/Tokyo:20260401T010000" in lines
    assert "DTSTART;TZID=Europe/Madrid:20261025T213000" in lines
    assert "TZID:Asia/Tokyo" in lines
    assert "DTSTART;VALUE=DATE:20260402" in lines and "DTEND;VALUE=DATE:20260403" in lines


def test_a_usd_cost_without_rate_is_named_until_the_rate_is_entered(admin: Any) -> None:
    show = _show(admin)
    r = admin.post("/api/show_costs", json={"show_id": show["id"], "type": "hotel",
                                           "amount": "500", "currency": "USD",
                                           "description": "Hotel"})  # fmt: skip
    assert r.status_code == 201, r.text
    cost_id = r.json()["id"]
    st = admin.get(f"/api/shows/{show['id']}/settlement").json()
    assert st["complete"] is False
    assert st["warnings"] == [
        {
            "code": "cost_without_rate",
            "params": {"cost_id": cost_id, "type": "hotel", "label": "Hotel",
                       "amount": "500.0000", "currency": "USD", "to": "EUR"},
        }
    ]  # fmt: skip
    assert st["unconverted_costs"] == {"USD": "500.0000"}
    month = admin.get("/api/reports/finance").json()[0]
    assert month["key"] == "2026-04" and month["complete"] is False
    assert month["warnings"][0]["params"]["cost_id"] == cost_id

    for bad in ({"USD": "-0.9"}, {"USD": "0"}, {"XYZ": "0.9"}, {"USD": "nine"}):
        r = admin.patch(f"/api/shows/{show['id']}", json={"fx_rates": bad, "version": 1})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid"
        assert r.json()["errors"][0]["field"].startswith("fx_rates")

    r = admin.patch(f"/api/shows/{show['id']}", json={"fx_rates": {"usd": 0.9}, "version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["fx_rates"] == {"USD": "0.9"}
    st = admin.get(f"/api/shows/{show['id']}/settlement").json()
    assert st["complete"] is True and st["warnings"] == [] and st["costs"] == "450.00"
    assert admin.get("/api/reports/finance").json()[0]["complete"] is True


def test_an_unticked_production_flag_is_saved_unticked(admin: Any) -> None:
    show = _show(admin)
    r = admin.post("/api/show_costs", json={"show_id": show["id"], "type": "sound",
                                           "amount": "800", "currency": "EUR",
                                           "is_production": False})  # fmt: skip
    assert r.status_code == 201 and r.json()["is_production"] is False
    r = admin.post("/api/show_costs", json={"show_id": show["id"], "type": "sound",
                                           "amount": "800", "currency": "EUR"})  # fmt: skip
    assert r.json()["is_production"] is True  # not given: the type's default
