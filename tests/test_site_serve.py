"""The headless site server as a whole: it serves, announces itself on the LAN once HTTP
is up, runs the site services, and withdraws and stops in order on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from core.site import ensure_site, open_store
from core.site_services import start_services, stop_services
from local_api.discover import discover


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _site(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data).store_url())
    ensure_site(store, org_name="Aceros del Norte", site_name="Nave 1", modules=("factory",))
    store.dispose()
    return data


@pytest.mark.slow
def test_site_serve_announces_serves_and_stops_in_order(tmp_path: Path) -> None:
    data = _site(tmp_path)
    port = _free_port()
    env = {**os.environ, "STRUCTURA_BACKUP_HOURS": "24", "STRUCTURA_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "--data-dir", str(data), "site", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line, line
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
        assert health.status_code == 200
        found = []
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            found = [s for s in discover(timeout=3.0, interfaces=["127.0.0.1"]) if s.port == port]
        assert found, "the site was not announced on loopback"
        props = found[0].properties
        assert props["site"] == "Nave 1" and props["modules"] == "factory"
        assert props["https"] == "0"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a server behind; the assertion below then fails
            _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    order = [m for m in ("announced as", "site service backups: started", "stopping",
                         "site service backups: stopped") if m in err]  # fmt: skip
    assert order == ["announced as", "site service backups: started", "stopping",
                     "site service backups: stopped"], err  # fmt: skip
    assert err.index("site service backups: stopped") > err.index("stopping")


def test_services_not_wanted_on_an_unenrolled_site_without_backups(tmp_path: Path) -> None:
    data = _site(tmp_path)
    settings = Settings(data_dir=data, backup_hours=0)
    store = open_store(settings.store_url())
    try:
        running = start_services(store, settings)
        assert running == []  # not enrolled: no agent; backups off
        settings = Settings(data_dir=data, backup_hours=1)
        running = start_services(store, settings)
        assert [r.name for r in running] == ["backups"]
        stop_services(running)
    finally:
        store.dispose()
