"""Time to converge after the network heals, and the cost of a verify, against
``structura central serve`` on PostgreSQL over real HTTP.

    python -m bench.bench_heal [--rounds 10] [--rows 100000]

Heal: three sites run their agents through a proxy that can cut the link (connections
closed unanswered). Each round cuts it, lets the agents back off as after a long outage
(the top of their backoff, up to 60 s), makes a change on every site, heals the link and
measures until every site holds every change (target < 3 s for three sites).
Verify: a site bootstrapped with N job rows runs `verify` in step (nothing differs) and
after 10 rows were changed behind the sync's back on the site (target: seconds, not
minutes, for 100,000 rows; exchanges O(log n)).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from sqlalchemy import select, update

from bench.bench_sync import central_server, new_site, pg_server, seed_jobs
from bench.harness.central_faults import FaultyProxy
from central.context import open_central_store
from central.enroll import create_org
from core import writes
from core.models import Client, Job
from core.site import site_info
from core.writes import Actor


class LinkSwitch(FaultyProxy):
    """The hardening proxy with a switch: while ``down``, every request is dropped before
    it reaches the central server (a partition)."""

    down = False

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        if self.down:
            h.close_connection = True
            return
        super()._handle(h)


def wait_until(cond, timeout: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if cond():
            return time.perf_counter() - t0
        time.sleep(0.01)
    raise RuntimeError(f"not within {timeout} s")


def has(store, cid: str) -> bool:
    info = site_info(store)
    assert info is not None  # new_site made it
    with store.read() as s:
        return s.get(Client, (info.org_id, cid)) is not None


def bench_heal(central_store, base: str, org_id: str, tmp: Path, rounds: int) -> list[float]:
    proxy = LinkSwitch(base).start()
    sites = [new_site(central_store, proxy.url, org_id, f"heal-{n}", tmp) for n in "ABC"]
    for _, agent in sites:
        agent.long_poll = 5.0
        agent.start()
    times: list[float] = []
    try:
        wait_until(lambda: all(a.status()["state"] == "online" for _, a in sites), 60)
        for _ in range(rounds):
            proxy.down = True
            made = []
            for store, _agent in sites:
                with store.write() as s:
                    actor = Actor(org_id=org_id, user_id=None, role="admin")
                    made.append(writes.create(s, actor=actor, entity="clients",
                                              data={"name": "made in a partition"}).id)  # fmt: skip
            wait_until(lambda: all(a.status()["state"] == "offline" for _, a in sites), 60)
            for _, agent in sites:  # as after a long outage
                agent._push_backoff.failures = agent._pull_backoff.failures = 12
            time.sleep(2.0)
            proxy.down = False
            took = wait_until(lambda m=made: all(has(st, c) for st, _ in sites for c in m), 120)
            times.append(took)
    finally:
        for store, agent in sites:
            agent.stop()
            store.dispose()
        proxy.stop()
    return times


def bench_verify(central_store, base: str, org_id: str, tmp: Path, rows: int) -> None:
    seed_jobs(central_store, org_id, rows)
    store, agent = new_site(central_store, base, org_id, "verify", tmp)
    agent.bootstrap()
    agent.pull_available()
    t0 = time.perf_counter()
    clean = agent.verify()
    t_clean = time.perf_counter() - t0
    with store.write() as s:
        ids = s.scalars(select(Job.id).limit(10)).all()
        s.execute(update(Job).where(Job.id.in_(ids)).values(title="changed behind the sync"))
    t0 = time.perf_counter()
    dirty = agent.verify()
    t_dirty = time.perf_counter() - t0
    print(f"verify, {rows} job rows in step: {t_clean:.2f} s, {clean['exchanges']} exchanges, "
          f"{clean['differences']} differences")  # fmt: skip
    print(f"verify, 10 rows changed on the site: {t_dirty:.2f} s, {dirty['exchanges']} "
          f"exchanges, {dirty['differences']} found, {dirty['repaired']} repaired")  # fmt: skip
    agent.client.close()
    store.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args(argv)
    with pg_server() as url, central_server(url) as base, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        central_store = open_central_store(url, pool_size=4)
        with central_store.write() as s:
            org_id = create_org(s, name="Bench heal", modules=["factory", "tour"]).id
        times = bench_heal(central_store, base, org_id, tmp, args.rounds)
        print(
            f"converge after heal, 3 sites, {len(times)} rounds: median "
            f"{statistics.median(times):.2f} s, max {max(times):.2f} s (target < 3 s)"
        )
        with central_store.write() as s:
            org2 = create_org(s, name="Bench verify", modules=["factory", "tour"]).id
        bench_verify(central_store, base, org2, tmp, args.rows)
        central_store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
