"""``structura central serve --workers 2`` as the container runs it: two uvicorn worker
processes on one port, each with its own app (``central.app:app_from_env``), and with a
shared metrics directory any worker answers a scrape with the requests of both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.test_metrics import parse

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_serve_and_report_together(pg_url: str, tmp_path: Path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "STRUCTURA_ENV": "production",
        "STRUCTURA_CENTRAL_JWT_SECRET": "w" * 48,
        "STRUCTURA_CENTRAL_METRICS_DIR": str(tmp_path / "metrics"),
        # Production: /metrics is closed without a token (issue 20).
        "STRUCTURA_CENTRAL_METRICS_TOKEN": "scrape-" + "t" * 32,
        "STRUCTURA_LOG_FORMAT": "json",
    }
    cmd = [sys.executable, "-m", "core.cli", "central", "serve", "--workers", "2",
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True) as proc:  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=url, timeout=5) as http:
                while True:
                    try:
                        if http.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "central did not become ready"
                    time.sleep(0.2)
                # A new connection each time, so the kernel spreads them over both.
                close = {"Connection": "close"}
                for _ in range(40):
                    assert http.get("/api/health", headers=close).status_code == 200
                time.sleep(2.5)  # every worker writes its counts at least every 2 s
                # Each scrape lands on either worker; both report all 40 requests.
                key = 'structura_http_requests_total{method="GET",route="/api/health",status="200"}'
                for _ in range(6):
                    scrape = {**close, "Authorization": "Bearer scrape-" + "t" * 32}
                    assert parse(http.get("/metrics", headers=scrape).text)[key] == 40
            files = list((tmp_path / "metrics").glob("counter_*.db"))
            assert len(files) >= 2  # one per worker process
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
