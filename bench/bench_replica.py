"""Pulls from the primary alone vs primary + streaming replica, and push ops/s per
central worker, over real HTTP on 127.0.0.1.

    python -m bench.bench_replica [--seconds 8] [--clients 16] [--entries 100]

Starts a throwaway primary and a hot standby made with ``pg_basebackup -R``
(tests/pg_fixture.py), one central worker (uvicorn in this process) per mode, and N
client threads: each pulls ``limit`` entries from cursor 0 again and again (the read a
site does after a restart), or pushes batches of 50 creates. Prints pulls/s, p95, where
the reads went (replica/primary) and the replica's replay lag at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness.pg import (  # noqa: E402
    ReplicaCluster,
    ThrowawayCluster,
    _with_database,
    fresh_database,
    wait_for_database,
)
from central.app import create_central_app  # noqa: E402
from central.context import CentralContext, open_central_store  # noqa: E402
from central.enroll import create_org, create_site, enroll, make_enrollment_code  # noqa: E402
from central.settings import CentralSettings  # noqa: E402
from core import writes  # noqa: E402
from core.clock import uuid7  # noqa: E402
from core.sync.wire import SCHEMA_HEADER, SCHEMA_VERSION  # noqa: E402
from core.writes import Actor  # noqa: E402
from local_api.server import EmbeddedServer  # noqa: E402


def devices(store, org: str, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        with store.write() as s:
            site = create_site(s, org_id=org, name=f"site {i}")
            code, _ = make_enrollment_code(s, org_id=org, site_id=site.id)
        with store.write() as s:
            d = enroll(s, code=code, device_name=f"site {i}", schema_version=SCHEMA_VERSION)
        out.append((d["device_id"], d["device_secret"]))
    return out


def load(url: str, creds: list[tuple[str, str]], seconds: float, work: str, entries: int):
    """Run the clients for ``seconds``; (requests, ops, latencies)."""
    lat: list[float] = []
    count = [0, 0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(device_id: str, secret: str) -> None:
        h = {SCHEMA_HEADER: str(SCHEMA_VERSION)}
        with httpx.Client(base_url=url, headers=h, timeout=60) as c:
            tok = c.post(
                "/api/sync/token", json={"device_id": device_id, "device_secret": secret}
            ).json()
            c.headers["Authorization"] = "Bearer " + tok["access_token"]
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                if work == "pull":
                    r = c.get("/api/sync/pull", params={"after": 0, "limit": entries})
                    n = len(r.json()["entries"])
                else:
                    ops = [
                        {
                            "op_id": uuid7(),
                            "entity": "clients",
                            "entity_id": uuid7(),
                            "kind": "create",
                            "fields": {"name": "bench"},
                        }
                        for _ in range(50)
                    ]
                    r = c.post("/api/sync/push", json={"ops": ops})
                    n = 50
                r.raise_for_status()
                with lock:
                    lat.append(time.perf_counter() - t0)
                    count[0] += 1
                    count[1] += n

    threads = [threading.Thread(target=client, args=cr) for cr in creds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0], count[1], lat


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18] * 1000 if len(xs) >= 20 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--entries", type=int, default=100)
    args = ap.parse_args()
    primary = ThrowawayCluster()
    replica = ReplicaCluster(primary)
    try:
        primary_server = primary.start()
        replica_server = replica.start()
        with fresh_database(primary_server, "bench_replica") as url:
            from sqlalchemy.engine import make_url

            replica_url = _with_database(replica_server, make_url(url).database or "")
            wait_for_database(replica_url)
            store = open_central_store(url)
            with store.write() as s:
                org = create_org(s, name="Bench", modules=["factory", "tour"]).id
            with store.write() as s:
                for i in range(args.entries):
                    writes.create(
                        s, actor=Actor.system(org), entity="clients", data={"name": f"c{i}"}
                    )
            creds = devices(store, org, args.clients)
            print(
                f"# {args.clients} clients, pulls of {args.entries} entries from cursor 0, "
                f"{args.seconds:.0f} s per run, one central worker"
            )
            for label, rep in (("primary alone", ""), ("primary + replica", replica_url)):
                settings = CentralSettings(
                    database_url=url,
                    database_replica_url=rep,
                    jwt_secret="b" * 48,
                    access_log=False,
                )
                ctx = CentralContext(settings=settings, store=store)
                if rep:  # the replica must have the schema and the rows first
                    from central.replica import primary_lsn

                    with store.read() as s:
                        assert ctx.reads.wait_replayed(primary_lsn(s), timeout=60)
                    ctx.reads.replica_reads = ctx.reads.primary_reads = 0
                server = EmbeddedServer(create_central_app(ctx), "127.0.0.1", 0).start()
                try:
                    n, _, lat = load(server.url, creds, args.seconds, "pull", args.entries)
                    where = (
                        (
                            f"reads: replica {ctx.reads.replica_reads}, primary "
                            f"{ctx.reads.primary_reads}"
                        )
                        if rep
                        else "reads: primary"
                    )
                    print(
                        f"pull  {label:18s} {n / args.seconds:7.1f} pulls/s  "
                        f"p95 {p95(lat):6.1f} ms  ({where})"
                    )
                    if rep:
                        n, ops, lat = load(server.url, creds, args.seconds, "push", 0)
                        print(
                            f"push  one worker         {ops / args.seconds:7.1f} ops/s   "
                            f"({n / args.seconds:.1f} batches of 50/s, p95 {p95(lat):.1f} ms)"
                        )
                        import psycopg

                        from bench.harness.pg import libpq_url

                        with psycopg.connect(libpq_url(replica_url)) as conn:
                            lag = conn.execute(
                                "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                            ).fetchone()
                        assert lag is not None  # a SELECT without FROM has one row
                        print(
                            f"replica replay lag right after the push run: "
                            f"{float(lag[0] or 0) * 1000:.0f} ms"
                        )
                finally:
                    server.stop()
                    ctx.reads.dispose()
            store.dispose()
    finally:
        replica.stop()
        primary.stop()


if __name__ == "__main__":
    main()
