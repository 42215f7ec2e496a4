"""kill -9 of the central server in the middle of a batch, and of the site agent in the
middle of a push, over real HTTP on loopback (guarantees 1 and 2): after restarting,
every op is applied exactly once and nothing is missing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from central.enroll import create_site, make_enrollment_code
from core import writes
from core.db import integrity_check
from core.models import AppliedOp, AuditEntry, Client, OutboxEntry
from core.site import open_store, site_info
from core.writes import Actor
from sync_agent.agent import SyncAgent, enroll_site
from sync_agent.client import SyncError

pytestmark = [pytest.mark.pg, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
N = 2000


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str) -> None:
        self.url, self.port = url, _port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "DATABASE_URL": self.url, "STRUCTURA_CENTRAL_JWT_SECRET": "s" * 48}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--log-level", "WARNING", "central", "serve",
             "--host", "127.0.0.1", "--port", str(self.port)], cwd=ROOT, env=env)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/api/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("central server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def server(central, org_id):
    srv = Server(central.url)
    srv.start()
    yield srv
    if srv.proc and srv.proc.poll() is None:
        srv.kill()


def enrolled_site(central, org_id, server, path: Path):
    with central.write() as s:
        site = create_site(s, org_id=org_id, name=path.stem)
        code, _ = make_enrollment_code(s, org_id=org_id, site_id=site.id)
    store = open_store(f"sqlite+pysqlite:///{path}")
    enroll_site(store, server.base, code, device_name=path.stem)
    return store


def make_edits(store, n: int) -> None:
    actor = Actor(org_id=site_info(store).org_id, user_id=None, role="admin")
    with store.write() as s:
        for i in range(n):
            writes.create(s, actor=actor, entity="clients", data={"name": f"c{i}"})


def check_exactly_once(central, org_id, store) -> None:
    with store.read() as s:
        ops = s.scalars(select(OutboxEntry)).all()
    assert ops and all(o.status == "done" for o in ops)
    with central.read() as s:
        assert s.scalar(select(func.count()).where(AppliedOp.org_id == org_id)) == len(ops)
        assert s.scalar(select(func.count()).where(Client.org_id == org_id)) == len(ops)
        audited = s.scalars(
            select(AuditEntry.op_id).where(
                AuditEntry.org_id == org_id, AuditEntry.entity == "clients"
            )
        )
        audited = list(audited)
        assert len(audited) == len(set(audited)) == len(ops)
    assert integrity_check(store) == "ok"


def test_central_killed_mid_batch(central, org_id, server, tmp_path):
    store = enrolled_site(central, org_id, server, tmp_path / "site.sqlite3")
    make_edits(store, N)
    agent = SyncAgent(store, batch_size=N)
    agent.client._access_token()
    errors: list[BaseException] = []

    def push():
        try:
            agent.push_pending()
        except SyncError as exc:
            errors.append(exc)

    t = threading.Thread(target=push)
    t.start()
    time.sleep(0.4)  # the batch is being applied
    server.kill()
    t.join(30)
    assert errors, "the push should have failed with the server killed"
    with store.read() as s:
        assert s.scalar(select(func.count()).where(OutboxEntry.status == "done")) == 0
    server.start()
    agent.sync_once()
    check_exactly_once(central, org_id, store)
    agent.client.close()
    store.dispose()


def test_agent_killed_mid_push(central, org_id, server, tmp_path):
    data_dir = tmp_path / "site"
    data_dir.mkdir()
    store = enrolled_site(central, org_id, server, data_dir / "site.sqlite3")
    make_edits(store, N)
    store.dispose()
    cmd = [sys.executable, "-m", "core.cli", "--data-dir", str(data_dir), "--log-level",
           "WARNING", "sync", "once"]  # fmt: skip
    for delay in (0.8, 1.5):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(f"sqlite+pysqlite:///{data_dir / 'site.sqlite3'}")
    check_exactly_once(central, org_id, store)
    store.dispose()
