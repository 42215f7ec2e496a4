"""Attachments against real processes on 127.0.0.1: ``structura site serve`` (uvicorn)
for uploads, a 2 GB stream and kill -9 mid-upload; ``structura central serve`` on
PostgreSQL and an agent in a subprocess for kill -9 mid chunked sync."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bench.harness.sites import SiteData, SiteProcess, make_site
from core import writes
from core.attachments.blobs import BlobStore
from core.db import Store, sqlite_url
from tests.attachments import images

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = "----structura-serve-test"


def make_job(data: SiteData) -> str:
    store = Store(sqlite_url(data.db_path))
    try:
        actor = writes.Actor.system(data.site.org_id)
        with store.write() as s:
            m = writes.create(s, actor=actor, entity="machines",
                              data={"name": "Press", "type": "PINTURA"})  # fmt: skip
            job = {"title": "Panel", "machine_id": m.id, "quantity": "5"}
            return str(writes.create(s, actor=actor, entity="jobs", data=job).id)
    finally:
        store.dispose()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SiteProcess, str, dict[str, str]]]:
    data = make_site(tmp_path / "site")
    job = make_job(data)
    token = data.mint()["access_token"]
    with SiteProcess(data) as proc:
        yield proc, job, {"Authorization": f"Bearer {token}"}


def preamble(job: str, name: str = "big.txt", ctype: str = "text/plain") -> bytes:
    fields = {"owner_entity": "jobs", "owner_id": job}
    out = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    return out + (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
                  f'filename="{name}"\r\nContent-Type: {ctype}\r\n\r\n').encode()  # fmt: skip


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RawUpload:
    """A chunked multipart upload over a plain socket, so the test can read the answer
    while still sending (an HTTP client sends the whole body first) and stop at will."""

    def __init__(self, url: str, headers: dict[str, str], job: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        head = ["POST /api/attachments HTTP/1.1", f"Host: {parts.hostname}",
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
                "Transfer-Encoding: chunked",
                *[f"{k}: {v}" for k, v in headers.items()]]  # fmt: skip
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        self.chunk(preamble(job))
        self.sent = 0

    def chunk(self, data: bytes) -> None:
        self.sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def answer(self) -> tuple[int, bytes]:
        """The status and the whole answer (headers, then Content-Length bytes)."""
        data = b""
        while b"\r\n\r\n" not in data:
            more = self.sock.recv(65536)
            if not more:
                break
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        while length and len(body) < int(length.group(1)):
            more = self.sock.recv(65536)
            if not more:
                break
            body += more
        status = int(data.split(b" ", 2)[1]) if data else 0
        return status, head + b"\r\n\r\n" + body

    def close(self) -> None:
        self.sock.close()


def test_upload_and_read_over_real_http(served: Any) -> None:
    proc, job, auth = served
    photo = images.jpeg(640, 480, seed=5)
    r = httpx.post(proc.url + "/api/attachments", headers=auth,
                   data={"owner_entity": "jobs", "owner_id": job},
                   files={"file": ("IMG_0001.jpg", photo, "image/jpeg")})  # fmt: skip
    assert r.status_code == 201, r.text
    row = r.json()
    assert row["sha256"] == hashlib.sha256(photo).hexdigest()
    got = httpx.get(proc.url + f"/api/attachments/{row['id']}/content", headers=auth)
    assert got.content == photo and got.headers["content-type"] == "image/jpeg"
    blobs = BlobStore(proc.data.data_dir / "blobs")
    assert blobs.path(row["sha256"]).read_bytes() == photo


def test_a_declared_two_gigabytes_are_refused_before_any_byte(served: Any) -> None:
    proc, _job, auth = served
    parts = urlsplit(proc.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = ["POST /api/attachments HTTP/1.1", f"Host: {parts.hostname}",
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
                f"Content-Length: {2 * 1024**3}",
                *[f"{k}: {v}" for k, v in auth.items()]]  # fmt: skip
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/problem+json" in answer


def test_a_streamed_two_gigabytes_are_refused_early_with_bounded_memory(served: Any) -> None:
    proc, job, auth = served
    assert proc.proc is not None
    pid = proc.proc.pid
    before = rss_kb(pid)
    up = RawUpload(proc.url, auth, job)
    block = b"a" * (1024 * 1024)
    result: dict[str, Any] = {}
    peak = [before]

    def send() -> None:
        try:
            while up.sent < 2 * 1024**3:
                up.chunk(block)
                up.sent += len(block)
                if up.sent % (8 * len(block)) == 0:
                    peak[0] = max(peak[0], rss_kb(pid))
        except OSError as exc:  # the server answered and closed: expected
            result["stopped"] = repr(exc)

    started = time.monotonic()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    status, answer = up.answer()
    elapsed = time.monotonic() - started
    up.close()
    sender.join(30)
    assert status == 413, answer[:300]
    assert b"attachment_too_large" in answer or b"payload_too_large" in answer
    # Refused soon after the 25 MB limit, not after 2 GB; memory stayed flat.
    assert up.sent < 400 * 1024 * 1024, up.sent
    assert elapsed < 60
    assert peak[0] - before < 150 * 1024, (before, peak[0])
    blobs = BlobStore(proc.data.data_dir / "blobs")
    deadline = time.monotonic() + 5
    while list(blobs.root.glob("*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(blobs.root.glob("*.tmp")) and list(blobs.hashes()) == []


def test_kill9_during_an_upload_leaves_no_blob(served: Any) -> None:
    proc, job, auth = served
    blobs = BlobStore(proc.data.data_dir / "blobs")
    up = RawUpload(proc.url, auth, job)
    for _ in range(5):
        up.chunk(b"b" * (1024 * 1024))
    deadline = time.monotonic() + 20
    while not list(blobs.root.glob("*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(blobs.root.glob("*.tmp")), "the upload did not start"
    proc.kill9()
    up.close()
    assert list(blobs.hashes()) == []  # nothing under a real name
    proc.start()  # the next start removes what the crash left
    assert not list(blobs.root.glob("*.tmp"))


# --- kill -9 in the middle of a chunked sync (central on PostgreSQL) -------------------

AGENT = """
import sys
from core.site import open_store
from sync_agent.agent import SyncAgent
store = open_store(sys.argv[1])
agent = SyncAgent(store)
agent.blob_sync.chunk = 64 * 1024
print("ready", flush=True)
sha = sys.argv[3]
ok = agent.blob_sync.upload(sha) if sys.argv[2] == "up" else agent.blob_sync.fetch(sha)
print("done", ok, flush=True)
"""


def _agent(url: str, what: str, sha: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", AGENT, url, what, sha], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def _kill_when(proc: subprocess.Popen[str], ready: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline:
        assert proc.poll() is None, "the agent finished before it could be killed"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.pg
def test_kill9_during_a_chunked_sync_leaves_no_blob_and_resumes(
    pg_url: str, tmp_path: Path
) -> None:
    from bench.harness.central_faults import CentralProcess, central_setup, new_org, new_site
    from sync_agent.agent import SyncAgent

    central = central_setup(pg_url)
    server = CentralProcess(pg_url, blob_dir=tmp_path / "central-blobs").start()
    try:
        org = new_org(central, "Kill Co")
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = new_site(central, server.url, tmp_path / "a" / "site.sqlite3", org, "A")
        b = new_site(central, server.url, tmp_path / "b" / "site.sqlite3", org, "B")
        a_blobs, b_blobs = BlobStore(tmp_path / "a" / "blobs"), BlobStore(tmp_path / "b" / "blobs")
        data = os.urandom(24 * 1024 * 1024)
        sha, size = a_blobs.put(data)
        a.dispose()
        central_partial = BlobStore(tmp_path / "central-blobs")
        # Up: killed while the central server has part of it.
        up = _agent(sqlite_url(tmp_path / "a" / "site.sqlite3"), "up", sha)
        _kill_when(up, lambda: central_partial.partial_size(sha, org) > 2 * 1024 * 1024)
        assert not central_partial.has(sha)  # nothing under the real name
        a_store = Store(sqlite_url(tmp_path / "a" / "site.sqlite3"))
        agent_a = SyncAgent(a_store)
        held, offset = agent_a.client.blob_state(sha)
        assert not held and 0 < offset < size
        assert agent_a.blob_sync.upload(sha) is True  # resumes at the offset
        assert central_partial.path(sha).read_bytes() == data
        # Down: killed while site B has part of it.
        b.dispose()
        down = _agent(sqlite_url(tmp_path / "b" / "site.sqlite3"), "down", sha)
        _kill_when(down, lambda: b_blobs.partial_size(sha) > 2 * 1024 * 1024)
        assert not b_blobs.has(sha)
        assert 0 < b_blobs.partial_size(sha) < size
        b_store = Store(sqlite_url(tmp_path / "b" / "site.sqlite3"))
        agent_b = SyncAgent(b_store)
        assert agent_b.blob_sync.fetch(sha) is True  # a Range request from the partial
        assert hashlib.sha256(b_blobs.path(sha).read_bytes()).hexdigest() == sha
        assert b_blobs.partial_size(sha) == 0
        for agent, store in ((agent_a, a_store), (agent_b, b_store)):
            agent.client.close()
            store.dispose()
    finally:
        server.stop()
        central.dispose()
