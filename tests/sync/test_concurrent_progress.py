"""Two tablets on one site, and two sites, reporting progress on the same job at the
same time: production reports add up, the total is the sum, and nobody gets a
conflict (the metres were really produced)."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core import writes
from core.factory import actions as ops
from core.models import ConflictRecord, Job, Machine, ProductionReport
from core.site import site_info
from core.writes import Actor
from tests.sync.conftest import CentralApp

pytestmark = pytest.mark.pg


def _actor(store: Any, device: str) -> Actor:
    return Actor(org_id=site_info(store).org_id, user_id=None, role="office", device_id=device)


def _job(store: Any, org_id: str, job_id: str) -> Job:
    with store.read() as s:
        job = s.get(Job, (org_id, job_id))
        assert job is not None
        s.expunge(job)
        return job


def _conflicts(store: Any) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(ConflictRecord)) or 0)


@pytest.mark.slow  # 90 concurrent reports over two sites; the rule-conflict case below stays fast
def test_two_tablets_and_two_sites_add_up(hub: CentralApp, org_id: str, tmp_path: Path) -> None:
    plant, plant_agent = hub.new_site(tmp_path, org_id, "Valencia")
    office, office_agent = hub.new_site(tmp_path, org_id, "Sevilla")
    with plant.write() as s:
        a = _actor(plant, "tablet-1")
        m = writes.create(s, actor=a, entity="machines",
                          data={"name": "Conformadora 1", "type": "CONFORMADORA"})  # fmt: skip
        data = {"title": "C150", "machine_id": m.id, "quantity": 10_000}
        job = writes.create(s, actor=a, entity="jobs", data=data)
        job_id = job.id
    with plant.write() as s:
        ops.start_job(s, actor=_actor(plant, "tablet-1"), job_id=job_id)
    plant_agent.sync_once()
    office_agent.sync_once()
    assert _job(office, org_id, job_id).status == "IN_PROGRESS"

    # Two tablets on the first site, each reporting 25 times 1.5 m, at the same time,
    # while the second site reports 20 times 2 m.
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def report(store: Any, device: str, times: int, qty: str) -> None:
        try:
            barrier.wait()
            for _ in range(times):
                with store.write() as s:
                    ops.report_progress(
                        s, actor=_actor(store, device), job_id=job_id, produced=qty, version=1
                    )  # a stale version: ignored
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=report, args=(plant, "tablet-1", 25, "1.5")),
        threading.Thread(target=report, args=(plant, "tablet-2", 25, "1.5")),
        threading.Thread(target=report, args=(office, "tablet-3", 20, "2")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert _job(plant, org_id, job_id).produced_qty == Decimal("75")
    assert _job(office, org_id, job_id).produced_qty == Decimal("40")

    for agent in (plant_agent, office_agent, plant_agent, office_agent):
        agent.sync_once()
    expected = Decimal("75") + Decimal("40")
    for store in (plant, office, hub.store):
        assert _job(store, org_id, job_id).produced_qty == expected
        assert _conflicts(store) == 0
    with hub.store.read() as s:
        n = s.scalar(select(func.count()).select_from(ProductionReport))
        devices = set(s.scalars(select(ProductionReport.device_id)))
    assert n == 70 and devices == {"tablet-1", "tablet-2", "tablet-3"}


def test_two_sites_starting_jobs_on_one_machine_end_in_a_visible_rule_conflict(
    hub: CentralApp, org_id: str, tmp_path: Path
) -> None:
    """Offline, each site starts a different job on the same machine. The second push
    breaks "one job in progress per machine": the central server keeps a rule conflict
    record, applies nothing of that op, and the site puts its job back as the central
    server has it and keeps the record too. Nothing is silently overwritten."""
    import json

    plant, plant_agent = hub.new_site(tmp_path, org_id, "Valencia")
    office, office_agent = hub.new_site(tmp_path, org_id, "Sevilla")
    with plant.write() as s:
        a = _actor(plant, "tablet-1")
        m = writes.create(s, actor=a, entity="machines",
                          data={"name": "Conformadora 1", "type": "CONFORMADORA"})  # fmt: skip
        x = writes.create(s, actor=a, entity="jobs",
                          data={"title": "X", "machine_id": m.id, "quantity": 10})  # fmt: skip
        y = writes.create(s, actor=a, entity="jobs",
                          data={"title": "Y", "machine_id": m.id, "quantity": 10})  # fmt: skip
    plant_agent.sync_once()
    office_agent.sync_once()
    with plant.write() as s:
        ops.start_job(s, actor=_actor(plant, "tablet-1"), job_id=x.id)
    with office.write() as s:
        ops.start_job(s, actor=_actor(office, "tablet-3"), job_id=y.id)
    plant_agent.sync_once()
    office_agent.sync_once()
    plant_agent.sync_once()
    assert _job(hub.store, org_id, x.id).status == "IN_PROGRESS"
    assert _job(hub.store, org_id, y.id).status == "PENDING"
    assert _job(office, org_id, y.id).status == "PENDING"  # put back as the central has it
    # The machine's follow-up (running Y) is refused too: its current job stays X.
    with hub.store.read() as s:
        assert s.get(Machine, (org_id, m.id)).current_job_id == x.id
    for store in (hub.store, office):
        with store.read() as s:
            records = s.scalars(
                select(ConflictRecord)
                .where(ConflictRecord.kind == "rule")
                .order_by(ConflictRecord.created_at)
            ).all()
        codes = [(r.entity_id, json.loads(r.reason)["code"]) for r in records]
        assert codes == [(y.id, "machine_busy"), (m.id, "current_job_not_running")]
