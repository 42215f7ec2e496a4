"""Typed event payloads and production quantities: bad values (wrong types, NaN,
Infinity, huge numbers, missing fields) are refused with a 422 naming the field at the
API, in a sync push and in the import, and nothing is stored; readers (the board, the
OEE report) survive rows stored before payloads were checked."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core import writes
from core.clock import utcnow, uuid7
from core.db import Store
from core.models import Event, ProductionReport
from core.site import SiteInfo
from core.sync import wire
from core.writes import Actor
from tests.sync.conftest import central, enroll_device, new_org  # noqa: F401 (fixture)

# (event type, payload, the field the refusal names)
BAD_EVENTS = [
    ("PRODUCTION", {"machine_id": "m-1", "qty": "abc"}, "payload.qty"),
    ("PRODUCTION", {"machine_id": "m-1", "qty": "NaN"}, "payload.qty"),
    ("PRODUCTION", {"machine_id": "m-1", "qty": "Infinity"}, "payload.qty"),
    ("PRODUCTION", {"machine_id": "m-1", "qty": 1e30}, "payload.qty"),
    ("PRODUCTION", {"machine_id": "m-1", "qty": "-5"}, "payload.qty"),
    ("PRODUCTION", {"machine_id": "m-1", "qty": "5", "scrap": [1]}, "payload.scrap"),
    ("PRODUCTION", {"qty": "5"}, "payload.machine_id"),
    ("PRODUCTION", {"machine_id": "m-1"}, "payload.qty"),
    ("JOB_STARTED", {"job_id": 42}, "payload.job_id"),
    ("JOB_COMPLETED", {"job_id": "j-1", "extra": "x"}, "payload.extra"),
    ("MACHINE_STATUS", {"machine_id": "m-1", "status": "BROKEN"}, "payload.status"),
    ("DOWNTIME_STARTED", {"reason": "MATERIAL"}, "payload.machine_id"),
    ("LOGIN", {"note": 5}, "payload.note"),
    ("NOTE", {"machine_id": ""}, "payload.machine_id"),
    ("NO_SUCH_TYPE", {}, "type"),
]
# (production report body, the field the refusal names)
BAD_REPORTS = [
    ({"good_qty": "abc"}, "good_qty"),
    ({"good_qty": "NaN"}, "good_qty"),
    ({"good_qty": "Infinity"}, "good_qty"),
    ({"good_qty": "1e30"}, "good_qty"),
    ({"good_qty": "5", "scrap_qty": "-1"}, "scrap_qty"),
    ({}, "good_qty"),
]


def _count(store: Store, model: Any) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(("type_", "payload", "field"), BAD_EVENTS)
def test_api_refuses_a_bad_event_naming_the_field(
    type_: str, payload: dict[str, Any], field: str, client: Any, as_: Any, store: Store
) -> None:
    r = client.post("/api/events", json={"type": type_, "payload": payload},
                    headers=as_("office"))  # fmt: skip
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert _count(store, Event) == 0


def test_api_accepts_and_normalises_a_good_event(client: Any, as_: Any) -> None:
    body = {"type": "PRODUCTION", "payload": {"machine_id": "m-1", "qty": 12.5, "scrap": "0.5"}}
    r = client.post("/api/events", json=body, headers=as_("office"))
    assert r.status_code == 201, r.text
    assert r.json()["payload"] == {"machine_id": "m-1", "qty": "12.5", "scrap": "0.5"}


@pytest.mark.parametrize(("body", "field"), BAD_REPORTS)
def test_api_refuses_a_bad_production_report_naming_the_field(
    body: dict[str, Any], field: str, client: Any, as_: Any, store: Store, factory: Any
) -> None:
    job = factory["job"]
    client.post(f"/api/jobs/{job['id']}/start", headers=as_("office"))
    r = client.post("/api/production_reports", json={"job_id": job["id"], **body},
                    headers=as_("office"))  # fmt: skip
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert _count(store, ProductionReport) == 0


def test_the_import_refuses_bad_events_naming_the_field(store: Store, site: SiteInfo,
                                                        tmp_path: Path) -> None:  # fmt: skip
    from core.legacy.files import read_export
    from core.legacy.importer import run_import

    events = [
        {"id": f"e-{n}", "type": t, "payload": p, "timestamp": "2026-06-04T12:11:00Z"}
        for n, (t, p, _) in enumerate(BAD_EVENTS)
    ]
    path = tmp_path / "export.json"
    doc = {"version": 3, "events": events}
    path.write_text(json.dumps({"structura_erp_factory_data_v3": doc}), encoding="utf-8")
    report = run_import(store, [read_export(path)], org_id=site.org_id)
    assert report.imported.get("events", 0) == 0
    refused = {r.id: f"{r.field} {r.message}" for r in report.refused}
    for n, (_, _, field) in enumerate(BAD_EVENTS):
        assert field.removeprefix("payload.") in refused[f"e-{n}"], refused[f"e-{n}"]
    assert _count(store, Event) == 0


def test_readers_survive_events_stored_before_payloads_were_checked(
    client: Any, as_: Any, store: Store, site: SiteInfo, factory: Any
) -> None:
    """A forged quantity stored by an older version (written here straight to the
    table, as such rows came in) neither breaks the board nor the OEE report."""
    machine = factory["machine"]["id"]
    with store.write() as s:
        for qty in ("abc", "NaN", "1e400", "-3", None):
            s.execute(
                text(
                    "INSERT INTO events (org_id, id, version, sync_version, field_versions,"
                    " created_at, updated_at, type, payload, at) VALUES (:o, :i, 1, 0, '{}',"
                    " :t, :t, 'PRODUCTION', :p, :t)"
                ),
                {"o": site.org_id, "i": uuid7(), "t": utcnow() - timedelta(minutes=5),
                 "p": json.dumps({"machine_id": machine, "qty": qty})},
            )  # fmt: skip
    r = client.get("/api/board", headers=as_("office"))
    assert r.status_code == 200, r.text
    r = client.get("/api/reports/oee", params={"period": "day"}, headers=as_("office"))
    assert r.status_code == 200, r.text


@pytest.mark.pg
def test_a_sync_push_refuses_bad_events_and_reports_naming_the_field(
    central: Store,  # noqa: F811 (fixture)
) -> None:
    from central.push import push_batch

    org = new_org(central, "Acme")
    device = enroll_device(central, org, "Valencia")
    with central.write() as s:
        sys = Actor.system(org)
        writes.create(s, actor=sys, entity="machines", id="m-1",
                      data={"name": "C1", "type": "CONFORMADORA"})  # fmt: skip
        writes.create(s, actor=sys, entity="jobs", id="j-1",
                      data={"title": "C150", "machine_id": "m-1", "quantity": 100,
                            "status": "IN_PROGRESS"})  # fmt: skip
    ops = [
        {"op_id": uuid7(), "entity": "events", "entity_id": uuid7(), "kind": "create",
         "base_version": 0, "fields": {"type": t, "payload": p, "at": utcnow().isoformat()},
         "made_at": "0001-x"}
        for t, p, _ in BAD_EVENTS
    ] + [
        {"op_id": uuid7(), "entity": "production_reports", "entity_id": uuid7(),
         "kind": "create", "base_version": 0, "fields": {"job_id": "j-1", **body},
         "made_at": "0001-x"}
        for body, _ in BAD_REPORTS
    ]  # fmt: skip
    results = push_batch(central, device.ctx, [wire.Op.model_validate(o) for o in ops])
    fields = [f for _, _, f in BAD_EVENTS] + [f for _, f in BAD_REPORTS]
    for res, field in zip(results, fields, strict=True):
        # A malformed value is rejected; a negative scrap outside a correction breaks a
        # rule (a conflict record): both name the field.
        assert (res["status"], res["reason"]["code"]) in (
            ("rejected", "invalid"),
            ("conflict", "negative_report"),
        ), res
        assert field in [d["field"] for d in res["reason"]["details"]], res
    assert _count(central, Event) == 0 and _count(central, ProductionReport) == 0
