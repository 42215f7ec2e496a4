"""Does the central server scale with uvicorn workers? Pull throughput at 1 and 2 workers.

    python -m bench.ops_workers [--seconds 10] [--clients 16] [--workers 1,2] [--feed 2000]

Starts ``structura central serve --workers N`` (the container's command) on a throwaway
PostgreSQL cluster (or STRUCTURA_TEST_PG_URL), enrols D devices of one organisation with
a feed of ``--feed`` entries, then runs C concurrent clients, each a device pulling the
newest 100 entries (``GET /api/sync/pull?after=head-100&limit=100``) as fast as it can,
on 127.0.0.1 only, for a fixed time. Prints requests/s and p50/p95/p99 per worker count.

The load generator shares the machine's cores with the server and PostgreSQL: on a
2-core box the figures are for the three together, an under-estimate of a real
deployment where the load comes from elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_sync import free_port, pg_server  # noqa: E402
from bench.harness.pg import fresh_database  # noqa: E402
from central.context import open_central_store  # noqa: E402
from central.enroll import create_org, create_site, enroll, make_enrollment_code  # noqa: E402
from core import writes  # noqa: E402
from core.sync.conflicts import SCHEMA_HEADER, SCHEMA_VERSION  # noqa: E402
from core.writes import Actor  # noqa: E402


def seed(url: str, devices: int, feed: int) -> tuple[list[tuple[str, str]], int]:
    store = open_central_store(url)
    try:
        with store.write() as s:
            org = create_org(s, name="Bench", modules=["factory", "tour"])
        creds = []
        for i in range(devices):
            with store.write() as s:
                site = create_site(s, org_id=org.id, name=f"Site {i}")
                code, _ = make_enrollment_code(s, org_id=org.id, site_id=site.id)
            with store.write() as s:
                data = enroll(s, code=code, device_name=f"d{i}", schema_version=SCHEMA_VERSION)
            creds.append((data["device_id"], data["device_secret"]))
        actor = Actor.system(org.id)
        for start in range(0, feed, 500):
            with store.write() as s:
                for i in range(start, min(feed, start + 500)):
                    writes.create(s, actor=actor, entity="clients", data={"name": f"C{i}"})
        return creds, feed
    finally:
        store.dispose()


async def load(base: str, creds: list[tuple[str, str]], head: int, clients: int,
               seconds: float) -> tuple[int, list[float]]:  # fmt: skip
    hdr = {SCHEMA_HEADER: str(SCHEMA_VERSION)}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients * 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        tokens = []
        for device_id, secret in creds:
            r = await http.post("/api/sync/token", headers=hdr,
                                json={"device_id": device_id, "device_secret": secret})  # fmt: skip
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
        deadline = time.perf_counter() + seconds

        async def client(n: int) -> None:
            h = {**hdr, "Authorization": f"Bearer {tokens[n % len(tokens)]}"}
            params = {"after": max(0, head - 100), "limit": 100, "wait": 0}
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await http.get("/api/sync/pull", params=params, headers=h)
                latencies.append(time.perf_counter() - t0)
                r.raise_for_status()

        await asyncio.gather(*(client(n) for n in range(clients)))
    return len(latencies), latencies


def run_level(url: str, workers: int, creds, head: int, clients: int, seconds: float) -> str:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "STRUCTURA_CENTRAL_JWT_SECRET": "b" * 48,
        "STRUCTURA_CENTRAL_ACCESS_LOG": "false",
        "STRUCTURA_CENTRAL_DB_POOL_SIZE": "10",
    }
    cmd = [sys.executable, "-m", "core.cli", "--log-level", "WARNING", "central", "serve",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("central server did not start")
        asyncio.run(load(base, creds, head, clients, 2.0))  # warm-up: imports, pools, caches
        n, lat = asyncio.run(load(base, creds, head, clients, seconds))
    finally:
        proc.terminate()
        proc.wait(30)
    q = statistics.quantiles(lat, n=100)
    ms = [f"p{p} {q[p - 1] * 1000:.1f} ms" for p in (50, 95, 99)]
    return f"workers={workers} clients={clients}: {n / seconds:.0f} pulls/s, " + ", ".join(ms)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--feed", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=8)
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; pull of 100 entries (of a feed of {args.feed}), "
          f"{args.clients} clients, {args.seconds:.0f} s per level")  # fmt: skip
    with pg_server() as server, fresh_database(server, "ops_workers") as url:
        creds, head = seed(url, args.devices, args.feed)
        for w in (int(x) for x in args.workers.split(",")):
            print(run_level(url, w, creds, head, args.clients, args.seconds), flush=True)


if __name__ == "__main__":
    main()
