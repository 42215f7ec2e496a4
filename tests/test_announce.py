"""Zeroconf announcement and discovery, bound to loopback only.

The announcer runs in this process; discovery runs in a second process, as it would on
another machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.site import SiteInfo
from local_api.announce import Announcer, site_properties
from local_api.discover import DiscoveredServer, discover

LOOPBACK = ["127.0.0.1"]
ROOT = Path(__file__).resolve().parent.parent


def _discover_in_subprocess(timeout: float = 2.5) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "local_api.discover", "--interface", "127.0.0.1", "--json",
           "--timeout", str(timeout)]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def _site() -> SiteInfo:
    return SiteInfo(
        org_id="org-1", site_id="site-123", org_name="Acme Steel", site_name="Plant Norte",
        modules=("factory", "tour"),
    )  # fmt: skip


@pytest.fixture
def no_thread_leaks() -> Any:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while (extra := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not extra, f"threads left running: {extra}"


def test_second_process_discovers_the_announcement_and_loses_it_after_stop(
    no_thread_leaks: None,
) -> None:
    # A unique port tells this test's service apart from anything else on loopback.
    port = 40000 + int(time.time() * 1000) % 20000
    props = site_properties(_site(), fingerprint="sha256:ab12")
    announcer = Announcer("Plant Norte", port, props, interfaces=LOOPBACK)
    announcer.start()
    try:
        assert announcer.running and announcer.name and announcer.name.startswith("Plant Norte")
        started = time.monotonic()
        found = [s for s in _discover_in_subprocess() if s["port"] == port]
        assert time.monotonic() - started < 3 + 5  # browse time + interpreter start
        assert len(found) == 1
        server = found[0]
        assert server["name"] == announcer.name
        assert server["addresses"] == ["127.0.0.1"]
        assert server["url"] == f"http://127.0.0.1:{port}/"
        assert server["properties"] == {
            "api": "1", "site_id": "site-123", "site": "Plant Norte", "org": "Acme Steel",
            "modules": "factory,tour", "https": "0", "path": "/", "fp": "sha256:ab12",
        }  # fmt: skip
    finally:
        announcer.stop()
    announcer.stop()  # idempotent
    assert not announcer.running

    # Withdrawn: a fresh browse (empty cache, nobody answering) finds nothing.
    assert not [s for s in _discover_in_subprocess(timeout=1.5) if s["port"] == port]


def test_discover_in_process_and_a_name_clash(no_thread_leaks: None) -> None:
    port = 40000 + int(time.time() * 1000) % 20000
    first = Announcer("Twin", port, {"site_id": "a"}, interfaces=LOOPBACK)
    second = Announcer("Twin", port + 1, {"site_id": "b"}, interfaces=LOOPBACK)
    with first, second:
        # Both stay on the network: the second one took another name.
        assert first.name != second.name
        servers = [s for s in discover(timeout=2.0, interfaces=LOOPBACK)
                   if s.port in (port, port + 1)]  # fmt: skip
        assert sorted(s.properties["site_id"] for s in servers) == ["a", "b"]
        assert all(isinstance(s, DiscoveredServer) and s.host.endswith(".local.")
                   for s in servers)  # fmt: skip
        # Defaults filled in for a caller that gave only part of the TXT records.
        assert servers[0].properties["api"] == "1"
        assert servers[0].properties["https"] == "0"


def test_long_names_are_cut_to_fit() -> None:
    long = "Ñ" * 200
    announcer = Announcer(long, 8470, {"site": long}, interfaces=LOOPBACK)
    info = announcer._service_info()
    instance = info.name.removesuffix("._structura._tcp.local.")
    assert len(instance.encode()) <= 63
    assert all(len(k) + 1 + len(v) <= 255 for k, v in info.properties.items())
