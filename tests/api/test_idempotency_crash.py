"""Exactly once across a crash: a real ``site serve`` process is SIGKILLed inside an
operation sent with an Idempotency-Key, on either side of its write's commit; a second
server on the same SQLite file answers the replay without writing it twice (or runs it
once, when the first attempt died before its commit)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.web import seed

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

# The child serves the site with one fault point armed: it kills itself (SIGKILL, no
# cleanup) right after the operation's write committed, or right before it commits.
CHILD = r"""
import os, signal, sys
from core.web import ops

def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)

where = sys.argv[1]
if where == "after-commit":
    ops.finish = die
elif where == "before-commit":
    mark = ops._mark_applied
    def dying_mark(session):
        if ops._running.get() is not None and getattr(session, "unit").notices:
            die()
        mark(session)
    ops._mark_applied = dying_mark
elif where == "stale-now":
    from datetime import timedelta
    ops.STALE_CLAIM = timedelta(0)
from core.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data: Path, where: str) -> tuple[subprocess.Popen[str], str]:
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, where, "--data-dir", str(data), "site", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "STRUCTURA_BACKUP_HOURS": "0"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
        time.sleep(0.1)
    proc.kill()
    _out, err = proc.communicate(timeout=10)
    raise AssertionError(f"site serve did not come up: {err[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        # Never leave a server behind (one that outlived its test kept serving for
        # hours); a stop this slow is still a failure.
        proc.kill()
        _out, err = proc.communicate(timeout=10)
        stuck = f"site serve did not stop within 30 s of SIGTERM: {err[-2000:]}"
        raise AssertionError(stuck) from None


def _login(url: str) -> dict[str, str]:
    r = httpx.post(url + "/api/auth/pin", json={"user_id": "ana", "pin": seed.PINS["ana"]},
                   timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _produced(url: str, auth: dict[str, str]) -> Decimal:
    r = httpx.get(url + "/api/jobs/j1", headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    return Decimal(r.json()["produced_qty"])


@pytest.mark.parametrize("where", ["after-commit", "before-commit"])
def test_a_report_killed_mid_request_is_stored_exactly_once(tmp_path: Path, where: str) -> None:
    data = tmp_path / "site"
    seed.build(data)
    proc, url = _serve(data, where)
    try:
        auth = _login(url)
        before = _produced(url, auth)
        op = {**auth, "Idempotency-Key": "tablet-op-" + where}
        # Killed before the commit: no answer. Killed after it: the answer may or may
        # not have left (the edge streams it before storing it); the tablet counts
        # either as lost and sends the operation again.
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(url + "/api/jobs/j1/progress", json={"produced": "7"}, headers=op,
                       timeout=20)  # fmt: skip
        proc.wait(timeout=20)
        assert proc.returncode == -9
    finally:
        _stop(proc)
    # The tablet's queue sends the same operation again to the restarted site. A claim
    # left by a request that died is taken again only once stale: this server counts
    # every claim as stale at once, so the replay is decided by the store alone.
    proc, url = _serve(data, "stale-now")
    try:
        auth = _login(url)
        op = {**auth, "Idempotency-Key": "tablet-op-" + where}
        r = httpx.post(url + "/api/jobs/j1/progress", json={"produced": "7"}, headers=op,
                       timeout=20)  # fmt: skip
        assert r.status_code == 200, r.text
        if where == "after-commit":
            # The write committed with its claim marked applied: answered, not applied.
            assert r.headers.get("idempotent-replayed") == "true"
            assert r.json()["applied"] is True
        else:
            # Nothing of the first attempt stands: the replay runs it.
            assert "idempotent-replayed" not in r.headers
        assert _produced(url, auth) == before + 7
        # And any further replay gets an answer without a write.
        again = httpx.post(url + "/api/jobs/j1/progress", json={"produced": "7"}, headers=op,
                           timeout=20)  # fmt: skip
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert _produced(url, auth) == before + 7
    finally:
        _stop(proc)


def test_duplicates_sent_at_once_wait_for_the_first_answer(tmp_path: Path) -> None:
    # A tablet whose connection flaps can send the same queued operation twice before
    # the first answer arrives: the second waits for the first's answer (no 409 to
    # retry, no second write).
    from concurrent.futures import ThreadPoolExecutor

    data = tmp_path / "site"
    seed.build(data)
    proc, url = _serve(data, "none")
    try:
        auth = _login(url)
        before = _produced(url, auth)
        op = {**auth, "Idempotency-Key": "tablet-op-concurrent"}

        def send(_: int) -> httpx.Response:
            return httpx.post(url + "/api/jobs/j1/progress", json={"produced": "5"},
                              headers=op, timeout=20)  # fmt: skip

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(send, range(6)))
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        assert len({a.json()["produced_qty"] for a in answers}) == 1
        assert sum(a.headers.get("idempotent-replayed") != "true" for a in answers) == 1
        assert _produced(url, auth) == before + 5
    finally:
        _stop(proc)
