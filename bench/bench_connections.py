"""Many connections at once on the LAN API: ``--listeners`` live streams (Server-Sent
Events, ``GET /api/live``) held open while ``--clients`` clients send the shop-floor mix
(operator's queue, board, progress writes) for ``--seconds``, against ``structura site
serve`` on a fresh demo store (127.0.0.1). Every progress write is an event each
listener receives. Prints errors (HTTP >= 400, refused or dropped connections, streams
that ended early), request latency and the events the listeners received.
Target (docs/benchmarks.md): 1,000 listeners + 100 clients for 60 s, no error,
p95 < 200 ms.

    python -m bench.bench_connections [--listeners 1000] [--clients 100] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.bench_api import OPERATORS, login, pct, prepare, start_server


async def listen(client: httpx.AsyncClient, h: dict[str, str], until: float, out: dict) -> None:
    try:
        async with client.stream("GET", "/api/live", headers=h) as r:
            if r.status_code != 200:
                out["errors"] += 1
                return
            out["open"] += 1
            async for line in r.aiter_lines():
                if line.startswith("event: change"):
                    out["events"] += 1
                if time.perf_counter() > until:
                    return
            if time.perf_counter() < until:
                out["errors"] += 1  # the server ended the stream early
    except httpx.ReadTimeout:
        if time.perf_counter() < until:
            out["errors"] += 1
    except httpx.HTTPError:
        out["errors"] += 1


async def request(client, h, job, until, lat: list[float], out: dict, rng) -> None:
    while time.perf_counter() < until:
        kind = rng.choices(["me", "board", "progress"], [0.45, 0.35, 0.20])[0]
        t0 = time.perf_counter()
        try:
            if kind == "progress" and job:
                r = await client.post(f"/api/jobs/{job}/progress", headers=h,
                                      json={"produced": "0.5", "scrap": "0"})  # fmt: skip
            elif kind == "board":
                r = await client.get("/api/board", headers=h)
            else:
                r = await client.get("/api/me/jobs", headers=h)
            if r.status_code >= 400:
                out["errors"] += 1
        except httpx.HTTPError:
            out["errors"] += 1
        lat.append(time.perf_counter() - t0)


async def run(url: str, listeners: int, clients: int, seconds: float) -> int:
    limits = httpx.Limits(max_connections=clients + 10)
    timeout = httpx.Timeout(30.0, read=max(30.0, seconds + 30))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        sessions = [await login(client, u, f"conn-{u}") for u in OPERATORS]
        jobs = await prepare(client, sessions)
        ids = [(await client.get("/api/auth/me", headers=h)).json()["id"] for h in sessions]
        out = {"errors": 0, "open": 0, "events": 0}
        req = {"errors": 0}
        lat: list[float] = []
        until = time.perf_counter() + seconds
        # The streams on their own clients, 50 per client: httpx's pool scans its
        # connections on every request, so one pool of 1,000 held streams would make the
        # load generator, not the server, the bottleneck.
        pools = [
            httpx.AsyncClient(
                base_url=url, limits=httpx.Limits(max_connections=60), timeout=timeout
            )
            for _ in range(0, listeners, 50)
        ]
        tasks = [
            asyncio.create_task(listen(pools[i // 50], sessions[i % 4], until + 2, out))
            for i in range(listeners)
        ]
        # Let the streams open before the load starts.
        t_open = time.perf_counter()
        while out["open"] + out["errors"] < listeners and time.perf_counter() - t_open < 60:
            await asyncio.sleep(0.2)
        opened = time.perf_counter() - t_open
        until = time.perf_counter() + seconds
        loads = []
        for i in range(clients):
            h, job = sessions[i % 4], jobs.get(ids[i % 4])
            loads.append(request(client, h, job, until, lat, req, random.Random(i)))
        await asyncio.gather(*loads)
        await asyncio.sleep(2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pool in pools:
            await pool.aclose()
    errors = out["errors"] + req["errors"]
    p95 = pct(lat, 0.95)
    print(
        f"{listeners} listeners ({out['open']} opened in {opened:.1f} s), {clients} clients, "
        f"{seconds:.0f} s: {len(lat) / seconds:.0f} req/s, p50 {pct(lat, 0.5):.1f} ms, "
        f"p95 {p95:.1f} ms, p99 {pct(lat, 0.99):.1f} ms; {out['events']} events received; "
        f"errors {errors} (streams {out['errors']}, requests {req['errors']}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    ok = errors == 0 and p95 < 200 and out["open"] == listeners
    print(f"target (no error, p95 < 200 ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="structura-conn-") as tmp:
        proc, url = start_server(Path(tmp))
        try:
            return asyncio.run(run(url, args.listeners, args.clients, args.seconds))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except Exception:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
