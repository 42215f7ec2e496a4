"""Shop-floor actions through the one write path: transitions, who may do what, the
maintenance counter and the alerts its rules raise."""

from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from core import writes
from core.errors import Conflict, Forbidden, Invalid, RuleBroken
from core.factory import actions as ops
from core.models import Alert, OutboxEntry, ProductionReport
from core.writes import Actor


@pytest.fixture
def floor(store, site):
    office = Actor(org_id=site.org_id, user_id=None, role="admin")
    with store.write() as s:
        ana = writes.create(
            s,
            actor=office,
            entity="users",
            data={"name": "Ana", "role": "operator", "pin": "583920"},
        )
        luis = writes.create(
            s,
            actor=office,
            entity="users",
            data={"name": "Luis", "role": "operator", "pin": "864209"},
        )
        m = writes.create(
            s,
            actor=office,
            entity="machines",
            data={
                "name": "Conformadora 1",
                "type": "CONFORMADORA",
                "ideal_rate": 40,
                "maintenance_interval": 1000,
                "next_maintenance_at": 1000,
            },
        )
        j1 = writes.create(
            s,
            actor=office,
            entity="jobs",
            data={
                "title": "C150 lote 1",
                "machine_id": m.id,
                "quantity": 500,
                "operator_ids": [ana.id],
                "sequence": 1,
            },
        )
        j2 = writes.create(
            s,
            actor=office,
            entity="jobs",
            data={"title": "C150 lote 2", "machine_id": m.id, "quantity": 800, "sequence": 2},
        )
    ana_actor = Actor(org_id=site.org_id, user_id=ana.id, role="operator")
    luis_actor = Actor(org_id=site.org_id, user_id=luis.id, role="operator")
    return store, office, ana_actor, luis_actor, m, j1, j2


def count(s, model, *where):
    return s.scalar(select(func.count()).select_from(model).where(*where))


def test_start_progress_complete_updates_job_machine_and_board(floor):
    store, _, ana, _, _m, j1, _ = floor
    with store.write() as s:
        ops.start_job(s, actor=ana, job_id=j1.id, version=j1.version)
    with store.read() as s:
        card = ops.board(s, org_id=ana.org_id)[0]
    assert card["status"] == "RUNNING" and card["current_job"]["id"] == j1.id
    with store.write() as s:
        ops.report_progress(s, actor=ana, job_id=j1.id, produced=200, scrap=5)
        job = ops.complete_job(s, actor=ana, job_id=j1.id, produced="300", scrap=0)
        assert job.status == "COMPLETED" and job.produced_qty == D(500)
        assert job.progress == D(100) and job.completed_at is not None
    with store.read() as s:
        card = ops.board(s, org_id=ana.org_id)[0]
        assert card["status"] == "IDLE" and card["current_job"] is None
        assert card["next_job"]["title"] == "C150 lote 2"
        assert D(card["total_meters"]) == D(500)
        assert count(s, ProductionReport) == 2
        assert count(s, OutboxEntry, OutboxEntry.entity == "production_reports") == 2
        # JOB_STARTED, JOB_COMPLETED
        assert count(s, OutboxEntry, OutboxEntry.entity == "events") == 2


def test_operator_cannot_touch_another_operators_job_and_crew_cannot_act(floor, site):
    store, _, _, luis, _, j1, j2 = floor
    crew = Actor(org_id=site.org_id, user_id=None, role="crew")
    with store.write() as s, pytest.raises(Forbidden):
        ops.start_job(s, actor=luis, job_id=j1.id)
    with store.write() as s, pytest.raises(Forbidden):
        ops.start_job(s, actor=crew, job_id=j2.id)
    with store.write() as s:  # an unassigned job is taken by whoever starts it
        job = ops.start_job(s, actor=luis, job_id=j2.id)
        assert job.operator_ids == [luis.user_id]


def test_invalid_transitions_and_quantities_are_refused_and_change_nothing(floor):
    store, _, ana, _, _m, j1, j2 = floor
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        ops.pause_job(s, actor=ana, job_id=j1.id)
    assert exc.value.code == "job_transition"
    assert exc.value.params["from"] == "PENDING" and exc.value.params["to"] == "PAUSED"
    with store.write() as s:
        ops.start_job(s, actor=ana, job_id=j1.id)
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        ops.start_job(s, actor=Actor(org_id=ana.org_id, user_id=None, role="office"), job_id=j2.id)
    assert exc.value.code == "machine_busy" and exc.value.params["job_id"] == j1.id
    for produced, scrap in ((-1, 0), ("abc", 0), (10, 20), ("NaN", 0)):
        with store.write() as s, pytest.raises((Invalid, RuleBroken)):
            ops.report_progress(s, actor=ana, job_id=j1.id, produced=produced, scrap=scrap)
    with store.read() as s:
        assert s.get(type(j1), (ana.org_id, j1.id)).produced_qty == 0


def test_stale_version_is_a_conflict(floor):
    store, _, ana, _, _, j1, _ = floor
    with store.write() as s:
        ops.start_job(s, actor=ana, job_id=j1.id, version=j1.version)
    with store.write() as s, pytest.raises(Conflict) as exc:
        ops.pause_job(s, actor=ana, job_id=j1.id, version=j1.version)
    assert exc.value.current.status == "IN_PROGRESS"


