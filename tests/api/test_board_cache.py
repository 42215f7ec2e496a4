"""The board kept card by card (local_api.board_cache) equals a fresh computation after
random shop-floor and office writes, serves its bytes with an ETag (304 when unchanged),
and does not go back to the day's events once built."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import orjson
import pytest

from core.clock import utcnow
from core.factory import actions
from core.factory.oee import _production

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _fresh(context: Any) -> list[dict[str, Any]]:
    with context.store.read() as s:
        return actions.board(s, org_id=context.site.org_id)


def _without_oee(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # OEE moves with the clock between the two computations; it is compared through the
    # production totals it is made of.
    return [{k: v for k, v in c.items() if k != "oee_today"} for c in cards]


def _check(context: Any, app: Any) -> None:
    cache = app.state.board
    served = orjson.loads(cache.get().body)
    assert _without_oee(served) == _without_oee(_fresh(context))
    midnight = datetime.combine(utcnow().date(), time(), UTC)
    with context.store.read() as s:
        fresh = _production(s, context.site.org_id, midnight, datetime(9999, 1, 1, tzinfo=UTC))
    assert {k: v for k, v in cache._production.items() if v != (0, 0)} == fresh


def _machine(admin: Any, name: str) -> dict[str, Any]:
    r = admin.post("/api/machines", json={"name": name, "type": "CONFORMADORA", "ideal_rate": "30"})
    assert r.status_code == 201, r.text
    return r.json()


def _job(admin: Any, machine: dict[str, Any], seq: int, operator: str) -> dict[str, Any]:
    body = {"title": f"Job {seq}", "machine_id": machine["id"], "quantity": "50",
            "sequence": seq, "operator_ids": [operator]}  # fmt: skip
    r = admin.post("/api/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_board_cache_equals_a_fresh_board_after_random_writes(
    app: Any, context: Any, admin: Any, people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = app.state.board
    monkeypatch.setattr(cache, "max_age", 3600.0)  # only the incremental path
    rng = random.Random(17)
    machines = [_machine(admin, f"M{i}") for i in range(3)]
    jobs = [_job(admin, rng.choice(machines), i, people["operator"]) for i in range(8)]
    _check(context, app)
    builds = cache.full_builds
    downtimes: list[str] = []
    for _ in range(60):
        job = rng.choice(jobs)
        what = rng.choice(
            ["start", "progress", "progress", "pause", "complete", "move", "status",
             "downtime", "end", "new", "delete"]
        )  # fmt: skip
        path = f"/api/jobs/{job['id']}"
        if what in ("start", "pause"):
            admin.post(f"{path}/{what}")
        elif what in ("progress", "complete"):
            admin.post(f"{path}/{what}", json={"produced": str(rng.randint(1, 9)), "scrap": "1"})
        elif what == "move":
            current = admin.get(path).json()
            if current.get("deleted_at") is None and "version" in current:
                admin.patch(path, json={"machine_id": rng.choice(machines)["id"]},
                            headers={"If-Match": f'"{current["version"]}"'})  # fmt: skip
        elif what == "status":
            m = rng.choice(machines)["id"]
            admin.post(f"/api/machines/{m}/status", json={"status": rng.choice(["IDLE", "ERROR"])})
        elif what == "downtime":
            m = rng.choice(machines)["id"]
            r = admin.post(f"/api/machines/{m}/downtime", json={"reason": "BREAKDOWN"})
            if r.status_code == 201:
                downtimes.append(r.json()["id"])
        elif what == "end" and downtimes:
            admin.post(f"/api/downtimes/{downtimes.pop()}/end")
        elif what == "new":
            jobs.append(_job(admin, rng.choice(machines), 100 + len(jobs), people["operator"]))
        elif what == "delete":
            current = admin.get(path).json()
            if "version" in current:
                admin.delete(path, headers={"If-Match": f'"{current["version"]}"'})
        _check(context, app)
    assert cache.full_builds == builds  # never went back to the day's events


def test_a_progress_report_counts_on_the_board_without_a_rebuild(
    app: Any, context: Any, admin: Any, people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress is stored as a production report (not an event): the board's daily
    counters take it, once, and the card is recomputed from them."""
    cache = app.state.board
    monkeypatch.setattr(cache, "max_age", 3600.0)
    machine = _machine(admin, "Report M")
    job = _job(admin, machine, 1, people["operator"])
    assert admin.post(f"/api/jobs/{job['id']}/start").status_code == 200
    _check(context, app)
    builds = cache.full_builds
    for made in ("5", "2.5"):
        r = admin.post(f"/api/jobs/{job['id']}/progress", json={"produced": made, "scrap": "1"})
        assert r.status_code == 200, r.text
        _check(context, app)
    assert cache._production[machine["id"]] == (Decimal("7.5"), Decimal(2))
    card = next(c for c in orjson.loads(cache.get().body) if c["id"] == machine["id"])
    assert card["current_job"]["produced_qty"] == "7.500"
    assert cache.full_builds == builds


