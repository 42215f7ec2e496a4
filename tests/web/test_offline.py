"""Offline first: an operator reports production while the site server is stopped,
reloads the page (served by the service worker, with the old data marked as old), the
site comes back, and exactly one report is stored; replaying the operation does not
double it."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import TABLET, enter_pin, shot

pytestmark = pytest.mark.browser


def produced(url: str, token: str, job: str) -> Decimal:
    r = httpx.get(f"{url}/api/jobs/{job}", headers={"Authorization": "Bearer " + token})
    r.raise_for_status()
    return Decimal(r.json()["produced_qty"])


def test_report_survives_an_outage_and_a_reload_and_is_stored_once(browser, own_site) -> None:
    ctx = browser.new_context(viewport=TABLET, locale="es-ES", base_url=own_site.url,
                              timezone_id="Europe/Madrid")  # fmt: skip
    ctx.set_default_timeout(10000)
    errors: list[str] = []
    page = ctx.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/app/login?next=/app/jobs")
        enter_pin(page, "ana")
        page.wait_for_url(re.compile(r".*/app/jobs$"))
        page.locator('#jobs .card[data-job-id="j1"]').wait_for()
        # The service worker takes over and keeps this page and its data.
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        page.reload()
        page.locator('#jobs .card[data-job-id="j1"]').wait_for()
        token = page.evaluate("sessionStorage.getItem('structura.access')")
        before = produced(own_site.url, token, "j1")

        own_site.stop()
        card = page.locator('#jobs .card[data-job-id="j1"]')
        card.locator('[data-action="report"]').click()
        page.locator("#complete-produced").fill("7")
        page.locator("#complete-progress").click()
        expect(page.locator("#alerts-live")).to_contain_text("Guardado en este dispositivo")
        expect(page.locator("#pending")).to_have_text("1 pendientes de enviar")
        op_ids = page.evaluate("""() => new Promise((resolve) => {
            const req = indexedDB.open("structura");
            req.onsuccess = () => {
              const all = req.result.transaction("ops").objectStore("ops").getAll();
              all.onsuccess = () => resolve(all.result.map((o) => o.id));
            };
        })""")
        assert len(op_ids) == 1

        # A reload while the site is away: the page and the last data, marked as old.
        page.reload()
        page.locator('#jobs .card[data-job-id="j1"]').wait_for()
        expect(page.locator("#offline")).to_be_visible()
        expect(page.locator("#offline")).to_contain_text("Sin conexión con el servidor desde")
        expect(page.locator("#offline")).to_contain_text("Los datos son de las")
        expect(page.locator("#pending")).to_have_text("1 pendientes de enviar")
        expect(card.locator(".pending-op")).to_contain_text("Pendiente de enviar")
        shot(page, "offline-pending-tablet")

        own_site.start()  # same port: the tablet finds it again
        expect(page.locator("#pending")).to_be_hidden(timeout=20000)
        expect(page.locator("#offline")).to_be_hidden(timeout=10000)
        assert produced(own_site.url, token, "j1") == before + 7

        # The same operation again (a replayed queue): answered, not applied.
        replay = httpx.post(
            f"{own_site.url}/api/jobs/j1/progress", json={"produced": "7", "scrap": "0"},
            headers={"Authorization": "Bearer " + token, "Idempotency-Key": op_ids[0]},
        )  # fmt: skip
        assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
        assert produced(own_site.url, token, "j1") == before + 7
    finally:
        ctx.close()
    assert not errors, errors
