"""Stopping ``structura central serve`` while sites hold long polls open: the polls are
answered at once and the server stops without waiting them out (it used to wait for the
graceful-shutdown timeout and log an error at every stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.pg


def test_stopping_the_central_server_answers_open_long_polls_at_once(
    pg_url: str, tmp_path: Path
) -> None:
    from bench.harness.central_faults import (
        CENTRAL_SECRET,
        central_setup,
        free_port,
        new_org,
        new_site,
    )
    from bench.harness.sites import structura_cmd
    from sync_agent import inbound
    from sync_agent.agent import SyncAgent

    central = central_setup(pg_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRUCTURA_")}
    env.update(DATABASE_URL=pg_url, STRUCTURA_CENTRAL_JWT_SECRET=CENTRAL_SECRET)
    proc = subprocess.Popen(
        [*structura_cmd(), "central", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "central server exited"
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "central server did not start"
            time.sleep(0.05)
        org = new_org(central, "Stop Co")
        store = new_site(central, url, tmp_path / "a.sqlite3", org, "A")
        agent = SyncAgent(store)
        agent.sync_once()
        with store.read() as s:
            cursor = int(inbound.get_key(s, inbound.CURSOR_KEY, 0) or 0)
        got: dict[str, Any] = {}

        def poll() -> None:
            try:
                got["page"] = agent.client.pull(cursor, wait=25)
            except Exception as exc:  # the point of the test: which one, if any
                got["error"] = exc

        waiting = threading.Thread(target=poll)
        waiting.start()
        time.sleep(1.0)  # the poll is waiting on the server now
        assert waiting.is_alive()
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        took = time.monotonic() - began
        waiting.join(10)
        assert took < 2.0, f"the server took {took:.1f} s to stop"
        assert "page" in got, got.get("error")
        assert got["page"].entries == []  # answered with what the feed held
        assert proc.stderr is not None
        assert "graceful shutdown exceeded" not in proc.stderr.read()
        agent.client.close()
        store.dispose()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
        central.dispose()
