"""OEE arithmetic (a worked example checked by hand) and OEE from recorded downtime and
production."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from core import writes
from core.factory import actions as ops
from core.factory.oee import compute_oee, machine_oee, oee_report, periods
from core.site import site_info
from core.writes import Actor


def test_domain_example():
    r = compute_oee(
        planned_minutes=D(450),
        downtime_minutes=D(45),
        produced=D(14580),
        scrap=D(729),
        ideal_rate=D(40),
    )
    assert (r.availability, r.performance, r.quality, r.oee) == (
        D("0.9000"),
        D("0.9000"),
        D("0.9500"),
        D("0.7695"),
    )


def test_no_planned_time_or_rate_gives_no_ratio_instead_of_dividing_by_zero():
    r = compute_oee(
        planned_minutes=D(0), downtime_minutes=D(0), produced=D(0), scrap=D(0), ideal_rate=None
    )
    assert r.availability is None and r.performance is None and r.oee is None


def test_shift_periods_cover_the_day():
    day = datetime(2026, 11, 20, tzinfo=UTC)
    shifts = periods("shift", day, day + timedelta(days=1))
    assert sum((b - a for a, b in shifts), timedelta()) == timedelta(days=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def any_store(request):
    """The OEE queries extract JSON fields in the database: check both dialects."""
    store = request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")
    return store, site_info(store)


def test_machine_oee_from_downtime_and_production_events(any_store):
    store, site = any_store
    actor = Actor(org_id=site.org_id, user_id=None, role="admin")
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    end = start + timedelta(minutes=480)
    with store.write() as s:
        m = writes.create(
            s,
            actor=actor,
            entity="machines",
            data={"name": "C1", "type": "CONFORMADORA", "ideal_rate": 40},
        )
        # A 30-minute planned break makes 450 planned minutes; 45 minutes of breakdown.
        writes.create(
            s,
            actor=actor,
            entity="downtimes",
            data={
                "machine_id": m.id,
                "started_at": start + timedelta(hours=4),
                "ended_at": start + timedelta(hours=4, minutes=30),
                "planned": True,
                "reason": "PLANNED_STOP",
            },
        )
        writes.create(
            s,
            actor=actor,
            entity="downtimes",
            data={
                "machine_id": m.id,
                "started_at": start + timedelta(hours=1),
                "ended_at": start + timedelta(hours=1, minutes=45),
                "reason": "BREAKDOWN",
            },
        )
        for qty, scrap in (("10000", "500"), ("4580", "229")):
            writes.create(
                s,
                actor=actor,
                entity="events",
                data={
                    "type": "PRODUCTION",
                    "at": start + timedelta(hours=2),
                    "payload": {"machine_id": m.id, "qty": qty, "scrap": scrap},
                },
            )
    with store.read() as s:
        r = machine_oee(s, org_id=actor.org_id, machine_id=m.id, start=start, end=end, now=end)
        rows = oee_report(s, org_id=actor.org_id, period="shift", start=start, end=end, now=end)
    assert r["oee"] == "0.7695"
    assert len(rows) == 1 and rows[0]["oee"] == "0.7695"


def test_progress_reports_feed_oee(store, site):
    actor = Actor(org_id=site.org_id, user_id=None, role="office")
    with store.write() as s:
        m = writes.create(
            s,
            actor=actor,
            entity="machines",
            data={"name": "C2", "type": "CONFORMADORA", "ideal_rate": 40},
        )
        j = writes.create(
            s,
            actor=actor,
            entity="jobs",
            data={"title": "C150", "machine_id": m.id, "quantity": 1000},
        )
        ops.start_job(s, actor=actor, job_id=j.id)
        ops.report_progress(s, actor=actor, job_id=j.id, produced=200, scrap=10)
    now = datetime.now(UTC)
    with store.read() as s:
        r = machine_oee(
            s,
            org_id=actor.org_id,
            machine_id=m.id,
            start=now - timedelta(hours=1),
            end=now + timedelta(minutes=1),
            now=now,
        )
    assert D(r["produced"]) == D(200) and D(r["scrap"]) == D(10)
    assert r["quality"] == "0.9500"
