"""Online SQLite backups: the backup API under concurrent writes, verification,
retention, the schedule, the CLI, and restore (atomic, safety copy, refused while the
store is open in another process)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import backup, writes
from core.cli import main
from core.db import Store, sqlite_url
from core.models import Client
from core.site import SiteInfo, ensure_site, open_store


def add_clients(store: Store, site: SiteInfo, n: int, prefix: str = "c") -> None:
    actor = writes.Actor.system(site.org_id)
    for i in range(n):
        with store.write() as s:
            writes.create(s, actor=actor, entity="clients", data={"name": f"{prefix}{i}"})


def count_clients(path: Path) -> int:
    store = Store(sqlite_url(path))
    try:
        with store.read() as s:
            return int(s.scalar(select(func.count()).select_from(Client)) or 0)
    finally:
        store.dispose()


def test_backup_is_online_consistent_and_verified(store: Store, site: SiteInfo, tmp_path: Path):
    add_clients(store, site, 20)
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_writing() -> None:
        i = 0
        try:
            while not stop.is_set():
                add_clients(store, site, 1, prefix=f"w{i}-")
                i += 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        infos = [backup.create_backup(store, tmp_path / "b", keep=0) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    assert not errors
    for info in infos:
        assert backup.integrity(info.path) == "ok"
        assert info.path.name.startswith("site-") and info.path.suffix == ".sqlite3"
        # One file, no WAL beside it: the copy is self-contained.
        assert not Path(str(info.path) + "-wal").exists()
        assert count_clients(info.path) >= 20
        # Counts only grow from one backup to the next (each is one snapshot).
    counts = [count_clients(i.path) for i in infos]
    assert counts == sorted(counts)
    assert not list((tmp_path / "b").glob("*.partial"))


def test_retention_keeps_the_newest(store: Store, site: SiteInfo, tmp_path: Path):
    made = [backup.create_backup(store, tmp_path, keep=3).path for _ in range(5)]
    left = [b.path for b in backup.list_backups(tmp_path)]
    assert left == made[-3:]


def test_restore_replaces_the_store_and_keeps_a_safety_copy(tmp_path: Path):
    path = tmp_path / "site.sqlite3"
    store = open_store(sqlite_url(path))
    site = ensure_site(store, org_name="Acme", site_name="Plant")
    add_clients(store, site, 3)
    saved = backup.create_backup(store, tmp_path / "backups")
    add_clients(store, site, 4, prefix="later")
    store.dispose()
    assert count_clients(path) == 7

    safety = backup.restore_backup(saved.path, sqlite_url(path))
    assert count_clients(path) == 3
    assert safety is not None and count_clients(safety) == 7
    assert backup.integrity(path) == "ok"
    assert not list(tmp_path.glob("*.restoring*"))
    # The restored store is a normal WAL store again.
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    # Safety copies are not backups: retention never deletes them.
    assert [b.path for b in backup.list_backups(tmp_path / "backups")] == [saved.path]


def test_restore_refuses_a_damaged_backup(tmp_path: Path):
    bad = tmp_path / "site-20240101T000000000Z.sqlite3"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(backup.BackupError, match="integrity"):
        backup.restore_backup(bad, tmp_path / "site.sqlite3")


HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
print("open", flush=True)
sys.stdin.readline()
"""


def test_restore_refuses_while_another_process_has_the_store_open(tmp_path: Path):
    path = tmp_path / "site.sqlite3"
    store = open_store(sqlite_url(path))
    ensure_site(store, org_name="Acme", site_name="Plant")
    saved = backup.create_backup(store, tmp_path / "backups")
    store.dispose()
    with subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:  # fmt: skip
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert backup.store_in_use(path)
        with pytest.raises(backup.BackupError, match="open in another process"):
            backup.restore_backup(saved.path, path)
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
    assert not backup.store_in_use(path)
    assert backup.restore_backup(saved.path, path) is not None


def test_scheduler_backs_up_on_its_interval(store: Store, site: SiteInfo, tmp_path: Path):
    sched = backup.BackupScheduler(store, tmp_path, interval=0.2, keep=2, first_delay=0.05)
    sched.start()
    try:
        deadline = time.monotonic() + 10
        while len(backup.list_backups(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sched.stop()
    assert len(backup.list_backups(tmp_path)) == 2  # and retention applied
    assert sched.last is not None and sched.last_error is None


def test_scheduler_first_backup_is_due_after_the_newest_on_disk(store, site, tmp_path: Path):
    backup.create_backup(store, tmp_path)
    sched = backup.BackupScheduler(store, tmp_path, interval=3600, first_delay=1)
    assert 3590 < sched.next_delay() <= 3600
    assert backup.BackupScheduler(store, tmp_path / "none", interval=3600).next_delay() == 60


def test_cli_create_list_verify_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = ["--data-dir", str(tmp_path)]
    store = open_store(sqlite_url(tmp_path / "site.sqlite3"))
    site = ensure_site(store, org_name="Acme", site_name="Plant")
    add_clients(store, site, 2)
    store.dispose()
    assert main([*data, "backup", "create", "--keep", "5"]) == 0
    made = capsys.readouterr().out.split("\t")[0]
    assert Path(made).parent == tmp_path / "backups"
    assert main([*data, "backup", "list"]) == 0
    assert made in capsys.readouterr().out
    assert main([*data, "backup", "verify", made]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok")
    assert main([*data, "backup", "restore", made]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "pre-restore-" in out
    assert main([*data, "backup", "create", "--dir", str(tmp_path / "elsewhere")]) == 0
    assert len(backup.list_backups(tmp_path / "elsewhere")) == 1
