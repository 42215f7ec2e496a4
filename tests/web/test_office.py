"""The office on the web (password login, all jobs, printable settlement) and the
operator's close-short flow (a reason, then a confirmation)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import login, shot
from tests.web.seed import OFFICE_PASSWORD

pytestmark = pytest.mark.browser


def test_office_logs_in_with_password_and_prints_a_settlement(new_page) -> None:
    page = new_page(locale="en-GB")
    page.goto("/app/login")
    page.locator("#password-login summary").click()
    page.locator("#login-email").fill("olga@example.com")
    page.locator("#login-password").fill("wrong-password")
    page.locator("#password-submit").click()
    expect(page.locator("#password-error")).to_have_text("Wrong e-mail or password.")
    page.locator("#login-password").fill(OFFICE_PASSWORD)
    page.locator("#password-submit").click()
    page.wait_for_url(re.compile(r".*/app/board$"))
    expect(page.locator("#who-name")).to_contain_text("Olga Martín")
    # All active jobs, not only the (empty) queue of the office user.
    page.goto("/app/jobs")
    expect(page.locator('#jobs .card[data-job-id="j4"]')).to_be_visible()
    page.goto("/app/shows/s2")
    page.locator("table.settlement").wait_for()
    expect(page.locator("#print")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("#print")).to_be_hidden()
    shot(page, "settlement-print")


def test_closing_short_asks_a_reason_then_a_yes(new_page) -> None:
    page = new_page()
    login(page, "ana")
    card = page.locator('#jobs .card[data-job-id="j1"]')
    card.locator('[data-action="report"]').click()
    dialog = page.locator("#complete-dialog")
    # Progress is the main (Enter) action.
    expect(dialog.locator("#complete-progress")).to_have_class(re.compile("btn-primary"))
    dialog.locator("#complete-produced").fill("5")
    dialog.locator("#complete-submit").click()
    expect(dialog.locator('[data-error-for="short_close_reason"]')).to_have_text(
        "Indica por qué se cierra sin completar."
    )
    dialog.locator("#complete-short-reason").fill("Falta chapa")
    dialog.locator("#complete-submit").click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm.locator("#confirm-text")).to_contain_text(
        re.compile(r"La orden lleva \d+ % \(.* de 500 m\)\. ¿Cerrarla sin completar\?")
    )
    shot(page, "close-short-confirm")
    confirm.get_by_role("button", name="Cancelar").click()
    expect(confirm).to_be_hidden()
    expect(dialog).to_be_visible()  # nothing sent; the report is still there to finish
    expect(card).to_have_attribute("data-status", "IN_PROGRESS")
