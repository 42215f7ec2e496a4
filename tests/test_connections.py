"""Many connections at once on a real ``structura site serve`` (the short form of
``python -m bench.bench_connections``): 200 live streams held open while 20 clients send
the shop-floor mix for 5 s, with no refused, failed or dropped connection. (Latency is
the benchmark's business, not the suite's: this machine is shared.)"""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
from pathlib import Path

import pytest

from bench import bench_connections
from bench.bench_api import start_server

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::ResourceWarning")]


def test_200_listeners_and_20_clients_without_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc, url = start_server(tmp_path)
    try:
        # In a thread of its own: a worker that ran the browser tests already has an
        # event loop running in this thread (Playwright's), and asyncio.run refuses that.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(
                asyncio.run,
                bench_connections.run(url, listeners=200, clients=20, seconds=5, think=0.2),
            ).result()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    report = capsys.readouterr().out
    assert "200 listeners (200 opened" in report, report
    assert "errors 0 " in report, report
    events = int(report.split(" events received")[0].rsplit(" ", 1)[1])
    assert events > 0, report  # the writes reached the listeners