def test_board_etag_and_not_modified(client: Any, as_: Any, factory: dict[str, Any]) -> None:
    h = as_("operator")
    first = client.get("/api/board", headers=h)
    tag = first.headers["ETag"]
    again = client.get("/api/board", headers={**h, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    job = factory["job"]
    assert client.post(f"/api/jobs/{job['id']}/start", headers=h).status_code == 200
    after = client.get("/api/board", headers={**h, "If-None-Match": tag})
    assert after.status_code == 200 and after.headers["ETag"] != tag
    assert after.json()[0]["current_job"]["id"] == job["id"]  # the writer sees its write


def test_queue_cache_equals_a_fresh_queue_after_random_writes(
    app: Any, context: Any, client: Any, admin: Any, as_: Any, people: Any
) -> None:
    """Each operator's cached queue (local_api.queue_cache) matches the ORM query of
    ``core.factory.actions.my_jobs`` after starts, progress, reassignments, completions
    and deletions."""
    from core.registry import registry
    from core.writes import Actor

    spec = registry()["jobs"]
    rng = random.Random(11)
    operators = ["operator", "operator2"]
    machines = [_machine(admin, f"Q{i}") for i in range(2)]
    jobs = [_job(admin, rng.choice(machines), i, people[rng.choice(operators)]) for i in range(6)]

    def check() -> None:
        for key in operators:
            served = client.get("/api/me/jobs", headers=as_(key))
            assert served.status_code == 200
            actor = Actor(org_id=context.site.org_id, user_id=people[key], role="operator")
            with context.store.read() as s:
                from core import queries

                fresh = [queries.row_json(spec, j) for j in actions.my_jobs(s, actor=actor)]
            assert served.json() == orjson.loads(orjson.dumps(fresh))

    check()
    for _ in range(40):
        job = rng.choice(jobs)
        path = f"/api/jobs/{job['id']}"
        what = rng.choice(["start", "progress", "reassign", "complete", "delete", "new"])
        if what in ("start", "progress", "complete"):
            body = {"produced": "1"} if what != "start" else None
            admin.post(f"{path}/{what}", json=body)
        elif what in ("reassign", "delete"):
            current = admin.get(path).json()
            if "version" in current:
                h = {"If-Match": f'"{current["version"]}"'}
                if what == "delete":
                    admin.delete(path, headers=h)
                else:
                    ops = [people[k] for k in operators if rng.random() < 0.6]
                    admin.patch(path, json={"operator_ids": ops}, headers=h)
        else:
            jobs.append(_job(admin, rng.choice(machines), 50 + len(jobs), people["operator2"]))
        check()
    assert app.state.queues.computed > 0


def test_the_caches_look_up_changed_rows_by_their_whole_key(context: Any) -> None:
    """After each floor write the caches resolve the changed rows; by id alone SQLite has
    no index to use (the key is organisation, id) and reads every job of the store —
    3.7 ms per report with 20,000 completed jobs, where the lookup costs 0.1 ms."""
    from local_api.board_cache import _job_places, _report_rows
    from local_api.queue_cache import _assigned

    with context.store.read() as s:
        conn = s.connection()
        for stmt in (_assigned(), _job_places(), _report_rows(True)):
            bound = stmt.params(org="o", ids=["a", "b"])
            sql = str(bound.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
            detail = " | ".join(str(row[-1]) for row in plan)
            assert "SCAN" not in detail, (sql, detail)
