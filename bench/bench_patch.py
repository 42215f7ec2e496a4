"""Time per PATCH on a real site server: wall time seen by the client and the server
process's CPU time, over a few thousand updates of one row (docs/dev-notes.md, "One
validation per request").

The server is ``structura site serve`` on 127.0.0.1 (plain HTTP, a fresh store); the
client keeps one connection. CPU time is read from /proc for the server process, so it
is the server's own work whatever else the machine is doing; wall time is not.

    python -m bench.bench_patch [--requests 2000] [--rounds 3]   (--requests 0: in-process only)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness.sites import SiteProcess, bearer, make_site


def _cpu_seconds(pid: int) -> float:
    # utime + stime of the process (all its threads), in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = make_site(Path(tmp) / "site")
        with SiteProcess(data) as server, httpx.Client(base_url=server.url) as http:
            assert server.proc is not None
            headers = bearer(data.mint())
            made = http.post("/api/clients", json={"name": "Timing"}, headers=headers)
            made.raise_for_status()
            row = made.json()
            version = row["version"]
            for _ in range(50):  # warm up: imports, caches, the first fsyncs
                body = {"phone": f"+34 600 {version:06d}", "version": version}
                answer = http.patch(f"/api/clients/{row['id']}", headers=headers, json=body)
                version = answer.json()["version"]
            walls, cpus = [], []
            for _ in range(rounds):
                cpu0, t0 = _cpu_seconds(server.proc.pid), time.perf_counter()
                for _ in range(requests):
                    body = {"phone": f"+34 600 {version:06d}", "contact": "Ana Ruiz",
                            "email": "ana@example.com", "version": version}  # fmt: skip
                    answer = http.patch(f"/api/clients/{row['id']}", headers=headers, json=body)
                    if answer.status_code != 200:
                        raise RuntimeError(f"PATCH answered {answer.status_code}: {answer.text}")
                    version = answer.json()["version"]
                walls.append((time.perf_counter() - t0) / requests * 1000)
                cpus.append((_cpu_seconds(server.proc.pid) - cpu0) / requests * 1000)
    print(f"{requests} PATCH x {rounds} rounds (load {os.getloadavg()[0]:.1f})")
    print(f"  wall per PATCH (ms):       median {statistics.median(walls):.3f}  "
          f"rounds {', '.join(f'{w:.3f}' for w in walls)}")  # fmt: skip
    print(f"  server CPU per PATCH (ms): median {statistics.median(cpus):.3f}  "
          f"rounds {', '.join(f'{c:.3f}' for c in cpus)}")  # fmt: skip


def validation_alone(n: int = 20000) -> None:
    """What the write path spends turning the PATCH body into values, in this process:
    from the raw dict (validated here) and from the edge's validated model (read only)."""
    from apikit.rows import entity_models
    from core import writes
    from core.registry import registry

    spec = registry()["clients"]
    raw = {"phone": "+34 600 000001", "contact": "Ana Ruiz", "email": "ana@example.com"}
    body = entity_models(spec).patch.model_validate({**raw, "version": 3})
    for label, data in (("raw dict (validated)", raw), ("edge model (read)", body)):
        assert writes.validate_update(spec, data) == writes.validate_update(spec, raw)
        t0 = time.perf_counter()
        for _ in range(n):
            writes.validate_update(spec, data)
        print(f"  validate_update, {label:<21} {(time.perf_counter() - t0) / n * 1e6:6.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    validation_alone()
    if args.requests:
        run(args.requests, args.rounds)


if __name__ == "__main__":
    main()
