"""Shop-floor load on the LAN API: ``structura site serve`` on a fresh demo store (in a
subprocess, 127.0.0.1 only), operators logged in by PIN, then a mix of

- 45 % ``GET /api/me/jobs``      (the operator's queue)
- 35 % ``GET /api/board``        (machine cards with today's OEE)
- 20 % ``POST /api/jobs/{id}/progress``  (a write: job, event, machine counter, outbox)

at 8, 32 and 64 concurrent clients (one device id and login each), ~10 s per level.
Prints requests/s and p50/p95/p99 latency per level. Target (docs/benchmarks.md): p95 < 25 ms at
32 clients and >= 800 requests/s on a 2-core machine.

    python -m bench.bench_api [--seconds 10] [--levels 8,32,64] [--wrk]
    python -m bench.bench_api --peer [--levels 32,8] [--rounds 3] [--completed 20000]

With ``--peer`` the plain FastAPI + sqlite3 app of ``bench/peers/plain_api.py`` serves
the same mix on a copy of the same store, and wrk drives both in turn, level by level and
round by round, on the same machine at the same time; the script prints each side's
requests/s, latency and server CPU per request (from /proc), then the ratios against
the targets (medians over the rounds).

The load generator runs in this process (httpx, asyncio) and competes with the server
for the same cores; the figures are for the pair on one machine. With ``--wrk`` the same
mix is sent by wrk (C, Debian's package) through a Lua script instead, which costs the
shared cores far less: those figures are closer to what the server itself can do. The per-user rate
limit is raised for the run (``--api-rate``): 64 clients from four operators exceed a
floor terminal's budget by design.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.demo import PINS

# The demo's operators and their PINs (core.demo is the one place they are written).
OPERATORS = {uid: pin for uid, (_name, role, _lang, pin) in PINS.items() if role == "operator"}
MIX = (("me_jobs", 0.45), ("board", 0.35), ("progress", 0.20))
SLOT_SEED = 17  # the order of wrk's request slots (see _wrk_requests)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)


def _cli(data_dir: Path, *args: str, **kw: Any) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "core.cli",
        "--data-dir",
        str(data_dir),
        "--log-level",
        "WARNING",
        *args,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _drain(proc: subprocess.Popen[str], log: Path) -> None:
    assert proc.stdout is not None
    with log.open("a", encoding="utf-8") as out:
        for line in proc.stdout:
            out.write(line)
            if os.environ.get("STRUCTURA_BENCH_SERVER_LOG"):
                print("server:", line, end="", file=sys.stderr)


def add_completed_jobs(data_dir: Path, n: int) -> None:
    """``n`` more COMPLETED jobs in the demo store, copies of the demo's own completed
    ones (same machines and operators), inserted in bulk as a sync would have brought
    them (no outbox): the store of a plant that has been working for a while."""
    from sqlalchemy import insert, select

    from core.clock import uuid7
    from core.db import Store, sqlite_url
    from core.models import Job
    from core.serial import row_to_json, values_from_json

    store = Store(sqlite_url(data_dir / "site.sqlite3"))
    try:
        with store.read() as s:
            done = [row_to_json(j) for j in s.scalars(select(Job).where(Job.status == "COMPLETED"))]
        rows = [
            values_from_json(Job, dict(done[i % len(done)], id=uuid7(), doc_number=None,
                                       title=f"{done[i % len(done)]['title']} #{i}"))
            for i in range(n)
        ]  # fmt: skip
        with store.write() as s:
            for k in range(0, n, 5000):
                s.execute(insert(Job), rows[k : k + 5000])
    finally:
        store.dispose()


def start_server(data_dir: Path, completed: int = 0) -> tuple[subprocess.Popen[str], str]:
    demo = _cli(data_dir, "demo")
    out, _ = demo.communicate(timeout=300)
    if demo.returncode != 0:
        raise SystemExit(f"structura demo failed:\n{out}")
    if completed:
        add_completed_jobs(data_dir, completed)
    proc = _cli(
        data_dir,
        "site",
        "serve",
        "--http",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--api-rate",
        "100000",
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"serving .* on (http://\S+)", line)
        if m:
            # Keep reading what the server prints: a full pipe would block its logging
            # (and every thread that logs) in the middle of a run.
            threading.Thread(target=_drain, args=(proc, data_dir / "server.log"),
                             daemon=True).start()  # fmt: skip
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("server did not start")


async def login(client: httpx.AsyncClient, user: str, device: str) -> dict[str, str]:
    r = await client.post(
        "/api/auth/pin",
        json={"user_id": user, "pin": OPERATORS[user]},
        headers={"X-Device-Id": device},
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}", "X-Device-Id": device}


async def prepare(client: httpx.AsyncClient, sessions: list[dict[str, str]]) -> dict[str, str]:
    """A job in progress per operator, for the progress writes."""
    jobs: dict[str, str] = {}
    for h in sessions:
        me = (await client.get("/api/auth/me", headers=h)).json()["id"]
        if me in jobs:
            continue
        queue = (await client.get("/api/me/jobs", headers=h)).json()
        running = [j for j in queue if j["status"] == "IN_PROGRESS"]
        if not running and queue:
            r = await client.post(f"/api/jobs/{queue[0]['id']}/start", headers=h)
            if r.status_code == 200:
                running = [r.json()]
        if running:
            jobs[me] = running[0]["id"]
    return jobs


async def worker(
    client: httpx.AsyncClient,
    h: dict[str, str],
    job: str | None,
    until: float,
    stats: Stats,
    rng: random.Random,
) -> None:
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    while time.perf_counter() < until:
        kind = rng.choices(kinds, weights)[0]
        if kind == "progress" and job is None:
            kind = "me_jobs"
        t0 = time.perf_counter()
        if kind == "me_jobs":
            r = await client.get("/api/me/jobs", headers=h)
        elif kind == "board":
            r = await client.get("/api/board", headers=h)
        else:
            r = await client.post(
                f"/api/jobs/{job}/progress", headers=h, json={"produced": "0.5", "scrap": "0"}
            )
        dt = time.perf_counter() - t0
        if r.status_code >= 400:
            stats.errors[r.status_code] = stats.errors.get(r.status_code, 0) + 1
        stats.latencies.append(dt)
        stats.by_kind.setdefault(kind, []).append(dt)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


async def run_level(url: str, clients: int, seconds: float) -> Stats:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        users = list(OPERATORS)
        # One login per operator (the login limiter allows a few per account per
        # minute); each client still sends its own device id.
        tokens = [await login(client, u, f"bench-{clients}-{u}") for u in users]
        sessions = [
            {**tokens[i % len(users)], "X-Device-Id": f"bench-{clients}-{i}"}
            for i in range(clients)
        ]
        jobs = await prepare(client, sessions)
        ids = [(await client.get("/api/auth/me", headers=h)).json()["id"] for h in sessions[:4]]
        stats = Stats()
        # Warm-up (first queries, connection set-up) is not measured.
        warm = Stats()
        end = time.perf_counter() + 1.0
        await asyncio.gather(
            *(
                worker(client, h, jobs.get(ids[i % 4]), end, warm, random.Random(i))
                for i, h in enumerate(sessions)
            )
        )
        until = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                worker(client, h, jobs.get(ids[i % 4]), until, stats, random.Random(100 + i))
                for i, h in enumerate(sessions)
            )
        )
        stats.by_kind["_elapsed"] = [time.perf_counter() - t0]
        return stats


WRK_SCRIPT = """
local reqs = {%s}
local n = 0
request = function()
  n = n + 1
  local r = reqs[(n %% #reqs) + 1]
  return wrk.format(r[1], r[2], r[3], r[4])
end
done = function(summary, latency, requests)
  io.write(string.format("LAT %%f %%f %%f\\n", latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def _lua(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _wrk_requests(url: str, peer: bool = False) -> list[str]:
    """The mix as Lua request tuples: 20 slots (9 queue, 7 board, 4 progress) per
    operator session, in an order shuffled once (a fixed seed, the same for both sides)
    and rotated. The peer logs in by user id alone and shares the jobs Structura started
    (its database is a copy taken after ``prepare``).

    Shuffled because wrk's connections take the slots in turn: in slot order each
    operator's four reports came one after another, so several connections reported at
    once and then all read, which is not how independent tablets behave. That order
    flattered a server that caches between writes (one cache update served a whole run of
    reads: 0.78 against 0.95 ms of CPU per request) and penalised its write queue at
    the tail (p95 16.9 against 14.5 ms at 8 clients, docs/benchmarks.md)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        if peer:
            sessions = []
            for u in OPERATORS:
                r = await client.post("/api/auth/pin", json={"user_id": u})
                r.raise_for_status()
                sessions.append({"Authorization": f"Bearer {r.json()['access_token']}"})
            ids = list(OPERATORS)
            jobs = {}
            for h, me in zip(sessions, ids, strict=True):
                queue = (await client.get("/api/me/jobs", headers=h)).json()
                running = [j for j in queue if j["status"] == "IN_PROGRESS"]
                if running:
                    jobs[me] = running[0]["id"]
        else:
            sessions = [await login(client, u, f"wrk-{u}") for u in OPERATORS]
            jobs = await prepare(client, sessions)
            ids = [(await client.get("/api/auth/me", headers=h)).json()["id"] for h in sessions]
    out = []
    for h, me in zip(sessions, ids, strict=True):
        headers = "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in h.items())
        get = headers + "}"
        post = headers + ', ["Content-Type"] = "application/json"}'
        slots = ["me_jobs"] * 9 + ["board"] * 7 + ["progress"] * 4
        for kind in slots:
            if kind == "me_jobs" or (kind == "progress" and me not in jobs):
                out.append(f'{{"GET", "/api/me/jobs", {get}, nil}}')
            elif kind == "board":
                out.append(f'{{"GET", "/api/board", {get}, nil}}')
            else:
                body = _lua('{"produced": "0.5", "scrap": "0"}')
                out.append(f'{{"POST", "/api/jobs/{jobs[me]}/progress", {post}, {body}}}')
    random.Random(SLOT_SEED).shuffle(out)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        pids += [int(c) for c in children]
    return total


@dataclass
class WrkResult:
    rps: float
    p50: float
    p95: float
    p99: float
    non2xx: int
    cpu_ms: float  # server CPU per request


def wrk_once(url: str, script: Path, clients: int, seconds: float, pid: int) -> WrkResult:
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{int(seconds)}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(pid) - cpu0
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = re.search(r"LAT (\S+) (\S+) (\S+)", out)
    if rate is None or lat is None:
        raise RuntimeError(f"wrk printed no rate or latency line:\n{out}")
    rps = float(rate.group(1))
    p50, p95, p99 = (float(x) for x in lat.groups())
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    n = int(total.group(1)) if total else 1
    return WrkResult(rps, p50, p95, p99, int(bad.group(1)) if bad else 0, cpu * 1000 / max(n, 1))


HEAD = (
    f"{'clients':>7} {'side':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'non-2xx':>8} {'cpu ms/req':>10}"
)


def _row(n: int, side: str, r: WrkResult) -> str:
    return (
        f"{n:>7} {side:>9} {r.rps:>8.0f} {r.p50:>8.1f} {r.p95:>8.1f} {r.p99:>8.1f} "
        f"{r.non2xx:>8} {r.cpu_ms:>10.2f}"
    )


def run_wrk(url: str, levels: list[int], seconds: float, tmp: Path, pid: int) -> None:
    script = tmp / "mix.lua"
    script.write_text(WRK_SCRIPT % ", ".join(asyncio.run(_wrk_requests(url))))
    print(HEAD)
    for n in levels:
        print(_row(n, "structura", wrk_once(url, script, n, seconds, pid)), flush=True)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _median(results: list[WrkResult], attr: str) -> float:
    values = sorted(getattr(r, attr) for r in results)
    return float(values[len(values) // 2])


def ratios(n: int, ours: list[WrkResult], peer: list[WrkResult]) -> str:
    """One line of ratios (medians over the rounds) against the issue's targets."""
    rps = _median(ours, "rps") / _median(peer, "rps")
    p95 = _median(ours, "p95") / _median(peer, "p95")
    cpu, peer_cpu = _median(ours, "cpu_ms"), _median(peer, "cpu_ms")
    line = (
        f"  ratios at {n} clients: throughput {rps:.2f}x the peer's (>= 1: {_met(rps >= 1)}), "
        f"p95 {p95:.2f}x (<= 1: {_met(p95 <= 1)}), server CPU {cpu:.2f} ms/request "
        f"= {cpu / peer_cpu:.2f}x the peer's (<= 1 ms: {_met(cpu <= 1)})"
    )
    if n <= 8:
        ours95 = _median(ours, "p95")
        line += f"; p95 {ours95:.1f} ms (< 15 ms: {_met(ours95 < 15)})"
    return line


def start_peer(db: Path, org_id: str) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.peers.plain_api", str(db), org_id, str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/docs", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("peer did not start")


def compare(url: str, pid: int, levels: list[int], seconds: float, rounds: int, tmp: Path) -> None:
    """Structura and the plain FastAPI + sqlite3 peer under the same wrk mix, interleaved
    level by level and round by round on the same loaded machine; prints each side and the
    ratios against the issue's targets."""
    import sqlite3

    ours = tmp / "ours.lua"
    ours.write_text(WRK_SCRIPT % ", ".join(asyncio.run(_wrk_requests(url))))
    # The peer gets a copy of the store as it is now (jobs started by prepare()).
    db = tmp / "peer.sqlite3"
    src = sqlite3.connect(tmp / "site.sqlite3")
    dst = sqlite3.connect(db)
    src.backup(dst)
    org_id = src.execute("SELECT org_id FROM machines LIMIT 1").fetchone()[0]
    src.close()
    dst.close()
    peer, peer_url = start_peer(db, org_id)
    try:
        theirs = tmp / "peer.lua"
        theirs.write_text(WRK_SCRIPT % ", ".join(asyncio.run(_wrk_requests(peer_url, peer=True))))
        load = os.getloadavg()[0]
        print(f"load average {load:.1f}; {rounds} round(s) of {seconds:.0f} s per side and level")
        print(HEAD)
        for n in levels:
            res: dict[str, list[WrkResult]] = {"structura": [], "peer": []}
            for _ in range(rounds):
                for side, u, script, p in (
                    ("structura", url, ours, pid),
                    ("peer", peer_url, theirs, peer.pid),
                ):
                    r = wrk_once(u, script, n, seconds, p)
                    res[side].append(r)
                    print(_row(n, side, r), flush=True)
            print(ratios(n, res["structura"], res["peer"]), flush=True)
    finally:
        peer.terminate()
        peer.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--levels", default="8,32,64")
    parser.add_argument("--wrk", action="store_true", help="generate the load with wrk")
    parser.add_argument(
        "--peer", action="store_true", help="wrk against Structura and the plain peer, ratios"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--completed", type=int, default=0,
        help="add this many completed jobs to the store first (the target: 20000, figures "
        "within 10 %% of the empty store's)",
    )  # fmt: skip
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="structura-bench-") as tmp:
        proc, url = start_server(Path(tmp), completed=args.completed)
        try:
            print(
                f"server {url} (pid {proc.pid}), {os.cpu_count()} CPUs, "
                f"{args.seconds:.0f} s per level, {args.completed} completed jobs added"
            )
            if args.peer:
                compare(url, proc.pid, levels, args.seconds, args.rounds, Path(tmp))
                return 0
            if args.wrk:
                run_wrk(url, levels, args.seconds, Path(tmp), proc.pid)
                return 0
            print(
                f"{'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
                f"{'errors':>8}   p95 by kind (ms)"
            )
            for n in levels:
                stats = asyncio.run(run_level(url, n, args.seconds))
                elapsed = stats.by_kind.pop("_elapsed")[0]
                lat = stats.latencies
                kinds = "  ".join(
                    f"{k} {pct(v, 0.95):.1f}" for k, v in sorted(stats.by_kind.items())
                )
                errs = sum(stats.errors.values())
                print(
                    f"{n:>7} {len(lat) / elapsed:>8.0f} {pct(lat, 0.5):>8.1f} "
                    f"{pct(lat, 0.95):>8.1f} {pct(lat, 0.99):>8.1f} {errs:>8}   {kinds}"
                    + (f"  errors {stats.errors}" if errs else ""),
                    flush=True,
                )
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