def test_maintenance_counter_warns_at_90_percent_then_alerts_when_due(floor):
    store, office, ana, _, m, j1, _ = floor
    with store.write() as s:
        ops.start_job(s, actor=ana, job_id=j1.id)
        ops.report_progress(s, actor=ana, job_id=j1.id, produced=850)
    with store.read() as s:
        assert count(s, Alert) == 0
    with store.write() as s:
        ops.report_progress(s, actor=ana, job_id=j1.id, produced=60)  # 910 m: within 10 %
        ops.report_progress(s, actor=ana, job_id=j1.id, produced=10)  # a second warning? no
    with store.read() as s:
        kinds = s.scalars(select(Alert.kind)).all()
        assert kinds == ["maintenance_soon"]
    with store.write() as s:
        ops.report_progress(s, actor=ana, job_id=j1.id, produced=100)  # 1020 m: due
    with store.read() as s:
        assert sorted(s.scalars(select(Alert.kind))) == ["maintenance_due", "maintenance_soon"]
    with store.write() as s:
        machine = ops.record_maintenance(s, actor=office, machine_id=m.id)
        assert machine.next_maintenance_at == D(2020)


def test_machine_error_raises_one_alert_and_operator_can_report_downtime(floor):
    store, _, ana, _, m, _, _ = floor
    with store.write() as s:
        ops.set_machine_status(s, actor=ana, machine_id=m.id, status="ERROR", note="rodillos")
        ops.set_machine_status(s, actor=ana, machine_id=m.id, status="ERROR")
        d = ops.report_downtime(s, actor=ana, machine_id=m.id, reason="BREAKDOWN")
        assert d.reported_by == ana.user_id and d.updated_by == ana.user_id
    with store.read() as s:
        card = ops.board(s, org_id=ana.org_id)[0]
        assert card["status"] == "ERROR" and card["stop"]["reason"] == "BREAKDOWN"
        assert card["stop"]["id"] == d.id
    with store.read() as s:
        alerts = s.scalars(select(Alert)).all()
        assert [a.kind for a in alerts] == ["machine_error"]
    with store.write() as s:
        ops.dismiss_alert(s, actor=ana, alert_id=alerts[0].id)
        ended = ops.end_downtime(s, actor=ana, downtime_id=d.id)
        assert ended.ended_at is not None
    with store.read() as s:
        card = ops.board(s, org_id=ana.org_id)[0]
        assert card["status"] == "IDLE" and card["stop"] is None
    with store.write() as s, pytest.raises(RuleBroken) as exc:
        ops.end_downtime(s, actor=ana, downtime_id=d.id)
    assert exc.value.code == "downtime_already_ended"


def test_messages_are_marked_read_only_by_their_recipient(floor):
    store, _, ana, luis, *_ = floor
    with store.write() as s:
        msg = writes.create(
            s,
            actor=ana,
            entity="messages",
            data={"to_user_id": luis.user_id, "body": "¿Cuándo entra la bobina?"},
        )
        assert msg.from_user_id == ana.user_id
    with store.write() as s, pytest.raises(Forbidden):
        ops.mark_message_read(s, actor=ana, message_id=msg.id)
    with store.write() as s:
        assert ops.mark_message_read(s, actor=luis, message_id=msg.id).read_at is not None


def test_my_jobs_lists_active_assigned_jobs_running_first(floor):
    store, office, ana, _, m, j1, _ = floor
    with store.write() as s:
        j3 = writes.create(
            s,
            actor=office,
            entity="jobs",
            data={
                "title": "urgente",
                "machine_id": m.id,
                "quantity": 10,
                "operator_ids": [ana.user_id],
                "sequence": 0,
            },
        )
        ops.start_job(s, actor=ana, job_id=j1.id)
    with store.read() as s:
        assert [j.id for j in ops.my_jobs(s, actor=ana)] == [j1.id, j3.id]


def test_a_rolled_back_savepoint_leaves_no_outbox_or_audit_entry(floor):
    """An action that fails halfway inside a savepoint (the batch API's shape) must not
    leave the outbox or audit entries of its first half behind."""
    from core.models import AuditEntry

    store, _, ana, _, _m, j1, _ = floor
    with store.read() as s:
        before = (count(s, OutboxEntry), count(s, AuditEntry))
    with store.write() as s:
        with pytest.raises(Invalid), s.begin_nested():
            writes.update(
                s, actor=ana, entity="jobs", id=j1.id, data={"title": "renamed"}, check=False
            )
            writes.update(s, actor=ana, entity="jobs", id=j1.id, data={"quantity": -1}, check=False)
        writes.update(s, actor=ana, entity="jobs", id=j1.id, data={"priority": "HIGH"}, check=False)
    with store.read() as s:
        assert (count(s, OutboxEntry), count(s, AuditEntry)) == (before[0] + 1, before[1] + 1)
        assert s.get(type(j1), (ana.org_id, j1.id)).title == "C150 lote 1"
