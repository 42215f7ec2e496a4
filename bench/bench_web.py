"""The floor board's first load on a slow shop-floor link: ``structura site serve`` on a
fresh demo store (127.0.0.1), Debian's Chromium through Playwright with the link
throttled by the DevTools protocol (Network.emulateNetworkConditions: 1.5 Mbit/s both
ways, 150 ms latency) and the CPU slowed 4x (Emulation.setCPUThrottlingRate).

Measured from navigation start to the board's cards on screen, for a cold load (no
HTTP cache, no service worker) and a warm one (the same tablet again: cache, 304s,
service worker), after one untimed load on an open link (Chromium's first start and
the server's first answers are not the page's). The time is taken in the page (see
DRAWN). Also the bytes on the wire and the number of requests. Target
(docs/benchmarks.md): cold < 1 s.

    python -m bench.bench_web [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.bench_api import start_server
from core.demo import PINS

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]  # fmt: skip
LINK = {"offline": False, "latency": 150, "downloadThroughput": 1_500_000 / 8,
        "uploadThroughput": 1_500_000 / 8}  # fmt: skip
USER = "demo-u-op1"
PIN = PINS[USER][3]  # the demo's own PIN, so the bench follows the demo data

MEASURE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource");
  const all = [nav, ...res];
  return {
    ms: performance.now(),
    requests: all.length,
    transferred: all.reduce((s, e) => s + (e.transferSize || 0), 0),
    decoded: all.reduce((s, e) => s + (e.decodedBodySize || 0), 0),
    timeline: all.map((e) => [e.name.replace(location.origin, "").slice(0, 40),
      Math.round(e.startTime), Math.round(e.responseEnd), e.transferSize]),
  };
}"""


def throttle(page: Any) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", LINK)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})


# Installed in every page of the bench's contexts before its own scripts: notes the
# first frame that shows the board's cards and says so on the console. Nothing of the
# harness runs in the page while it loads (a Playwright wait or evaluate first injects
# its own script, ~50 ms of the page's 4x-slowed main thread in the middle of the load).
DRAWN = """(() => {
  const seen = () => document.querySelector('#board .card')
    && !document.querySelector('#board[aria-busy]');
  const watch = () => {
    const board = document.getElementById('board');
    if (!board) return;
    const done = () => requestAnimationFrame(() =>
      console.debug('bench-drawn', performance.now()));
    if (seen()) return done();
    const obs = new MutationObserver(() => { if (seen()) { obs.disconnect(); done(); } });
    obs.observe(board, { childList: true, attributes: true });
  };
  document.addEventListener('DOMContentLoaded', watch);
})();"""


def load_board(page: Any) -> dict[str, Any]:
    # Timed in the page: the frame after the cards are in and the board is no longer
    # busy, from navigation start. "reported" is performance.now() read by an evaluate
    # after that, the way this bench measured before 2026-12-02 (it waited with
    # wait_for_function, which ran Playwright's script in the page during the load).
    with page.expect_console_message(
        lambda m: m.text.startswith("bench-drawn"), timeout=60000
    ) as message:
        page.goto("/app/board", wait_until="commit")
    out: dict[str, Any] = page.evaluate(MEASURE)
    out["reported"], out["ms"] = out["ms"], float(message.value.text.split()[1])
    return out


def run(url: str, runs: int) -> dict[str, list[dict[str, Any]]]:
    from playwright.sync_api import sync_playwright

    tokens = httpx.post(f"{url}/api/auth/pin", json={"user_id": USER, "pin": PIN}).json()
    init = (
        f"sessionStorage.setItem('structura.access', {json.dumps(tokens['access_token'])});"
        f"sessionStorage.setItem('structura.refresh', {json.dumps(tokens['refresh_token'])});"
        f"sessionStorage.setItem('structura.user', {json.dumps(json.dumps(tokens['user']))});"
    )
    results: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            # Not timed: one load of the board on an open link first, so that the runs
            # measure the page and not the first start of Chromium's processes or the
            # server's first answers (a tablet's browser and the site are already up).
            ctx = browser.new_context(base_url=url)
            ctx.add_init_script(init + DRAWN)
            load_board(ctx.new_page())
            ctx.close()
            for _ in range(runs):
                ctx = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800},
                                          locale="es-ES")  # fmt: skip
                ctx.add_init_script(init + DRAWN)
                page = ctx.new_page()
                throttle(page)
                results["cold"].append(load_board(page))
                # The service worker installs in the background; let it finish first.
                page.wait_for_function("() => navigator.serviceWorker.controller !== null",
                                       timeout=60000)  # fmt: skip
                page.wait_for_timeout(1500)
                results["warm"].append(load_board(page))
                ctx.close()
        finally:
            browser.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="print the last timeline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            results = run(url.rstrip("/"), args.runs)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    if args.verbose:
        for kind, rows in results.items():
            print(kind, *rows[-1]["timeline"], sep="\n  ")
            print("  each run:", " ".join(f"{r['ms']:.0f}" for r in rows))
    for kind, rows in results.items():
        ms = [r["ms"] for r in rows]
        last = rows[-1]
        after = statistics.median(r["reported"] for r in rows)
        print(f"{kind}: median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max "
              f"{max(ms):.0f}; median {after:.0f} ms read after it) over "
              f"{len(ms)} runs; {last['requests']:.0f} requests, "
              f"{last['transferred'] / 1024:.1f} KB on the wire "
              f"({last['decoded'] / 1024:.1f} KB decoded)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
