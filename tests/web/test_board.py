"""The board: a read-only screen (no login, no idle logout, cannot change anything),
trouble first, every machine of a 12-machine floor on one 1280x800 screen, and AAA
contrast (axe-core) on the board and the screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from core import writes
from core.db import sqlite_url
from core.factory import actions as factory_ops
from core.site import ensure_site, open_store
from core.writes import Actor
from tests.web import seed as seed_mod
from tests.web.conftest import PHONE, Server, enter_pin, shot
from tests.web.test_i18n import assert_spanish, english_fragments

pytestmark = pytest.mark.browser

WALL = {"width": 1280, "height": 800}
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A floor of 12 machines: one broken, one stopped, one due for maintenance."""
    data = tmp_path_factory.mktemp("floor")
    seed_mod.build(data)
    store = open_store(sqlite_url(data / "site.sqlite3"))
    try:
        info = ensure_site(store, org_name="Perfiles Norte", site_name="Planta Norte")
        system = Actor.system(info.org_id)
        with store.write() as s:
            for n in range(5, 13):
                writes.create(s, actor=system, entity="machines", id=f"m{n}", data={
                    "name": f"Línea {n:02d}", "type": "PANELIZADO", "color": "#0f766e",
                    "maintenance_interval": "1000",
                    "next_maintenance_at": "0.5" if n == 7 else "1000",
                    "total_meters": "10" if n == 7 else "0"})  # fmt: skip
        with store.write() as s:
            factory_ops.set_machine_status(s, actor=system, machine_id="m9", status="ERROR")
            factory_ops.report_downtime(s, actor=system, machine_id="m6", reason="MATERIAL")
    finally:
        store.dispose()
    srv = Server(data)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def context(browser, srv: Server, viewport=WALL, locale="es-ES"):
    # bypass_csp: axe-core is injected as an inline script, which the pages' CSP forbids.
    ctx = browser.new_context(viewport=viewport, locale=locale, base_url=srv.url,
                              timezone_id="Europe/Madrid", bypass_csp=True)  # fmt: skip
    ctx.set_default_timeout(10000)
    return ctx


def contrast_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: "rule",
             values: ["color-contrast", "color-contrast-enhanced"]}})"""
    )
    return [f"{v['id']}: {n['target']} {n.get('failureSummary', '')[:160]}"
            for v in result["violations"] for n in v["nodes"]]  # fmt: skip


def make_screen(browser, floor: Server) -> str:
    ctx = context(browser, floor)
    page = ctx.new_page()
    page.goto("/app/login?next=/app/board")
    enter_pin(page, "olga")
    page.wait_for_url(re.compile(r".*/app/board$"))
    page.locator("#board .card").first.wait_for()
    page.locator("#screen-name").fill("TV nave 1")
    page.locator("#screen-make").click()
    link = page.locator("#screen-link a.screen-url")
    expect(link).to_contain_text("/app/display#key=dsp_")
    url = link.get_attribute("href")
    ctx.close()
    assert url
    return url


def test_office_lists_and_revokes_a_board_screen(browser, floor: Server) -> None:
    ctx = context(browser, floor)
    page = ctx.new_page()
    try:
        page.goto("/app/login?next=/app/board")
        enter_pin(page, "olga")
        page.wait_for_url(re.compile(r".*/app/board$"))
        page.locator("#screen-name").fill("TV muelle de carga")
        page.locator("#screen-make").click()
        link = page.locator("#screen-link a.screen-url")
        expect(link).to_contain_text("/app/display#key=dsp_")
        key = (link.get_attribute("href") or "").split("#key=")[1]
        screen = {"Authorization": "Display " + key}
        ok = httpx.get(floor.url + "/api/display/board", headers=screen)
        assert ok.status_code == 200
        item = page.locator("#screen-list li.screen", has_text="TV muelle de carga")
        expect(item).to_have_count(1)
        revoke = item.locator("button")
        expect(revoke).to_be_visible()
        assert (revoke.bounding_box() or {}).get("height", 0) >= 44
        shot(page, "board-screens-office")
        page.once("dialog", lambda d: d.accept())
        revoke.click()
        expect(item.locator("button")).to_have_count(0)
        expect(item.locator(".screen-state")).to_have_text(re.compile(r"Revoked|Revocada"))
        # The revoked key reads nothing any more.
        gone = httpx.get(floor.url + "/api/display/board", headers=screen)
        assert gone.status_code == 401
    finally:
        ctx.close()


def test_board_screen_stays_up_reads_only_and_fits_the_wall(browser, floor: Server) -> None:
    if not AXE.exists():
        pytest.skip("axe-core not installed: npm ci --prefix tests/web")
    url = make_screen(browser, floor)
    key = url.split("#key=")[1]
    ctx = context(browser, floor)
    errors: list[str] = []
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(url)
        cards = page.locator("#board .card.machine")
        expect(cards).to_have_count(12)
        # The key left the address bar (kept on the device instead).
        assert "#key=" not in page.url
        # Trouble first: broken, stopped with its reason and since when, maintenance...
        troubles = [cards.nth(i).get_attribute("data-trouble") for i in range(12)]
        assert troubles[:4] == ["broken", "stopped", "maintenance", "due"], troubles
        expect(cards.nth(1)).to_contain_text(re.compile(r"Parada: Falta de material, desde hace"))
        # Every machine on one 1280x800 screen, text 16 px or more.
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll('#board .card'))
            .map((c) => c.getBoundingClientRect()).map((r) => [r.right, r.bottom])""")
        assert all(r <= 1280 and b <= 800 for r, b in boxes), boxes
        small = page.evaluate("""() => Array.from(document.querySelectorAll('#board *'))
            .filter((e) => e.childNodes.length && [...e.childNodes].some((n) => n.nodeType === 3
              && n.textContent.trim()))
            .map((e) => parseFloat(getComputedStyle(e).fontSize)).filter((s) => s < 16)""")
        assert not small, small
        assert contrast_violations(page) == []
        assert_spanish(page, "board screen", english_fragments())
        shot(page, "display-wall")

        # No idle logout, however short the timeout is made.
        page.evaluate("sessionStorage.setItem('structura.idleSeconds', '1')")
        page.reload()
        expect(cards).to_have_count(12)
        page.wait_for_timeout(2500)
        assert page.url.endswith("/app/display")
        expect(cards).to_have_count(12)

        # The screen's key reads the board and nothing else.
        for verb, path in (("post", "/api/jobs/j1/pause"), ("get", "/api/jobs"),
                           ("get", "/api/board")):  # fmt: skip
            for scheme in ("Display", "Bearer"):
                r = httpx.request(verb, floor.url + path,
                                  headers={"Authorization": f"{scheme} {key}"})  # fmt: skip
                assert r.status_code == 401, (verb, path, scheme, r.status_code)
        r = httpx.get(floor.url + "/api/display/board", headers={"Authorization": "Display " + key})
        assert r.status_code == 200 and len(r.json()) == 12
        assert page.locator("button:visible").count() <= 1  # the language switch, nothing else
    finally:
        ctx.close()
    assert not errors, errors


