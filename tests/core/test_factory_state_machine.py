"""Jobs, machines, downtime and production reports driven at random (a Hypothesis
rule-based state machine) through the actions and the generic update, on a real
SQLite store; the invariants are checked after every step:

- at most one job in progress per machine;
- a job's produced and scrap quantities are the sums of its production reports;
- no downtime ends before it starts, and a machine with an open stop is not RUNNING;
- every OEE factor of every machine is within 0-100 %.

A step the rules refuse is fine (that is what they are for); a step that breaks an
invariant, or fails with anything but a domain error, is not.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from core import writes
from core.clock import utcnow
from core.db import Store, sqlite_url
from core.errors import DomainError
from core.factory import actions as ops
from core.factory.oee import machines_oee
from core.models import Downtime, Job, Machine, ProductionReport
from core.site import ensure_site
from core.writes import Actor
from tests.store_fixture import copy_sqlite

MACHINES = ("m0", "m1")
JOBS = ("j0", "j1", "j2", "j3")
REASONS = ("BREAKDOWN", "MATERIAL", "MAINTENANCE", "SETUP")
STATUSES = ("RUNNING", "IDLE", "MAINTENANCE", "ERROR", "OFFLINE")
JOB_STATUSES = ("PENDING", "IN_PROGRESS", "PAUSED", "COMPLETED", "CANCELED")
quantities = st.decimals(min_value=0, max_value=500, places=1, allow_nan=False)


# slow: 15 random runs of 25 steps, each on a fresh store; the rules' own examples stay in the
# fast loop (test_factory_rules.py)
@pytest.mark.slow
def test_factory_rules_hold_whatever_the_order_of_steps(sqlite_template: Path, tmp_path: Path):
    counter = itertools.count()

    class Floor(RuleBasedStateMachine):
        @initialize()
        def open(self) -> None:
            path = copy_sqlite(sqlite_template, tmp_path / f"floor-{next(counter)}.db")
            self.store = Store(sqlite_url(path))
            site = ensure_site(self.store, org_name="Floor", site_name="Valencia")
            self.org = site.org_id
            self.office = Actor(org_id=self.org, user_id=None, role="office")
            self.t0 = utcnow() - timedelta(hours=1)
            with self.store.write() as s:
                for i, m in enumerate(MACHINES):
                    writes.create(s, actor=self.office, entity="machines", id=m,
                                  data={"name": f"M{i}", "type": "CONFORMADORA",
                                        "ideal_rate": 40})  # fmt: skip
                for i, j in enumerate(JOBS):
                    writes.create(s, actor=self.office, entity="jobs", id=j,
                                  data={"title": j, "machine_id": MACHINES[i % 2],
                                        "quantity": 300})  # fmt: skip

        def teardown(self) -> None:
            store = getattr(self, "store", None)
            if store is not None:
                store.dispose()

        def attempt(self, fn: Any, **kwargs: Any) -> None:
            try:
                with self.store.write() as s:
                    fn(s, actor=self.office, **kwargs)
            except DomainError:
                pass  # refused by a rule, an ownership or a validation check: nothing changed

        @rule(job=st.sampled_from(JOBS))
        def start(self, job: str) -> None:
            self.attempt(ops.start_job, job_id=job)

        @rule(job=st.sampled_from(JOBS))
        def pause(self, job: str) -> None:
            self.attempt(ops.pause_job, job_id=job)

        @rule(job=st.sampled_from(JOBS), made=quantities, reason=st.sampled_from([None, "x"]))
        def complete(self, job: str, made: Decimal, reason: str | None) -> None:
            self.attempt(ops.complete_job, job_id=job, produced=made, reason=reason)

        @rule(job=st.sampled_from(JOBS))
        def reopen(self, job: str) -> None:
            self.attempt(ops.reopen_job, job_id=job)

        @rule(job=st.sampled_from(JOBS), made=quantities, data=st.data())
        def progress(self, job: str, made: Decimal, data: st.DataObject) -> None:
            scrap = data.draw(st.decimals(min_value=0, max_value=made, places=1))
            self.attempt(ops.report_progress, job_id=job, produced=made, scrap=scrap)

        @rule(job=st.sampled_from(JOBS), status=st.sampled_from(JOB_STATUSES))
        def patch_status(self, job: str, status: str) -> None:
            def patch(s: Any, actor: Actor, job_id: str) -> None:
                writes.update(s, actor=actor, entity="jobs", id=job_id, data={"status": status})

            self.attempt(patch, job_id=job)

        @rule(job=st.sampled_from(JOBS), machine=st.sampled_from(MACHINES))
        def move(self, job: str, machine: str) -> None:
            def patch(s: Any, actor: Actor) -> None:
                writes.update(s, actor=actor, entity="jobs", id=job, data={"machine_id": machine})

            self.attempt(patch)

        @rule(job=st.sampled_from(JOBS))
        def correct_last_report(self, job: str) -> None:
            def correct(s: Any, actor: Actor) -> None:
                last = s.scalars(
                    select(ProductionReport)
                    .where(ProductionReport.job_id == job, ProductionReport.kind == "report")
                    .order_by(ProductionReport.created_at.desc())
                    .limit(1)
                ).first()
                if last is not None:
                    writes.create(s, actor=actor, entity="production_reports", data={
                        "job_id": job, "kind": "correction", "reverses_id": last.id,
                        "good_qty": -last.good_qty, "scrap_qty": -last.scrap_qty,
                        "reason": "counted twice"})  # fmt: skip

            self.attempt(correct)

        @rule(machine=st.sampled_from(MACHINES), reason=st.sampled_from(REASONS))
        def stop(self, machine: str, reason: str) -> None:
            self.attempt(ops.report_downtime, machine_id=machine, reason=reason)

        @rule(machine=st.sampled_from(MACHINES))
        def end_stop(self, machine: str) -> None:
            self.attempt(ops.end_machine_downtime, machine_id=machine)

        @rule(machine=st.sampled_from(MACHINES), status=st.sampled_from(STATUSES))
        def set_status(self, machine: str, status: str) -> None:
            self.attempt(ops.set_machine_status, machine_id=machine, status=status)

        @invariant()
        def one_running_job_per_machine(self) -> None:
            with self.store.read() as s:
                counts = s.execute(
                    select(Job.machine_id, func.count())
                    .where(Job.status == "IN_PROGRESS")
                    .group_by(Job.machine_id)
                ).all()
            assert all(n <= 1 for _, n in counts), counts

        @invariant()
        def produced_is_the_sum_of_reports(self) -> None:
            with self.store.read() as s:
                for job in s.scalars(select(Job)):
                    reports = s.scalars(
                        select(ProductionReport).where(ProductionReport.job_id == job.id)
                    ).all()
                    good = sum((r.good_qty for r in reports), Decimal(0))
                    scrap = sum((r.scrap_qty for r in reports), Decimal(0))
                    assert job.produced_qty == good + scrap and job.scrap_qty == scrap
                    assert job.produced_qty >= 0 and job.scrap_qty >= 0

        @invariant()
        def stops_are_sane(self) -> None:
            with self.store.read() as s:
                for d in s.scalars(select(Downtime)):
                    assert d.ended_at is None or d.ended_at >= d.started_at
                open_stops = {d.machine_id for d in s.scalars(
                    select(Downtime).where(Downtime.ended_at.is_(None)))}  # fmt: skip
                for m in s.scalars(select(Machine)):
                    assert not (m.id in open_stops and m.status == "RUNNING"), m.id

        @invariant()
        def oee_factors_are_within_bounds(self) -> None:
            now = utcnow()
            with self.store.read() as s:
                machines = list(s.scalars(select(Machine)))
                result = machines_oee(s, org_id=self.org, machines=machines, start=self.t0,
                                      end=now + timedelta(seconds=1), now=now)  # fmt: skip
            for row in result.values():
                for factor in ("availability", "performance", "quality", "oee"):
                    if row[factor] is not None:
                        assert Decimal(0) <= Decimal(row[factor]) <= Decimal(1), (factor, row)

    Floor.TestCase.settings = settings(
        max_examples=15, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )  # fmt: skip
    Floor.TestCase().runTest()
