"""After the link heals, agents are back within a second (a cheap probe while they wait
out their backoff), and the status tells the truth — in the agent's own process and in
`structura sync status` run beside it (another SyncAgent on the same store)."""

from __future__ import annotations

import time

import httpx
import pytest

from core import writes
from sync_agent.agent import SyncAgent
from sync_agent.client import Offline
from tests.sync.test_agent import actor, row

pytestmark = pytest.mark.pg


class Switch(httpx.BaseTransport):
    """The hub's transport behind a link that can be cut (connections refused)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.down = inner, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("link down", request=request)
        return self.inner.handle_request(request)


def wait_for(cond, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


@pytest.mark.slow  # waits out real long polls and backoff across a partition
def test_agents_are_back_within_a_second_of_the_link_healing(hub, org_id, tmp_path):
    link = Switch(hub.transport)
    http = httpx.Client(transport=link, base_url=hub.url, timeout=60)
    stores, agents = [], []
    for name in ("A", "B"):
        store, _ = hub.new_site(tmp_path, org_id, name)
        agent = SyncAgent(store, hub.url, http=http, long_poll=2.0)
        stores.append(store)
        agents.append(agent)
    try:
        for agent in agents:
            agent.start()
        wait_for(lambda: all(a.status()["state"] == "online" for a in agents), 20)
        link.down = True
        with stores[0].write() as s:
            cid = writes.create(s, actor=actor(stores[0]), entity="clients",
                                data={"name": "made offline"}).id  # fmt: skip
        wait_for(lambda: agents[0].status()["state"] == "offline", 10)
        # A long outage: both agents at the top of their backoff (up to 60 s).
        for agent in agents:
            agent._push_backoff.failures = agent._pull_backoff.failures = 12
        wait_for(lambda: agents[1].status()["state"] == "offline", 10)
        time.sleep(1.0)
        link.down = False
        took = wait_for(lambda: row(stores[1], cid) is not None, 10)
        # Within a second or so; the margin is for a loaded test machine (the backoff alone
        # would wait up to 60 s here).
        assert took < 3.0, f"converged {took:.2f} s after the heal"

        # Site B can pull the row before A has marked its op sent (A records the push's
        # answer after central commits), so A's bookkeeping gets a moment of its own.
        def a_settled() -> bool:
            st = agents[0].status()
            return st["state"] == "online" and st["last_error"] is None and st["pending_ops"] == 0

        wait_for(a_settled, 3)
    finally:
        for agent in agents:
            agent.stop()
        http.close()
        for store in stores:
            store.dispose()


def test_status_from_another_process_view_tells_the_truth(hub, org_id, tmp_path):
    store, agent = hub.new_site(tmp_path, org_id, "A")
    beside = SyncAgent(store, hub.url, http=hub.http)  # what `structura sync status` makes
    assert beside.status()["running"] is False
    agent.start()
    try:
        wait_for(lambda: beside.status()["state"] == "online", 20)
        st = beside.status()
        assert st["running"] is True and st["last_sync_at"] is not None
        assert st["last_error"] is None
    finally:
        agent.stop()
    st = beside.status()
    assert (st["running"], st["state"]) == (False, "stopped")
    assert st["last_sync_at"] is not None
    store.dispose()


def test_last_error_is_cleared_when_the_link_recovers(hub, org_id, tmp_path):
    link = Switch(hub.transport)
    http = httpx.Client(transport=link, base_url=hub.url, timeout=60)
    store, _ = hub.new_site(tmp_path, org_id, "A")
    agent = SyncAgent(store, hub.url, http=http)
    link.down = True
    with pytest.raises(Offline):
        agent.sync_once()
    st = agent.status()
    assert st["state"] == "offline" and "link down" in st["last_error"] and st["last_error_at"]
    link.down = False
    agent.sync_once()
    st = agent.status()
    assert (st["state"], st["last_error"], st["last_error_at"]) == ("online", None, None)
    http.close()
    store.dispose()