def test_floor_board_trouble_first_aaa_and_fits(browser, floor: Server) -> None:
    if not AXE.exists():
        pytest.skip("axe-core not installed: npm ci --prefix tests/web")
    for name, viewport in (("tablet", WALL), ("phone", PHONE)):
        ctx = context(browser, floor, viewport)
        page = ctx.new_page()
        try:
            page.goto("/app/login?next=/app/board")
            enter_pin(page, "ana")
            page.wait_for_url(re.compile(r".*/app/board$"))
            cards = page.locator("#board .card.machine")
            expect(cards).to_have_count(12)
            assert cards.first.get_attribute("data-trouble") == "broken"
            # The running stop on its card, with the button that ends it.
            stopped = page.locator('#board .card[data-machine-id="m6"]')
            expect(stopped.locator('[data-action="downtime-end"]')).to_be_visible()
            page.locator('#live-state[data-state="live"]').wait_for()
            assert contrast_violations(page) == []
            expect(page.locator("#who-name")).to_be_visible()
            if name == "tablet":
                # Two rows of four: at least 8 machines without scrolling.
                visible = page.evaluate("""() => Array.from(document.querySelectorAll(
                    '#board .card')).filter((c) => c.getBoundingClientRect().bottom <= 800)
                    .length""")
                assert visible >= 8, visible
            else:
                tops = page.evaluate("""() => Array.from(document.querySelectorAll('#nav a'))
                    .filter((a) => a.offsetParent).map((a) => a.getBoundingClientRect().top)""")
                assert len(set(tops)) == 1, tops  # the tabs in one row
            shot(page, f"board12-{name}")
            stopped.locator('[data-action="downtime-end"]').click()
            expect(page.locator("#toasts")).to_contain_text("Parada terminada en Línea 06")
            expect(stopped.locator('[data-action="downtime"]')).to_be_visible()
            # Started again for the next run of the loop (the other width).
            stopped.locator('[data-action="downtime"]').click()
            page.locator("#downtime-dialog label.choice").nth(2).click()
            page.locator("#downtime-submit").click()
            expect(stopped.locator('[data-action="downtime-end"]')).to_be_visible()
        finally:
            ctx.close()
