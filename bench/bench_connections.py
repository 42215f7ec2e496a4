"""Many connections at once on the LAN API: ``--listeners`` live streams (Server-Sent
Events, ``GET /api/live``) held open while ``--clients`` clients send the shop-floor mix
(operator's queue, board, progress writes) for ``--seconds``, against ``structura site
serve`` on a fresh demo store (127.0.0.1). Every progress write is an event each
listener receives. Prints errors (HTTP >= 400, refused or dropped connections, streams
that ended early), request latency and the events the listeners received.
Target (docs/benchmarks.md): 1,000 listeners + 100 clients for 60 s, no error,
p95 < 200 ms.

    python -m bench.bench_connections [--listeners 1000] [--clients 100] [--seconds 60]
                                      [--think 1.0]

Requesting clients pause ``--think`` seconds (on average) between requests, as the
people they stand for do; with ``--think 0`` every client fires back to back, which
measures throughput, not what a user waits.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.bench_api import OPERATORS, login, pct, prepare, start_server

MARK = b"event: change"


async def listen(url: str, h: dict[str, str], out: dict) -> None:
    """One live stream on a bare socket: the listeners are a thousand idle phones, not
    a thousand HTTP client libraries, so the generator stays light on the shared cores.
    Runs until cancelled at the end of the run; a stream the server ends is an error."""
    host, port = url.removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        out["errors"] += 1
        return
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    writer.write(f"GET /api/live HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 f"Accept: text/event-stream\r\n{head}\r\n".encode())  # fmt: skip
    try:
        status = await reader.readuntil(b"\r\n\r\n")
        if not status.startswith(b"HTTP/1.1 200"):
            out["errors"] += 1
            return
        out["open"] += 1
        tail = b""
        while chunk := await reader.read(65536):
            buf = tail + chunk
            out["events"] += buf.count(MARK)
            tail = buf[-(len(MARK) - 1) :]  # a mark cut by a read is counted once
        out["errors"] += 1  # the server ended the stream
    except (OSError, asyncio.IncompleteReadError):
        out["errors"] += 1
    finally:
        writer.close()


async def request(client, h, job, until, lat: list[float], out: dict, rng, think) -> None:
    await asyncio.sleep(rng.uniform(0, think))  # people do not start in step
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
                out["why"][f"{kind} {r.status_code}"] = (
                    out["why"].get(f"{kind} {r.status_code}", 0) + 1
                )
        except httpx.HTTPError as exc:
            out["errors"] += 1
            why = f"{kind} {type(exc).__name__}"
            out["why"][why] = out["why"].get(why, 0) + 1
        lat.append(time.perf_counter() - t0)
        out["by_kind"].setdefault(kind, []).append(lat[-1])
        if kind == "progress":
            out["writes"] += 1
        if think:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


async def run(url: str, listeners: int, clients: int, seconds: float, think: float = 1.0) -> int:
    limits = httpx.Limits(max_connections=clients + 10)
    timeout = httpx.Timeout(30.0, read=max(30.0, seconds + 30))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        sessions = [await login(client, u, f"conn-{u}") for u in OPERATORS]
        jobs = await prepare(client, sessions)
        ids = [(await client.get("/api/auth/me", headers=h)).json()["id"] for h in sessions]
        out = {"errors": 0, "open": 0, "events": 0}
        req: dict[str, Any] = {"errors": 0, "writes": 0, "why": {}, "by_kind": {}}
        lat: list[float] = []
        tasks = [asyncio.create_task(listen(url, sessions[i % 4], out)) for i in range(listeners)]
        # Let the streams open before the load starts.
        t_open = time.perf_counter()
        while out["open"] + out["errors"] < listeners and time.perf_counter() - t_open < 60:
            await asyncio.sleep(0.2)
        opened = time.perf_counter() - t_open
        # The generator's own collector pauses (its thousand sockets are as many
        # objects as the server's) would be counted as the server's latency: held off
        # for the measured part.
        gc.collect()
        gc.freeze()
        gc.disable()
        until = time.perf_counter() + seconds
        loads = []
        for i in range(clients):
            h, job = sessions[i % 4], jobs.get(ids[i % 4])
            loads.append(request(client, h, job, until, lat, req, random.Random(i), think))
        await asyncio.gather(*loads)
        await asyncio.sleep(2)  # the last events on their way
        gc.enable()
        gc.unfreeze()
        ended_early = out["errors"]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        out["errors"] = ended_early
    errors = out["errors"] + req["errors"]
    p95 = pct(lat, 0.95)
    print(
        f"{listeners} listeners ({out['open']} opened in {opened:.1f} s), {clients} clients, "
        f"{seconds:.0f} s, think {think:g} s: {len(lat) / seconds:.0f} req/s, "
        f"p50 {pct(lat, 0.5):.1f} ms, p95 {p95:.1f} ms, p99 {pct(lat, 0.99):.1f} ms; "
        f"{req['writes']} progress writes, {out['events']} events received "
        f"({out['events'] / max(1, out['open']):.0f} per stream); "
        f"errors {errors} (streams {out['errors']}, requests {req['errors']} {req['why']}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    kinds = ", ".join(f"{k} {pct(v, 0.95):.0f}" for k, v in sorted(req["by_kind"].items()))
    print(f"p95 by kind (ms): {kinds}")
    ok = errors == 0 and p95 < 200 and out["open"] == listeners
    print(f"target (no error, p95 < 200 ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--think", type=float, default=1.0,
        help="mean pause of a requesting client between requests (a person at a tablet "
        "or phone); 0 makes it a saturation run, where Little's law sets the latency",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="structura-conn-") as tmp:
        proc, url = start_server(Path(tmp))
        try:
            return asyncio.run(run(url, args.listeners, args.clients, args.seconds, args.think))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except Exception:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
