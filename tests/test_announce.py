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


@pytest.mark.slow
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


def test_discover_in_process_fills_defaults(no_thread_leaks: None) -> None:
    port = 40000 + int(time.time() * 1000) % 20000
    with Announcer("Solo", port, {"site_id": "a"}, interfaces=LOOPBACK):
        servers = [s for s in discover(timeout=2.0, interfaces=LOOPBACK) if s.port == port]
        assert [s.properties["site_id"] for s in servers] == ["a"]
        assert all(isinstance(s, DiscoveredServer) and s.host.endswith(".local.")
                   for s in servers)  # fmt: skip
        # Defaults filled in for a caller that gave only part of the TXT records.
        assert servers[0].properties["api"] == "1"
        assert servers[0].properties["https"] == "0"


# Two sites that pick the same name must be two hosts: on one host both responders share
# UDP port 5353 (SO_REUSEPORT), and the kernel hands the unicast answer to a probe to
# only one of them, which may be the prober itself; so the clash is played between two
# network namespaces joined by a veth pair, as two machines on one LAN.
_TWIN = """
import json, sys, time
from local_api.announce import Announcer
from local_api.discover import discover
address, port, site = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with Announcer("Twin", port, {"site_id": site}, interfaces=[address]) as a:
    print(json.dumps({"name": a.name}), flush=True)
    if sys.argv[4] == "browse":
        found = discover(timeout=2.5, interfaces=[address])
        print(json.dumps({"sites": sorted(s.properties["site_id"] for s in found
                                          if s.properties.get("site_id") in ("a", "b"))}),
              flush=True)
    else:
        sys.stdin.read()  # announced until the test closes our stdin
"""


@pytest.fixture
def two_hosts() -> Any:
    """Two network namespaces joined by a veth pair: (namespace, address) each."""
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for network namespaces")
    tag = f"{os.getpid() % 100000}"
    hosts = [(f"st-a{tag}", "10.201.7.1"), (f"st-b{tag}", "10.201.7.2")]
    links = [f"sva{tag}", f"svb{tag}"]

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    try:
        for ns, _ in hosts:
            ip("netns", "add", ns)
        ip("link", "add", links[0], "type", "veth", "peer", "name", links[1])
        for (ns, address), link in zip(hosts, links, strict=True):
            ip("link", "set", link, "netns", ns)
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", link)
            ip("-n", ns, "link", "set", link, "up", "multicast", "on")
            ip("-n", ns, "link", "set", "lo", "up")
        yield hosts
    finally:
        for ns, _ in hosts:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_a_name_clash_between_two_hosts(two_hosts: Any) -> None:
    (ns_a, addr_a), (ns_b, addr_b) = two_hosts
    port = 40000 + int(time.time() * 1000) % 20000
    run = ["ip", "netns", "exec"]
    first = subprocess.Popen(
        [*run, ns_a, sys.executable, "-c", _TWIN, addr_a, str(port), "a", "wait"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert first.stdout is not None
        name_a = json.loads(first.stdout.readline())["name"]
        second = subprocess.run(
            [*run, ns_b, sys.executable, "-c", _TWIN, addr_b, str(port + 1), "b", "browse"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        lines = [json.loads(line) for line in second.stdout.splitlines()]
    finally:
        if first.stdin is not None:
            first.stdin.close()
        first.wait(timeout=30)
        if first.stdout is not None:
            first.stdout.close()
    # Both stay on the network: the second one took another name, and both are found.
    assert name_a == "Twin"
    assert lines[0]["name"] != name_a and lines[0]["name"].startswith("Twin")
    assert lines[1]["sites"] == ["a", "b"]


def test_long_names_are_cut_to_fit() -> None:
    long = "Ñ" * 200
    announcer = Announcer(long, 8470, {"site": long}, interfaces=LOOPBACK)
    info = announcer._service_info()
    instance = info.name.removesuffix("._structura._tcp.local.")
    assert len(instance.encode()) <= 63
    assert all(len(k) + 1 + len(v) <= 255 for k, v in info.properties.items())
