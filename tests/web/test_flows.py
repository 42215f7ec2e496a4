"""What people do on the floor and on the road, in a real browser against a real
``structura site serve``."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import PHONE, enter_pin, login, shot

pytestmark = pytest.mark.browser


def api_get(page, path: str):
    """GET through the page's own login (what the page itself could see)."""
    return page.evaluate(
        """async (path) => {
            const r = await fetch(path, {headers: {Authorization: "Bearer " +
                sessionStorage.getItem("structura.access")}});
            return await r.json();
        }""",
        path,
    )


def test_pin_login_and_logout(new_page) -> None:
    page = new_page()
    login(page, "ana")
    expect(page).to_have_url(re.compile(r"/app/jobs$"))
    expect(page.locator("#who-name")).to_contain_text("Ana Ruiz")
    # An operator sees the floor pages, not the tour's.
    expect(page.locator('#nav a[href="/app/board"]')).to_be_visible()
    expect(page.locator('#nav a[href="/app/day"]')).to_be_hidden()
    page.locator("#logout").click()
    expect(page).to_have_url(re.compile(r"/app/login"))
    assert page.evaluate("sessionStorage.getItem('structura.access')") is None
    page.goto("/app/board")  # no login: back to the keypad
    expect(page).to_have_url(re.compile(r"/app/login\?next=%2Fapp%2Fboard"))


def test_wrong_pin_then_lockout_message(new_page) -> None:
    page = new_page()
    page.goto("/app/login")
    enter_pin(page, "bruno", "0000")
    expect(page.locator("#pin-error")).to_have_text("PIN incorrecto. Inténtalo de nuevo.")
    expect(page.locator("#pin-input")).to_have_value("")  # ready for another try
    # Keyboard digits work as well as the keypad.
    page.locator("#pin-input").press_sequentially("735102")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/app/jobs$"))

    # The lockout answer (429 with a retry time) is shown as such. Provoking a real lockout
    # would lock a seeded user for the rest of the run, so this answer is staged.
    other = new_page()
    other.route("**/api/auth/pin", lambda route: route.fulfill(
        status=429, content_type="application/problem+json", headers={"Retry-After": "300"},
        body=json.dumps({"type": "urn:structura:problem:rate_limited", "title": "Too Many",
                         "status": 429, "code": "rate_limited", "retry_after": 300}),
    ))  # fmt: skip
    other.goto("/app/login")
    enter_pin(other, "bruno", "1111")
    expect(other.locator("#pin-error")).to_contain_text("5 minutos")


def test_start_and_complete_seen_live_on_another_board(new_page) -> None:
    office = new_page()
    login(office, "olga", "/app/board")
    card = office.locator('#board .card[data-machine-id="m2"]')
    expect(card).to_have_attribute("data-status", "IDLE")
    expect(office.locator('#live-state[data-state="live"]')).to_be_visible()
    office.evaluate("window.__noReload = true")

    operator = new_page(viewport=PHONE)
    login(operator, "ana")
    job = operator.locator('#jobs .card[data-job-id="j2"]')
    job.locator('[data-action="start"]').click()
    expect(operator.locator("#toasts")).to_contain_text("Empezada")
    # The other browser's board changes by itself, within about a second.
    expect(card).to_have_attribute("data-status", "RUNNING", timeout=1500)
    # Named by its document number (site code, kind, sequence), then its title as text.
    expect(card.locator(".job-title")).to_have_text(
        re.compile(r"^[A-Z0-9]+-OT-\d{4,} · Bastidores soldados <b>B-12</b>$")
    )

    expect(job).to_have_attribute("data-status", "IN_PROGRESS")
    job.locator('[data-action="report"]').click()
    dialog = operator.locator("#complete-dialog")
    dialog.get_by_label("Producido desde el último registro").fill("40")
    dialog.get_by_label("De ello, desecho").fill("1")
    dialog.locator("#complete-submit").click()
    expect(dialog).to_be_hidden()
    expect(operator.locator("#toasts")).to_contain_text("Terminada")
    expect(card).to_have_attribute("data-status", "IDLE", timeout=1500)
    expect(card.locator(".current-job.none")).to_be_visible()
    assert office.evaluate("window.__noReload") is True
    row = api_get(office, "/api/jobs/j2")
    assert row["status"] == "COMPLETED"
    assert (float(row["produced_qty"]), float(row["scrap_qty"])) == (40, 1)


