"""``structura demo``: both domains, through the write path, idempotent, secrets hashed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core import demo
from core.db import Store, sqlite_url
from core.identity.security import verify_secret
from core.models import OutboxEntry
from core.registry import registry
from core.site import ensure_site, site_info
from tests.store_fixture import ORG_NAME, SITE_NAME, copy_sqlite

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def _rows(store: Store, entity: str) -> list:
    with store.read() as s:
        return list(s.scalars(select(registry()[entity].model)))


def _outbox(store: Store) -> int:
    with store.read() as s:
        return s.scalar(select(func.count()).select_from(OutboxEntry)) or 0


@pytest.fixture(scope="module")
def seeded(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A store file seeded once per module (and worker) at ``NOW``, with the seeding's
    result: seeding is most of each test's time, and every test starts from a copy."""
    path = copy_sqlite(sqlite_template, tmp_path_factory.mktemp("demo") / "seeded.db")
    store = Store(sqlite_url(path))
    try:
        ensure_site(store, org_name=ORG_NAME, site_name=SITE_NAME)
        result = demo.seed_demo(store, now=NOW)
        with store.engine.connect() as conn:
            # Everything into the main file, so a plain file copy is the whole database.
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            assert busy == 0, "seeded store checkpoint blocked"
    finally:
        store.dispose()
    return path, result


@pytest.fixture
def demo_store(seeded: tuple[Path, Any], tmp_path: Path) -> Iterator[tuple[Store, Any]]:
    """A copy of the seeded store, and what the first seeding returned."""
    path, result = seeded
    store = Store(sqlite_url(copy_sqlite(path, tmp_path / "store.db")))
    try:
        yield store, result
    finally:
        store.dispose()


def test_demo_fills_both_domains(demo_store: tuple[Store, Any]) -> None:
    store, result = demo_store
    for entity in registry():
        assert _rows(store, entity), f"no demo {entity}"
    machines = _rows(store, "machines")
    assert {m.type for m in machines} == {
        "CONFORMADORA", "PANELIZADO", "SOLDADURA", "PINTURA", "CARGA", "PANELES_SIP", "HERRERIA",
    }  # fmt: skip
    jobs = _rows(store, "jobs")
    assert {j.status for j in jobs} == {"PENDING", "IN_PROGRESS", "PAUSED", "COMPLETED", "CANCELED"}
    for m in machines:  # a queue per machine, and the current job is one of its own
        queue = sorted(j.sequence for j in jobs if j.machine_id == m.id and j.status == "PENDING")
        assert queue
        if m.current_job_id:
            assert next(j for j in jobs if j.id == m.current_job_id).machine_id == m.id
    assert any(i.quantity < i.reorder_point for i in _rows(store, "inventory"))
    today = demo._anchor(NOW).date()
    assert any(d.started_at.date() == today for d in _rows(store, "downtimes"))
    shows = _rows(store, "shows")
    assert len({s.currency for s in shows}) >= 4
    assert len({(s.starts_at.year, s.starts_at.month) for s in shows}) >= 5
    assert all(s.fx_rate for s in shows if s.currency != "EUR")
    assert {c.kind for c in _rows(store, "calendar_entries")} >= {"day_off", "rehearsal"}
    (rule,) = _rows(store, "finance_rules")
    assert rule.home_currency == "EUR" and rule.user_id is None
    # Spanish and English names side by side.
    names = " ".join(m.name for m in machines)
    assert "Conformadora" in names and "Roll former" in names
    # Everything went through the write path: one create in the outbox per row.
    total = sum(result.created.values())
    with store.read() as s:
        creates = s.execute(
            select(OutboxEntry.entity, OutboxEntry.entity_id).where(OutboxEntry.kind == "create")
        ).all()
    assert len([c for c in creates if c[1].startswith("demo-")]) == total and total > 200
    # What the rules of the work made besides: opening balances of completed jobs and
    # the maintenance alerts the reported metres raise.
    made = {c[0] for c in creates if not c[1].startswith("demo-")}
    assert made <= {"production_reports", "alerts"}


