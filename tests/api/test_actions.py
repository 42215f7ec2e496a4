"""Shop-floor actions and reports through the API (the arithmetic is tested in core)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.api.conftest import People


def test_job_lifecycle_by_its_operator(client: Any, as_: Any, factory: dict[str, Any]) -> None:
    h = as_("operator")
    job = factory["job"]
    mine = client.get("/api/me/jobs", headers=h).json()
    assert [j["id"] for j in mine] == [job["id"]]
    r = client.post(f"/api/jobs/{job['id']}/start", headers={**h, "If-Match": str(job["version"])})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "IN_PROGRESS" and r.headers["etag"] == f'"{r.json()["version"]}"'
    r = client.post(
        f"/api/jobs/{job['id']}/progress", json={"produced": "250", "scrap": "5"}, headers=h
    )
    assert r.status_code == 200
    assert Decimal(r.json()["produced_qty"]) == 250 and Decimal(r.json()["scrap_qty"]) == 5
    r = client.post(f"/api/jobs/{job['id']}/pause", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "PAUSED"
    r = client.post(f"/api/jobs/{job['id']}/start", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "IN_PROGRESS"
    r = client.post(f"/api/jobs/{job['id']}/complete", json={"produced": "750"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "COMPLETED"
    assert Decimal(r.json()["produced_qty"]) == 1000
    assert client.get("/api/me/jobs", headers=h).json() == []
    # Leaving COMPLETED is a reopen: the office's decision, not the operator's.
    r = client.post(f"/api/jobs/{job['id']}/pause", headers=h)
    assert r.status_code == 403 and r.json()["code"] == "reopen_office_only"
    r = client.post(f"/api/jobs/{job['id']}/reopen", headers=as_("office"))
    assert r.status_code == 200 and r.json()["status"] == "PAUSED"
    assert r.json()["completed_at"] is None and Decimal(r.json()["produced_qty"]) == 1000


def test_operator_cannot_run_another_operators_job(
    client: Any, as_: Any, factory: dict[str, Any]
) -> None:
    other = factory["other_job"]
    r = client.post(f"/api/jobs/{other['id']}/start", headers=as_("operator"))
    assert r.status_code == 403


def test_stale_action_version(client: Any, as_: Any, factory: dict[str, Any]) -> None:
    job = factory["job"]
    h = as_("operator")
    client.post(f"/api/jobs/{job['id']}/start", headers=h)
    r = client.post(f"/api/jobs/{job['id']}/pause", json={"version": 1}, headers=h)
    assert r.status_code == 409 and r.json()["current"]["status"] == "IN_PROGRESS"


def test_progress_from_a_stale_tablet_adds_up(client: Any, as_: Any, factory: dict[str, Any]):
    """Progress is a report of what was made: a tablet that saw an older version of the
    job still adds its metres (no conflict dialog, nothing thrown away)."""
    job = factory["job"]
    h = as_("operator")
    client.post(f"/api/jobs/{job['id']}/start", headers=h)
    for _ in range(2):
        r = client.post(
            f"/api/jobs/{job['id']}/progress", json={"produced": "7", "version": 1}, headers=h
        )
        assert r.status_code == 200
    assert Decimal(r.json()["produced_qty"]) == 14


def test_a_floor_write_runs_on_the_loop_or_waits_in_a_thread(
    client: Any, as_: Any, factory: dict[str, Any], context: Any
) -> None:
    """A progress report is written on the event loop when the store's lock is free (no
    GIL hand-off to a writer thread); when another process holds SQLite's lock it waits
    on a writer thread instead, never on the loop, and is written once the lock frees."""
    import sqlite3
    import threading
    import time

    job, h = factory["job"], as_("operator")
    assert client.post(f"/api/jobs/{job['id']}/start", headers=h).status_code == 200
    threads: list[str] = []
    context.store.changes.subscribe(lambda _: threads.append(threading.current_thread().name))
    r = client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "5"}, headers=h)
    assert r.status_code == 200
    assert threads and not threads[-1].startswith("structura-writer")  # the loop's thread
    other = sqlite3.connect(
        context.store.engine.url.database, isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")  # another process's writer, say an import
    freed = threading.Timer(0.5, lambda: other.execute("ROLLBACK"))
    freed.start()
    t0 = time.monotonic()
    try:
        r = client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "2"}, headers=h)
    finally:
        freed.join()
        other.close()
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 >= 0.4  # it waited for the lock...
    assert threads[-1].startswith("structura-writer")  # ...on a writer thread
    assert Decimal(r.json()["produced_qty"]) == 7


def test_progress_validation(client: Any, as_: Any, factory: dict[str, Any]) -> None:
    job = factory["job"]
    for body in ({"produced": "-1"}, {}, {"produced": "1", "extra": 1}, {"produced": "abc"}):
        r = client.post(f"/api/jobs/{job['id']}/progress", json=body, headers=as_("operator"))
        assert r.status_code == 422, body


def test_machine_status_downtime_and_alerts(
    client: Any, admin: Any, as_: Any, factory: dict[str, Any]
) -> None:
    h = as_("operator")
    mid = factory["machine"]["id"]
    r = client.post(
        f"/api/machines/{mid}/status", json={"status": "ERROR", "note": "jam"}, headers=h
    )
    assert r.status_code == 200 and r.json()["status"] == "ERROR"
    alerts = client.get("/api/alerts?dismissed_at__isnull=true", headers=h).json()["items"]
    assert alerts and alerts[0]["severity"] == "CRITICAL"
    r = client.post(f"/api/alerts/{alerts[0]['id']}/dismiss", headers=h)
    assert r.status_code == 200 and r.json()["dismissed_at"]
    assert (
        client.post(f"/api/machines/{mid}/status", json={"status": "BROKEN"}, headers=h).status_code
        == 422
    )
    r = client.post(
        f"/api/machines/{mid}/downtime", json={"reason": "BREAKDOWN", "notes": "jam"}, headers=h
    )
    assert r.status_code == 201, r.text
    dt = r.json()
    assert dt["ended_at"] is None and dt["reason"] == "BREAKDOWN"
    r = client.post(f"/api/downtimes/{dt['id']}/end", headers=h)
    assert r.status_code == 200 and r.json()["ended_at"]
    assert client.post(f"/api/downtimes/{dt['id']}/end", headers=h).status_code == 409


def test_board(client: Any, as_: Any, factory: dict[str, Any]) -> None:
    job = factory["job"]
    client.post(f"/api/jobs/{job['id']}/start", headers=as_("operator"))
    cards = client.get("/api/board", headers=as_("operator")).json()
    assert len(cards) == 1
    card = cards[0]
    assert card["id"] == factory["machine"]["id"] and card["status"] == "RUNNING"
    assert card["current_job"]["id"] == job["id"]


def test_settlement_and_finance_totals(admin: Any, people: People) -> None:
    # A worked example: G = 10,000 GBP, wht 20 %, booking 10 %, manager 15 % of gross.
    show = admin.post(
        "/api/shows",
        json={
            "city": "London",
            "country": "gb",
            "starts_at": "2026-05-01T20:00:00+01:00",
            "fee": "10000",
            "currency": "GBP",
            "wht_pct": "20",
            "booking_pct": "10",
            "mgmt_pct": "15",
            "tour": "Spring",
            "status": "confirmed",
            "fx_rate": "1.17",
        },
    )
    assert show.status_code == 201, show.text
    sid = show.json()["id"]
    for type_, amount in (("sound", "800"), ("light", "600"), ("transport", "1100")):
        r = admin.post(
            "/api/show_costs",
            json={"show_id": sid, "type": type_, "amount": amount, "currency": "GBP"},
        )
        assert r.status_code == 201, r.text
    st = admin.get(f"/api/shows/{sid}/settlement")
    assert st.status_code == 200, st.text
    assert Decimal(st.json()["net"]) == Decimal("3000")
    assert admin.get("/api/shows/missing/settlement").status_code == 404
    for group in ("month", "tour", "currency"):
        r = admin.get(f"/api/reports/finance?group_by={group}")
        assert r.status_code == 200 and len(r.json()) == 1, r.text
    assert admin.get("/api/reports/finance?group_by=week").status_code == 422
    r = admin.get("/api/reports/finance?start=2026-06-01T00:00:00Z")
    assert r.status_code == 200 and r.json() == []
    assert admin.get("/api/reports/finance?start=2026-06-01").status_code == 422


def test_oee_report(client: Any, as_: Any, factory: dict[str, Any]) -> None:
    h = as_("operator")
    job = factory["job"]
    client.post(f"/api/jobs/{job['id']}/start", headers=h)
    client.post(f"/api/jobs/{job['id']}/progress", json={"produced": "100"}, headers=h)
    for period in ("day", "shift", "range"):
        r = client.get(f"/api/reports/oee?period={period}", headers=h)
        assert r.status_code == 200, r.text
    rows = client.get(
        f"/api/reports/oee?period=range&machine_id={factory['machine']['id']}", headers=h
    ).json()
    assert len(rows) == 1 and Decimal(rows[0]["produced"]) == 100
    bad = client.get(
        "/api/reports/oee?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", headers=h
    )
    assert bad.status_code == 422


def test_sync_status(client: Any, as_: Any, context: Any) -> None:
    assert client.get("/api/sync/status", headers=as_("crew")).json() == {"state": "not configured"}
    context.sync_status = lambda: {"state": "idle", "pending": 3}
    assert client.get("/api/sync/status", headers=as_("crew")).json() == {
        "state": "idle",
        "pending": 3,
    }


def test_calendar_json_and_ical(admin: Any) -> None:
    show = admin.post(
        "/api/shows",
        json={
            "city": "Porto",
            "country": "PT",
            "starts_at": "2026-12-10T21:00:00+00:00",
            "fee": "5000",
            "currency": "EUR",
            "status": "confirmed",
        },
    )
    assert show.status_code == 201, show.text
    params = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-31T00:00:00Z"}
    items = admin.get("/api/calendar", params=params)
    assert items.status_code == 200, items.text
    assert [(i["kind"], i["title"]) for i in items.json()] == [("show", "Porto")]
    ics = admin.get("/api/calendar.ics", params=params)
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert "DTSTART:20261210T210000Z" in ics.text.split("\r\n")
    bad = admin.get("/api/calendar", params={"start": params["end"], "end": params["start"]})
    assert bad.status_code == 422


def test_calendar_is_not_for_operators(app: Any, as_: Any) -> None:
    from tests.api.client import asgi_client

    with asgi_client(app, base_url="http://testserver") as c:
        c.headers.update(as_("operator"))
        assert c.get("/api/calendar.ics").status_code == 403


def test_an_operators_queue_reads_the_active_jobs_by_their_status(context: Any) -> None:
    """A plant's completed jobs do not slow the queues: the queue's statement is served
    by (org_id, status), not by reading every job of the organisation."""
    from sqlalchemy import event

    from local_api.routes.actions import _queue_stmt

    plans: list[Any] = []

    def explain(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        # The statement as it is sent (IN expanded), planned by SQLite itself.
        raw = conn.connection.driver_connection
        plans.extend(raw.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall())

    engine = context.store.engine
    event.listen(engine, "before_cursor_execute", explain)
    try:
        with context.store.read() as s:
            s.execute(_queue_stmt(), {"org": "o", "me": "u"}).all()
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    plan = " ".join(str(r[-1]) for r in plans)
    assert "ix_jobs_status" in plan, plan