# Stops and machine states are read by other tests: on a site of its own.
def test_report_downtime_and_machine_status(own_page) -> None:
    page = own_page()
    login(page, "ana", "/app/board")
    card = page.locator('#board .card[data-machine-id="m3"]')
    card.get_by_role("button", name="Empezar parada").click()
    dialog = page.locator("#downtime-dialog")
    dialog.locator("#downtime-submit").click()  # no reason yet: told so, nothing sent
    expect(dialog.locator('[data-error-for="reason"]')).to_have_text("Elige un motivo.")
    dialog.get_by_label("Falta de material").check()
    dialog.get_by_label("Notas (opcional)").fill("Sin bobina de 0,6")
    dialog.locator("#downtime-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text("Parada registrada en Pintura 3")
    rows = api_get(page, "/api/downtimes?machine_id=m3")["items"]
    assert [(r["reason"], r["notes"]) for r in rows] == [("MATERIAL", "Sin bobina de 0,6")]

    card = page.locator('#board .card[data-machine-id="m4"]')
    card.get_by_role("button", name="Estado de máquina").click()
    dialog = page.locator("#status-dialog")
    dialog.get_by_label("Avería").check()
    dialog.get_by_label("Nota (opcional)").fill("Fuga de aceite")
    dialog.locator("#status-submit").click()
    expect(page.locator("#toasts")).to_contain_text("Panelizado 4 está ahora en Avería")
    expect(card).to_have_attribute("data-status", "ERROR", timeout=1500)

    # The ERROR raised an alert; alerts are dismissed with one tap.
    page.locator('#nav a[href="/app/alerts"]').click()
    alert = page.locator('#alerts [data-alert-id="a2"]')
    expect(page.locator("#alerts")).to_contain_text("Fuga de aceite")
    alert.get_by_role("button", name="Descartar").click()
    expect(page.locator("#toasts")).to_contain_text("Alerta descartada")
    expect(alert).to_have_count(0)


def test_day_sheet_in_the_shows_time_zone(new_page) -> None:
    page = new_page(viewport=PHONE)
    login(page, "carla")
    expect(page).to_have_url(re.compile(r"/app/day$"))
    show = page.locator("#day .show")
    expect(show.locator(".show-title")).to_have_text("Madrid · Sala Riviera")
    expect(show).to_contain_text("21:30")
    expect(show).to_contain_text("Prueba de sonido 17:00")
    leg = page.locator("#day .travel-leg")
    expect(leg).to_contain_text("Barcelona Sants → Madrid Atocha")
    expect(leg).to_contain_text("Sale 09:30 · llega 12:15")
    # Three days on, London: the time is London's, and says so.
    for _ in range(3):
        page.locator("#day-next").click()
    expect(page.locator("#day .show")).to_contain_text("20:00 (hora de Londres)")
    # Crew see no settlement link (that is for the office).
    expect(page.locator("#day .show a")).to_have_count(0)


def test_switch_language(new_page) -> None:
    page = new_page(locale="en-GB")  # the browser's language is the default
    page.goto("/app/login")
    expect(page.locator("h1#pick-title")).to_have_text("Who are you?")
    page.locator("#lang-switch").click()
    expect(page.locator("h1#pick-title")).to_have_text("¿Quién eres?")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    # After login the user's own language wins (Olga: English).
    enter_pin(page, "olga")
    expect(page).to_have_url(re.compile(r"/app/board$"))
    expect(page.locator("#board .card").first).to_contain_text("No job running")
    expect(page.locator("#nav")).to_contain_text("Board")
    page.locator("#lang-switch").click()
    expect(page.locator("#nav")).to_contain_text("Tablero")
    expect(page.locator("#board .card").first).to_contain_text("Sin orden en marcha")
    # The choice is saved with Olga: another tablet shows her pages in Spanish too.
    other = new_page(locale="en-GB")
    other.goto("/app/login")
    enter_pin(other, "olga")
    expect(other.locator("#nav")).to_contain_text("Tablero")
    # The board is drawn by the page's script: once it shows, the switch is wired.
    expect(other.locator("#board .card").first).to_contain_text("Sin orden en marcha")
    # Back to English, as the other tests expect of her.
    other.locator("#lang-switch").click()
    expect(other.locator("#nav")).to_contain_text("Board")
    expect(other.locator("#board .card").first).to_contain_text("No job running")


def test_expired_session_keeps_what_was_typed(new_page) -> None:
    page = new_page()
    login(page, "ana", "/app/messages")
    form = page.locator("#message-form")
    form.get_by_label("Para").select_option("olga")
    form.get_by_label("Mensaje").fill("La bobina llega a las 14:00, no antes.")
    # The login ends behind the page's back (tokens no longer valid).
    page.evaluate("""() => {
        sessionStorage.setItem("structura.access", "not-a-token");
        sessionStorage.setItem("structura.refresh", "x".repeat(40));
    }""")
    page.locator("#message-send").click()
    expect(page.locator("#alerts-live")).to_contain_text("Tu sesión ha caducado")
    expect(page).to_have_url(re.compile(r"/app/login\?reason=expired&next=%2Fapp%2Fmessages"))
    expect(page.locator("#login-notice")).to_contain_text("lo que escribiste se ha guardado")
    enter_pin(page, "ana")
    expect(page).to_have_url(re.compile(r"/app/messages$"))
    expect(form.get_by_label("Mensaje")).to_have_value("La bobina llega a las 14:00, no antes.")
    expect(form.get_by_label("Para")).to_have_value("olga")
    page.locator("#message-send").click()
    expect(page.locator("#toasts")).to_contain_text("Mensaje enviado a Olga Martín")
    expect(page.locator("#messages")).to_contain_text("La bobina llega a las 14:00")
    expect(form.get_by_label("Mensaje")).to_have_value("")
    # Sent once: the refused send was kept as the draft, not also queued (it went out
    # twice when the queue replayed it after the login and the person sent again).
    page.wait_for_timeout(6000)  # past the queue's retry (RETRY_MS) and a reload
    page.reload()
    expect(page.locator("#messages")).to_contain_text("La bobina llega a las 14:00")
    expect(page.locator("#messages li", has_text="La bobina llega a las 14:00")).to_have_count(1)


def test_offline_keeps_what_was_typed(new_page) -> None:
    """A message sent without a connection is kept on the device (shown as waiting)
    and goes out once, by itself, when the connection is back."""
    page = new_page()
    login(page, "ana", "/app/messages")
    # A message body is text, never markup.
    expect(page.locator('#messages [data-message-id="msg1"]')).to_contain_text("<script>x</script>")
    page.locator("#message-to").select_option("bruno")
    page.locator("#message-body").fill("Sin red en la nave 2")
    page.context.set_offline(True)
    page.locator("#message-send").click()
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#alerts-live")).to_contain_text(
        "Guardado en este dispositivo: mensaje a Bruno Silva"
    )
    expect(page.locator("#pending")).to_have_text("1 pendientes de enviar")
    page.context.set_offline(False)
    expect(page.locator("#toasts")).to_contain_text("Enviado: mensaje a Bruno Silva", timeout=15000)
    expect(page.locator("#pending")).to_be_hidden()
    expect(page.locator("#offline")).to_be_hidden()
    sent = api_get(page, "/api/messages?to_user_id=bruno&limit=200")["items"]
    assert [m["body"] for m in sent].count("Sin red en la nave 2") == 1