def test_demo_users_and_secrets(demo_store: tuple[Store, Any]) -> None:
    store, result = demo_store
    users = {u.id: u for u in _rows(store, "users")}
    admin = users[demo.ADMIN_ID]
    assert admin.email == demo.ADMIN_EMAIL and admin.role == "admin"
    assert result.admin_password and verify_secret(admin.password_hash, result.admin_password)
    assert result.admin_password not in (admin.password_hash or "")
    for uid, (_, role, _, pin) in demo.PINS.items():
        assert users[uid].role == role and verify_secret(users[uid].pin_hash, pin)
    assert {u.role for u in users.values()} == {"admin", "office", "operator", "crew"}


def test_demo_twice_is_idempotent_and_keeps_the_password(demo_store: tuple[Store, Any]) -> None:
    store, first = demo_store
    outbox = _outbox(store)
    counts = {e: len(_rows(store, e)) for e in registry()}
    second = demo.seed_demo(store, now=NOW)
    assert second.created == {} and second.updated == {}
    assert second.admin_password is None  # printed once only
    assert _outbox(store) == outbox
    assert {e: len(_rows(store, e)) for e in registry()} == counts
    admin = next(u for u in _rows(store, "users") if u.id == demo.ADMIN_ID)
    assert verify_secret(admin.password_hash, first.admin_password)
    third = demo.seed_demo(store, now=NOW, admin_password="new-secret-pw")
    assert third.admin_password == "new-secret-pw"
    admin = next(u for u in _rows(store, "users") if u.id == demo.ADMIN_ID)
    assert verify_secret(admin.password_hash, "new-secret-pw")


def test_demo_next_day_refreshes_times_without_duplicates(demo_store: tuple[Store, Any]) -> None:
    store, _ = demo_store
    counts = {e: len(_rows(store, e)) for e in registry()}
    later = demo.seed_demo(store, now=NOW.replace(day=NOW.day + 1))
    assert later.created == {} and later.updated.get("downtimes")
    assert {e: len(_rows(store, e)) for e in registry()} == counts


@pytest.mark.slow
def test_demo_cli(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "core.cli", "--data-dir", str(tmp_path), "demo"]
    started = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - started < 60  # well under 10 s on an idle machine
    assert str(tmp_path / "site.sqlite3") in res.stdout
    assert demo.ADMIN_EMAIL in res.stdout and "password:" in res.stdout
    password = res.stdout.split("password: ")[1].split()[0]
    store = Store(sqlite_url(tmp_path / "site.sqlite3"))
    try:
        assert site_info(store) is not None
        admin = next(u for u in _rows(store, "users") if u.id == demo.ADMIN_ID)
        assert verify_secret(admin.password_hash, password)
    finally:
        store.dispose()
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert again.returncode == 0 and password not in again.stdout
    assert "0 rows created" in again.stdout
    short = subprocess.run(
        [*cmd, "--admin-password", "short"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert short.returncode == 2


def test_demo_oee_chart_has_the_last_14_days(demo_store: tuple[Store, Any]) -> None:
    from core.factory.oee import oee_report

    store, _ = demo_store
    t0 = demo._anchor(NOW)
    with store.read() as s:
        org = _rows(store, "machines")[0].org_id
        rows = oee_report(s, org_id=org, period="day", start=t0 - timedelta(days=13), end=NOW,
                          now=NOW)  # fmt: skip
    days = {r["start"][:10] for r in rows if r["oee"] is not None and Decimal(r["oee"]) > 0}
    assert len(days) == 14
    assert all(0 <= Decimal(r[f]) <= 1 for r in rows for f in ("availability", "performance",
               "quality", "oee") if r[f] is not None)  # fmt: skip
