"""The board's first load: one script file for the page, its first API reads started by
the shell before that script arrives (and asked for once, not twice), and the service
worker installed only after the cards are drawn, then keeping the board for an outage."""

from __future__ import annotations

import time

import pytest

from tests.web.conftest import login

pytestmark = pytest.mark.browser

ENTRIES = """() => performance.getEntriesByType("resource").map((e) => ({
  path: e.name.replace(location.origin, ""), start: e.startTime, end: e.responseEnd }))"""


def test_board_reads_start_before_its_script_arrives(new_page) -> None:
    page = new_page()
    login(page, "ana")
    page.locator("#jobs .card").first.wait_for()

    def slow(route) -> None:  # the page's script on a slow link
        time.sleep(0.6)
        route.continue_()

    page.route("**/app/static/bundle/**", slow)
    page.goto("/app/board")
    page.locator("#board .card").first.wait_for()
    page.locator("#board:not([aria-busy])").wait_for()
    entries = page.evaluate(ENTRIES)
    scripts = [e for e in entries if e["path"].startswith("/app/static/bundle/board.")]
    boards = [e for e in entries if e["path"] == "/api/board"]
    stops = [e for e in entries if e["path"].startswith("/api/downtimes?")]
    assert len(scripts) == 1
    assert len(boards) == 1 and len(stops) == 1  # taken by the page, not asked again
    assert boards[0]["start"] < scripts[0]["end"]
    assert stops[0]["start"] < scripts[0]["end"]
    # Every other module came inside the bundle.
    assert not [e for e in entries if e["path"].startswith("/app/static/js/pages/")]


def test_worker_waits_for_the_board_then_keeps_it(new_page) -> None:
    page = new_page()
    login(page, "ana")
    page.locator("#jobs .card").first.wait_for()
    page.goto("/app/board")
    page.locator("#board:not([aria-busy]) .card").first.wait_for()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    script = page.evaluate("document.querySelector('script[type=module]').getAttribute('src')")
    kept = page.evaluate(
        """async (script) => {
            for (let i = 0; i < 50; i++) {
              const names = await caches.keys();
              const shells = names.find((n) => n.startsWith("structura-shells-"));
              const cache = shells && await caches.open(shells);
              if (cache && await cache.match(script) && await cache.match("/app/board")) {
                return true;
              }
              await new Promise((r) => setTimeout(r, 100));
            }
            return false;
        }""",
        script,
    )
    assert kept, "the worker did not keep the board's shell and script"