def test_concurrent_reports_add_up(new_page) -> None:
    """Reports are increments: two tablets reporting on one job both count, with no
    conflict dialog (a version check would only make the second person type again)."""
    first, second = new_page(), new_page()
    for page in (first, second):
        login(page, "ana")
        page.locator('#jobs .card[data-job-id="j1"] [data-action="report"]').click()
    # Both tablets opened the job at 120 m. The first saves 10 m more...
    first.get_by_label("Producido desde el último registro").fill("10")
    first.locator("#complete-progress").click()
    expect(first.locator("#toasts")).to_contain_text("Avance guardado")
    # ...the second, still showing 120 m, saves 20 m: both count.
    second.get_by_label("Producido desde el último registro").fill("20")
    second.locator("#complete-progress").click()
    expect(second.locator("#toasts")).to_contain_text("Avance guardado")
    expect(second.locator("#conflict-dialog")).to_be_hidden()
    card = second.locator('#jobs .card[data-job-id="j1"]')
    expect(card).to_contain_text("150 / 500 m")


def test_a_stopped_machine_shows_why_and_the_stop_is_ended_from_the_board(own_page) -> None:
    page = own_page()
    login(page, "ana", "/app/board")
    card = page.locator('#board .card[data-machine-id="m3"]')
    card.get_by_role("button", name="Empezar parada").click()
    dialog = page.locator("#downtime-dialog")
    dialog.get_by_label("Falta de material").check()
    dialog.locator("#downtime-submit").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".status-line")).to_contain_text("Parada: Falta de material, desde")
    expect(card).to_have_attribute("data-trouble", "stopped")
    # Ended through POST /api/machines/{id}/downtime/end, from the card itself.
    card.get_by_role("button", name="Terminar parada").click()
    expect(page.locator("#toasts")).to_contain_text("Parada terminada")
    expect(card.locator(".status-line")).not_to_contain_text("Parada:")
    expect(card.get_by_role("button", name="Empezar parada")).to_be_visible()
    rows = api_get(page, "/api/downtimes?machine_id=m3")["items"]
    assert rows and all(r["ended_at"] is not None for r in rows)


