"""``structura demo``: both domains, through the write path, idempotent, secrets hashed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from core import demo
from core.db import Store, sqlite_url
from core.models import OutboxEntry
from core.registry import registry
from core.security import verify_secret
from core.site import site_info

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def _rows(store: Store, entity: str) -> list:
    with store.read() as s:
        return list(s.scalars(select(registry()[entity].model)))


def _outbox(store: Store) -> int:
    with store.read() as s:
        return s.scalar(select(func.count()).select_from(OutboxEntry)) or 0


def test_demo_fills_both_domains(store: Store) -> None:
    result = demo.seed_demo(store, now=NOW)
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
        creates = s.scalar(select(func.count()).where(OutboxEntry.kind == "create"))
    assert creates == total and total > 200


def test_demo_users_and_secrets(store: Store) -> None:
    result = demo.seed_demo(store, now=NOW)
    users = {u.id: u for u in _rows(store, "users")}
    admin = users[demo.ADMIN_ID]
    assert admin.email == demo.ADMIN_EMAIL and admin.role == "admin"
    assert result.admin_password and verify_secret(admin.password_hash, result.admin_password)
    assert result.admin_password not in (admin.password_hash or "")
    for uid, (_, role, _, pin) in demo.PINS.items():
        assert users[uid].role == role and verify_secret(users[uid].pin_hash, pin)
    assert {u.role for u in users.values()} == {"admin", "office", "operator", "crew"}


def test_demo_twice_is_idempotent_and_keeps_the_password(store: Store) -> None:
    first = demo.seed_demo(store, now=NOW)
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


def test_demo_next_day_refreshes_times_without_duplicates(store: Store) -> None:
    demo.seed_demo(store, now=NOW)
    counts = {e: len(_rows(store, e)) for e in registry()}
    later = demo.seed_demo(store, now=NOW.replace(day=NOW.day + 1))
    assert later.created == {} and later.updated.get("downtimes")
    assert {e: len(_rows(store, e)) for e in registry()} == counts


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
