"""The factory rules one by one: the queue tail, document numbers, reopening, short
close, corrections, and OEE from production reports and downtime with a worked example
per factor (the worked example of the OEE definition), bounded to 0-100 %."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from core import writes
from core.documents import code_from_name
from core.errors import RuleBroken
from core.factory import actions as ops
from core.factory.oee import compute_oee, machine_oee
from core.site import SiteInfo
from core.writes import Actor


@pytest.fixture
def plant(store: Any, site: SiteInfo) -> tuple[Any, Actor, str]:
    office = Actor(org_id=site.org_id, user_id=None, role="office")
    with store.write() as s:
        data = {"name": "C1", "type": "CONFORMADORA", "ideal_rate": 40}
        m = writes.create(s, actor=office, entity="machines", data=data)
    return store, office, m.id


def _job(store: Any, office: Actor, machine: str, **data: Any) -> Any:
    with store.write() as s:
        return writes.create(s, actor=office, entity="jobs",
                             data={"title": "C150", "machine_id": machine, "quantity": 1000,
                                   **data})  # fmt: skip


def test_a_new_job_joins_the_end_of_its_machines_queue(plant: Any) -> None:
    store, office, machine = plant
    first = _job(store, office, machine)
    second = _job(store, office, machine, sequence=55)
    third = _job(store, office, machine)
    assert (first.sequence, second.sequence, third.sequence) == (0, 55, 65)


def test_jobs_get_document_numbers_per_site_that_never_collide(plant: Any) -> None:
    store, office, machine = plant
    numbers = [_job(store, office, machine).doc_number for _ in range(3)]
    assert numbers == ["TES-OT-0001", "TES-OT-0002", "TES-OT-0003"]  # site "Test Site"
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        writes.update(s, actor=office, entity="jobs", id=_job(store, office, machine).id,
                      data={"doc_number": "TES-OT-0001"})  # fmt: skip
    assert exc.value.code == "derived_field"
    # Two sites named alike still get distinct codes from the central server.
    assert code_from_name("Valencia") == "VAL"
    assert code_from_name("Valencia Norte", ["VAL"]) == "VAL2"
    assert code_from_name("Ávila") == "AVI"


def test_deleting_a_waiting_job_leaves_the_machine_to_the_running_one(plant: Any) -> None:
    store, office, machine = plant
    running = _job(store, office, machine)
    waiting = _job(store, office, machine)
    with store.write() as s:
        ops.start_job(s, actor=office, job_id=running.id)
    with store.write() as s:
        writes.delete(s, actor=office, entity="jobs", id=waiting.id)
    with store.read() as s:
        m = s.get(writes.registry()["machines"].model, (office.org_id, machine))
    assert (m.status, m.current_job_id) == ("RUNNING", running.id)
    with store.write() as s:
        writes.delete(s, actor=office, entity="jobs", id=running.id)
    with store.read() as s:
        m = s.get(writes.registry()["machines"].model, (office.org_id, machine))
    assert (m.status, m.current_job_id) == ("IDLE", None)


def test_office_reopens_a_completed_job_operator_cannot(plant: Any, site: SiteInfo) -> None:
    store, office, machine = plant
    job = _job(store, office, machine, quantity=10)
    with store.write() as s:
        ops.start_job(s, actor=office, job_id=job.id)
        ops.complete_job(s, actor=office, job_id=job.id, produced=10)
    operator = Actor(org_id=site.org_id, user_id=None, role="operator")
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        ops.reopen_job(s, actor=operator, job_id=job.id)
    assert exc.value.code == "reopen_office_only" and exc.value.status == 403
    with store.write() as s:
        again = ops.reopen_job(s, actor=office, job_id=job.id)
        assert again.status == "PAUSED" and again.completed_at is None
        assert again.produced_qty == 10


def test_short_close_needs_a_reason_then_keeps_it(plant: Any) -> None:
    store, office, machine = plant
    job = _job(store, office, machine)
    with store.write() as s:
        ops.start_job(s, actor=office, job_id=job.id)
        ops.report_progress(s, actor=office, job_id=job.id, produced=620)
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        ops.complete_job(s, actor=office, job_id=job.id)
    assert exc.value.code == "short_close_reason_required"
    assert exc.value.params == {"produced": "620.000", "quantity": "1000.000"}
    with store.write() as s:
        done = ops.complete_job(s, actor=office, job_id=job.id, reason="client cut the order")
        assert done.status == "COMPLETED" and done.short_close_reason == "client cut the order"


def test_a_correction_reverses_a_report_with_a_reason(plant: Any) -> None:
    store, office, machine = plant
    job = _job(store, office, machine)
    with store.write() as s:
        ops.start_job(s, actor=office, job_id=job.id)
        wrong = writes.create(s, actor=office, entity="production_reports",
                              data={"job_id": job.id, "good_qty": "300"})  # fmt: skip
    bad = {"job_id": job.id, "good_qty": "-300", "kind": "correction", "reverses_id": wrong.id}
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        writes.create(s, actor=office, entity="production_reports", data=bad)
    assert exc.value.code == "correction_reason_required"
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        writes.create(s, actor=office, entity="production_reports",
                      data={"job_id": job.id, "good_qty": "-300"})  # fmt: skip
    assert exc.value.code == "negative_report"
    with store.write() as s:
        writes.create(s, actor=office, entity="production_reports",
                      data={**bad, "reason": "typed 300 for 30"})  # fmt: skip
        again = writes.get_live(s, writes.spec_for("jobs"), office.org_id, job.id)
        assert again.produced_qty == 0
    with store.write() as s, pytest.raises(RuleBroken) as exc:  # never below zero
        writes.create(s, actor=office, entity="production_reports",
                      data={**bad, "reason": "again"})  # fmt: skip
    assert exc.value.code == "produced_below_zero"


def test_oee_from_reports_and_downtime_factor_by_factor(plant: Any) -> None:
    """The worked example: 450 min planned, 45 stopped -> A = 0.90; ideal 40 m/min, 14,580 m made
    -> P = 0.90; 729 m scrap -> Q = 0.95; OEE = 0.7695."""
    store, office, machine = plant
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    end = start + timedelta(minutes=480)
    job = _job(store, office, machine, quantity=20_000)
    with store.write() as s:
        writes.update(s, actor=office, entity="jobs", id=job.id, data={"status": "IN_PROGRESS"})
        for began, minutes, planned in ((4 * 60, 30, True), (60, 45, False)):
            writes.create(s, actor=office, entity="downtimes", data={
                "machine_id": machine, "started_at": start + timedelta(minutes=began),
                "ended_at": start + timedelta(minutes=began + minutes), "planned": planned,
                "reason": "PLANNED_STOP" if planned else "BREAKDOWN"})  # fmt: skip
        for good, scrap in (("9500", "500"), ("4351", "229")):
            writes.create(s, actor=office, entity="production_reports", data={
                "job_id": job.id, "good_qty": good, "scrap_qty": scrap,
                "at": start + timedelta(hours=2)})  # fmt: skip
    with store.read() as s:
        r = machine_oee(s, org_id=office.org_id, machine_id=machine, start=start, end=end,
                        now=end)  # fmt: skip
    assert D(r["planned_minutes"]) == 450 and D(r["run_minutes"]) == 405
    assert r["availability"] == "0.9000"  # 405 / 450
    assert D(r["produced"]) == 14580 and r["performance"] == "0.9000"  # 14,580 / (405 x 40)
    assert D(r["scrap"]) == 729 and r["quality"] == "0.9500"  # 13,851 / 14,580
    assert r["oee"] == "0.7695"


def test_each_factor_is_bounded_to_100_percent() -> None:
    """A forged quantity (the 148,892 % of the issue) reads as 100 % performance."""
    r = compute_oee(planned_minutes=D(450), downtime_minutes=D(0), produced=D(26_800_560),
                    scrap=D(0), ideal_rate=D(40))  # fmt: skip
    assert r.performance == D("1.0000") and r.oee == D("1.0000")
    r = compute_oee(planned_minutes=D(450), downtime_minutes=D(600), produced=D(10),
                    scrap=D(50), ideal_rate=D(40))  # fmt: skip
    assert r.availability == D("0.0000") and r.quality == D("0.0000")
    assert r.performance is None  # no run time: nothing to divide by


def test_rows_not_yet_written_in_the_same_transaction_count_for_the_machine_checks(
    plant: Any,
) -> None:
    """The checks on a machine's running job and open stop flush only when rows of their
    own kind wait to be written; a job or a stop made moments before in the same
    transaction, still pending, must be seen, as a sync apply or an import leaves them."""
    from core.models import Downtime, Job, Machine, Organisation

    store, office, machine = plant
    now = datetime.now(UTC)
    with pytest.raises(RuleBroken) as busy, store.write() as s:  # rolled back
        # Held, as the import holds what its rows point at: the checks' own look-up of
        # the machine then finds it in the session and flushes nothing on its way.
        held = s.get(Machine, (office.org_id, machine)), s.get(Organisation, office.org_id)
        s.add(Job(org_id=office.org_id, id="pending-running", machine_id=machine, title="A",
                  status="IN_PROGRESS", priority="NORMAL", quantity=D(10), produced_qty=D(0),
                  scrap_qty=D(0),
                  progress=D(0), sequence=1, version=1, sync_version=0, field_versions={},
                  created_at=now, updated_at=now))  # fmt: skip
        assert any(isinstance(o, Job) for o in s.new)  # not flushed
        writes.create(s, actor=office, entity="jobs",
                      data={"title": "B", "machine_id": machine, "quantity": 10, "sequence": 5,
                            "status": "IN_PROGRESS"})  # fmt: skip
    assert busy.value.code == "machine_busy" and all(held)
    with pytest.raises(RuleBroken) as stopped, store.write() as s:
        held = s.get(Machine, (office.org_id, machine)), s.get(Organisation, office.org_id)
        s.add(Downtime(org_id=office.org_id, id="pending-stop", machine_id=machine,
                       reason="MAINTENANCE", started_at=now - timedelta(minutes=5),
                       version=1, sync_version=0, field_versions={}, created_at=now,
                       updated_at=now))  # fmt: skip
        writes.create(s, actor=office, entity="jobs",
                      data={"title": "C", "machine_id": machine, "quantity": 10, "sequence": 5,
                            "status": "IN_PROGRESS"})  # fmt: skip
    assert stopped.value.code == "machine_stopped"


def test_a_progress_report_reads_each_row_once_and_flushes_once(plant: Any) -> None:
    """The report's job, machine and operator are read once each (a row looked up is
    kept for the transaction; the identity map alone let the machine go between its
    reference check and its counter), and nothing is flushed before the commit."""
    from sqlalchemy import event

    store, office, machine = plant
    with store.write() as s:
        writes.update(s, actor=office, entity="machines", id=machine,
                      data={"next_maintenance_at": 10, "maintenance_interval": 100})  # fmt: skip
    job = _job(store, office, machine)
    with store.write() as s:
        ops.start_job(s, actor=office, job_id=job.id)
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()[:4]).upper())

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        flushes: list[int] = []
        with store.write() as s:
            event.listen(s, "before_flush", lambda *a: flushes.append(1))
            ops.report_progress(s, actor=office, job_id=job.id, produced=20)
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    reads = [q for q in seen if q.startswith("SELECT")]
    assert sum("FROM MACHINES" in q or "MACHINES." in q for q in reads) == 1, reads
    assert sum("JOBS." in q for q in reads) == 1, reads
    assert len(flushes) == 1  # the commit's
    with store.read() as s:  # the due maintenance raised its alert, once
        from core.models import Alert

        assert [a.kind for a in s.query(Alert)] == ["maintenance_due"]


def test_the_running_job_check_sees_unflushed_changes_of_jobs_already_stored(
    plant: Any,
) -> None:
    """The one-running-job check looks at jobs changed earlier in the same transaction
    by their values in memory, without a flush: a job finished (or moved to another
    machine) moments before frees the machine; a job moved onto it holds it."""
    from core.models import Job

    store, office, machine = plant
    with store.write() as s:
        data = {"name": "C2", "type": "CONFORMADORA", "ideal_rate": 40}
        other = writes.create(s, actor=office, entity="machines", data=data).id
    running = _job(store, office, machine, status="IN_PROGRESS").id
    waiting = _job(store, office, other).id
    for change in ({"status": "DONE"}, {"machine_id": other, "status": "PAUSED"}):
        with pytest.raises(RuntimeError), store.write() as s:  # rolled back after the check
            job = s.get(Job, (office.org_id, running))
            for k, v in change.items():
                setattr(job, k, v)  # as a sync apply leaves it: not flushed
            assert job in s.dirty
            writes.create(s, actor=office, entity="jobs",
                          data={"title": "B", "machine_id": machine, "quantity": 10,
                                "status": "IN_PROGRESS"})  # fmt: skip
            raise RuntimeError("the machine was free")
    with pytest.raises(RuleBroken) as busy, store.write() as s:
        job = s.get(Job, (office.org_id, waiting))
        job.machine_id, job.status = machine, "IN_PROGRESS"  # moved onto it, not flushed
        s.get(Job, (office.org_id, running)).status = "DONE"
        writes.create(s, actor=office, entity="jobs",
                      data={"title": "C", "machine_id": machine, "quantity": 10,
                            "status": "IN_PROGRESS"})  # fmt: skip
    assert busy.value.code == "machine_busy" and busy.value.params["job_id"] == waiting
