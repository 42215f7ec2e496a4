"""The board right after a write, in process: the time of the board read that follows each
progress report (the write itself is not timed), on a fresh demo store and again after
``--events`` more production reports today, for the LAN API's board cache and for the
full computation it replaces (``core.factory.actions.board``, which sums the day's
events). Target (docs/benchmarks.md): <= 2 ms, flat in the number of the day's events.

    python -m bench.bench_board [--events 6000] [--samples 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _median_ms(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2] * 1000


def measure(context: Any, cache: Any, write: Any, samples: int) -> tuple[float, float, float]:
    from core.factory import actions

    cached, full, cpu = [], [], []
    for _ in range(samples):
        write()
        t0, c0 = time.perf_counter(), time.thread_time()
        cache.get()
        cached.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        write()
        t0 = time.perf_counter()
        with context.store.read() as s:
            actions.board(s, org_id=context.site.org_id)
        full.append(time.perf_counter() - t0)
    return _median_ms(cached), _median_ms(cpu), _median_ms(full)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    from core.factory import actions
    from core.settings import Settings
    from core.writes import Actor
    from local_api.board_cache import BoardCache
    from local_api.context import AppContext

    with tempfile.TemporaryDirectory(prefix="structura-board-") as tmp:
        data = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "core.cli", "--data-dir", tmp, "--log-level", "WARNING", "demo"],
            check=True, capture_output=True,
        )  # fmt: skip
        context = AppContext.open(Settings(data_dir=data))
        org = context.site.org_id
        actor = Actor(org_id=org, user_id="demo-u-op1", role="operator")
        with context.store.read() as s:
            queue = actions.my_jobs(s, actor=actor)
        job = next((j for j in queue if j.status == "IN_PROGRESS"), None)
        if job is None:
            with context.store.write() as s:
                job = actions.start_job(s, actor=actor, job_id=queue[0].id)
        job_id = job.id

        def write() -> None:
            with context.store.write() as s:
                actions.report_progress(s, actor=actor, job_id=job_id, produced="0.5")

        cache = BoardCache(context, actions.board)
        cache.subscribe()
        cache.get()
        print(
            f"board after a write, median of {args.samples} (ms): "
            "cache wall | cache CPU | full computation wall"
        )
        c0, u0, f0 = measure(context, cache, write, args.samples)
        print(f"  demo store:               {c0:6.2f} | {u0:6.2f} | {f0:6.2f}", flush=True)
        t0 = time.perf_counter()
        for _ in range(args.events):
            write()
        spent = time.perf_counter() - t0
        c1, u1, f1 = measure(context, cache, write, args.samples)
        print(
            f"  +{args.events} events today: {c1:6.2f} | {u1:6.2f} | {f1:6.2f}"
            f"   ({spent:.0f} s to write them)"
        )
        print(
            f"  target <= 2 ms and flat: {'met' if max(c0, c1) <= 2 else 'NOT met'} "
            f"(cache {c1 / c0:.2f}x after the events; full computation {f1 / f0:.2f}x); "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        context.close()
        context.store.dispose()
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
