"""The board's first load: one script file for the page, its first API reads started by
the shell before that script arrives (and asked for once, not twice), and the service
worker installed only after the cards are drawn, then keeping the board for an outage."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.web import seed as seed_mod
from tests.web.conftest import TABLET, login

pytestmark = pytest.mark.browser

ENTRIES = """() => performance.getEntriesByType("resource").map((e) => ({
  path: e.name.replace(location.origin, ""), start: e.startTime, end: e.responseEnd }))"""


def test_board_reads_start_before_its_script_arrives(browser, server: str) -> None:
    # No service worker: the slow script below must come from the network (a worker's
    # own fetches are not routed through the page).
    ctx = browser.new_context(viewport=TABLET, locale="es-ES", base_url=server,
                              service_workers="block")  # fmt: skip
    ctx.set_default_timeout(10000)
    try:
        page = ctx.new_page()
        _reads_start_early(page)
    finally:
        ctx.close()


def _reads_start_early(page) -> None:
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


def test_board_as_first_page_is_kept_by_the_worker(browser, server: str) -> None:
    """A tablet that opens the board first (no worker yet): the worker is registered
    after the cards are drawn and keeps the board's shell and its one script."""
    tokens = httpx.post(
        f"{server}/api/auth/pin", json={"user_id": "ana", "pin": seed_mod.PINS["ana"]}
    ).json()
    ctx = browser.new_context(viewport=TABLET, locale="es-ES", base_url=server)
    ctx.set_default_timeout(10000)
    ctx.add_init_script(
        f"sessionStorage.setItem('structura.access', {json.dumps(tokens['access_token'])});"
        f"sessionStorage.setItem('structura.refresh', {json.dumps(tokens['refresh_token'])});"
        f"sessionStorage.setItem('structura.user', {json.dumps(json.dumps(tokens['user']))});"
    )
    try:
        page = ctx.new_page()
        page.goto("/app/board")
        page.locator("#board:not([aria-busy]) .card").first.wait_for()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        script = page.evaluate("document.querySelector('script[type=module]').getAttribute('src')")
        kept = page.evaluate(KEPT, script)
        assert kept, "the worker did not keep the board's shell and script"
    finally:
        ctx.close()


KEPT = """async (script) => {
    for (let i = 0; i < 50; i++) {
      const names = await caches.keys();
      const shells = names.find((n) => n.startsWith("structura-shells-"));
      const cache = shells && await caches.open(shells);
      if (cache && await cache.match(script) && await cache.match("/app/board")) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
}"""
