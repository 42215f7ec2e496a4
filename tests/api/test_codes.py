"""Country and currency codes over HTTP: current ones accepted, the others refused with a
problem that names the code, and a row holding a withdrawn code still readable."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from core.models import Show

PROBLEM = "application/problem+json"
SHOW = {"city": "Caracas", "country": "VE", "starts_at": "2026-06-01T20:00:00-04:00",
        "fee": "1500", "currency": "VED"}  # fmt: skip


def test_current_codes_are_accepted_others_refused(admin: Any, store: Any) -> None:
    r = admin.post("/api/shows", json=SHOW)
    assert r.status_code == 201, r.text
    show = r.json()
    assert (show["currency"], show["country"]) == ("VED", "VE")

    for field, code, words in [
        ("currency", "BGN", "no longer a current ISO 4217 currency"),
        ("currency", "XAU", "fund or unit, not a currency"),
        ("currency", "ABC", "not an ISO 4217 currency code"),
        ("country", "YU", "withdrawn ISO 3166 country code"),
    ]:
        r = admin.post("/api/shows", json={**SHOW, field: code})
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
        (err,) = r.json()["errors"]
        assert err["field"] == field and code in err["message"] and words in err["message"]

    # A row written while BGN was current: it reads, and a change of other fields works.
    with store.write() as s:
        s.execute(update(Show).where(Show.id == show["id"]).values(currency="BGN"))
    r = admin.get(f"/api/shows/{show['id']}")
    assert r.status_code == 200 and r.json()["currency"] == "BGN"
    r = admin.patch(f"/api/shows/{show['id']}", json={"venue": "Teatro", "version": 1})
    assert r.status_code == 200, r.text
    r = admin.get(f"/api/shows/{show['id']}/settlement")
    assert r.status_code == 200 and r.json()["currency"] == "BGN"