def test_idle_timeout_drops_the_login(new_page) -> None:
    page = new_page()
    login(page, "bruno")
    page.evaluate("sessionStorage.setItem('structura.idleSeconds', '1')")
    page.reload()
    expect(page).to_have_url(re.compile(r"/app/login\?reason=idle"), timeout=4000)
    assert page.evaluate("sessionStorage.getItem('structura.access')") is None
    expect(page.locator("#user-list button").first).to_be_visible()


def test_expired_access_token_is_refreshed_quietly(new_page) -> None:
    page = new_page()
    login(page, "bruno", "/app/messages")
    old_refresh = page.evaluate("sessionStorage.getItem('structura.refresh')")
    page.evaluate("sessionStorage.setItem('structura.access', 'expired-or-garbage')")
    page.locator("#message-to").select_option("ana")
    page.locator("#message-body").fill("Turno de tarde cubierto")
    page.locator("#message-send").click()
    expect(page.locator("#toasts")).to_contain_text("Message sent to Ana Ruiz")  # Bruno: en
    # The refresh token was rotated: the old one is gone from the tab.
    assert page.evaluate("sessionStorage.getItem('structura.refresh')") != old_refresh
    expect(page).to_have_url(re.compile(r"/app/messages$"))


def test_settlement_lines_for_the_office(new_page) -> None:
    page = new_page(locale="en-GB")
    login(page, "olga", "/app/shows")
    page.locator('#shows [data-show-id="s2"] a').click()
    table = page.locator("table.settlement")
    # A worked example: G 10,000 GBP, W 20 %, B 10 %, M 15 % of gross, costs 2,500.
    expect(table.locator(".line-withholding")).to_contain_text("G \u00d7 20%")
    expect(table.locator(".line-withholding .amount")).to_have_text("£2,000.00")
    expect(table.locator(".line-management .amount")).to_have_text("£1,500.00")
    expect(table.locator(".line-net .amount")).to_have_text("£3,000.00")
    expect(page.locator("#settlement")).to_contain_text("€3,510.00")


def test_tokyo_show_reads_the_same_in_the_list_and_the_day_sheet(new_page) -> None:
    # The tablet is in Madrid; the show is at 01:00 in Tokyo, the evening before in Madrid.
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    tokyo_day = (datetime.now(ZoneInfo("Europe/Madrid")).date() + timedelta(days=5)).isoformat()
    page = new_page(locale="en-GB")
    login(page, "olga", "/app/shows")
    when = page.locator('#shows [data-show-id="s3"] .show-when')
    expect(when).to_contain_text(re.compile(r"01:00( AM)? \(Tokyo time\)"))
    listed = when.inner_text()
    page.goto(f"/app/day?date={tokyo_day}")
    show = page.locator('#day .show[data-show-id="s3"]')
    expect(show.locator(".show-time")).to_have_text(re.compile(r"^01:00( AM)? \(Tokyo time\)$"))
    madrid = datetime.fromisoformat(tokyo_day + "T01:00").replace(tzinfo=ZoneInfo("Asia/Tokyo"))
    madrid = madrid.astimezone(ZoneInfo("Europe/Madrid"))  # the tablet's (office's) clock
    office = f"({madrid:%H:%M}|{madrid:%I:%M %p}) \\(-1d\\)"
    expect(show.locator(".office-time")).to_have_text(re.compile(f"^{office}$"))
    assert show.locator(".show-time").inner_text() in listed  # the same words in both
    shot(page, "day-tokyo-office-time")
    assert re.search(rf"\b{int(tokyo_day[8:])}\b", listed)  # the list shows the Tokyo date
    # The Madrid date of the same instant is the day before: not there.
    day_before = (datetime.fromisoformat(tokyo_day) - timedelta(days=1)).date().isoformat()
    page.goto(f"/app/day?date={day_before}")
    page.locator("#day h2.day-title").wait_for()
    expect(page.locator('#day .show[data-show-id="s3"]')).to_have_count(0)


def test_a_cost_without_rate_is_named_on_the_settlement_page(new_page) -> None:
    page = new_page(locale="en-GB")
    login(page, "olga", "/app/shows")
    page.locator('#shows [data-show-id="s3"] a').click()
    warning = page.locator("#settlement .warnings")
    expect(warning).to_contain_text("Incomplete settlement")
    expect(warning.locator(".warn-cost_without_rate")).to_have_text(
        "Cost not counted: Hotel Shinagawa $500.00 has no rate to EUR; "
        "enter the USD rate on the show."
    )
    page.locator("#lang-switch").click()  # Olga reads it in Spanish, then back
    expect(warning).to_contain_text("Liquidación incompleta")
    expect(warning.locator(".warn-cost_without_rate")).to_contain_text(
        "Coste no incluido: Hotel Shinagawa 500,00 US$ no tiene cambio a EUR"
    )
    page.locator("#lang-switch").click()
    expect(warning).to_contain_text("Incomplete settlement")
