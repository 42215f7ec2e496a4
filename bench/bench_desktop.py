"""Desktop benchmark: prints three figures against their targets.

    python bench/bench_desktop.py [--rows 100000] [--keep DIR]

1. cold start to an interactive window (a fresh interpreter; from spawn until the event
   loop has shown the window and run its first queued call), target < 2 s;
2. opening the jobs table with ``--rows`` jobs (construct the page, first page of rows,
   first paint), target < 1 s;
3. idle RSS of the whole process with the LAN server and the sync agent running,
   target < 300 MB.

The store is prepared first (demo data plus bulk jobs; an enrolled identity pointing at
a central server that is not there, so the agent runs and backs off as it would offline).
Uses the offscreen platform unless DISPLAY is set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"cold_start_s": 2.0, "jobs_table_s": 1.0, "idle_rss_mb": 300.0}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare(data_dir: Path, rows: int) -> None:
    from core.db import sqlite_url
    from core.site import ensure_site, open_store, set_state
    from desktop.demo import bulk_jobs, seed
    from desktop.session import office_user

    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(sqlite_url(data_dir / "site.sqlite3"))
    site = ensure_site(store, org_name="Bench", site_name="Office")
    seed(store, site, office_user(store, site))
    bulk_jobs(store, site, rows)
    set_state(store, "device", {"central_url": "http://127.0.0.1:9", "device_id": "bench",
                                "device_secret": "bench", "org_id": site.org_id,
                                "site_id": site.site_id})  # fmt: skip
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()


def child(data_dir: Path) -> None:
    """Runs in a fresh interpreter: start the app, report each figure as a JSON line."""
    from core.settings import Settings
    from desktop.app import start

    settings = Settings(data_dir=data_dir, port=0, announce=False, host="127.0.0.1")
    running = start(settings, interactive=False, port=0, announce=False)
    assert running is not None
    from PySide6.QtCore import QEventLoop, QTimer

    app, window = running.app, running.window
    # A local loop, not app.exec(): quitting the app would run the shutdown.
    loop = QEventLoop()

    def interactive() -> None:
        print(json.dumps({"interactive_at": time.time()}), flush=True)
        loop.quit()

    QTimer.singleShot(0, interactive)
    loop.exec()

    # Services up first, so their start-up does not share the CPU with what we time.
    running.host.wait_started()
    # The jobs table, as the user opens it: the page with its lazy model, painted.
    t = time.perf_counter()
    page = window.open("jobs")
    page.tabs.setCurrentWidget(page.all)
    page.all.table.viewport().repaint()
    table_s = time.perf_counter() - t
    t = time.perf_counter()
    app.processEvents()  # the deferred row count ("100,036 rows")
    count_s = time.perf_counter() - t
    total = page.all.model.total
    # Scrolling to the end fetches pages as the view needs them.
    t = time.perf_counter()
    page.all.table.scrollToBottom()
    app.processEvents()
    scroll_s = time.perf_counter() - t
    print(json.dumps({"jobs_table_s": table_s, "rows": total, "scroll_page_s": scroll_s,
                      "count_s": count_s}),
          flush=True)  # fmt: skip

    deadline = time.monotonic() + 3.0  # idle: server listening, agent backing off
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    steps = {s.name: s.state for s in running.host.steps}
    print(json.dumps({"idle_rss_mb": rss_mb(), "services": steps}), flush=True)
    t = time.perf_counter()
    window.close()
    running.shutdown()
    print(json.dumps({"shutdown_s": time.perf_counter() - t}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="prepare the store here and keep it")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="structura-bench-")) / "data"
    t = time.perf_counter()
    prepare(data_dir, args.rows)
    print(f"prepared {args.rows:,} jobs + demo data in {time.perf_counter() - t:.1f} s")
    env = dict(os.environ, STRUCTURA_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    if not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    spawned = time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(data_dir)], env=env,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    figures: dict[str, object] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            figures.update(json.loads(line))
    proc.wait()
    if proc.returncode != 0:
        print(f"child failed with exit code {proc.returncode}")
        return 1
    cold = float(figures["interactive_at"]) - spawned  # type: ignore[arg-type]
    results = {"cold_start_s": cold, "jobs_table_s": figures["jobs_table_s"],
               "idle_rss_mb": figures["idle_rss_mb"]}  # fmt: skip
    ok = True
    for key, value in results.items():
        target = TARGETS[key]
        passed = float(value) < target  # type: ignore[arg-type]
        ok &= passed
        unit = "MB" if key.endswith("_mb") else "s"
        print(
            f"{key:<14} {float(value):8.2f} {unit:<2}  (target < {target:g} {unit})  "  # type: ignore[arg-type]
            f"{'ok' if passed else 'OVER'}"
        )
    print(
        f"rows in table  {figures['rows']:,}; scroll to end {figures['scroll_page_s']:.2f} s; "
        f"services {figures['services']}; shutdown {figures['shutdown_s']:.2f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
