"""Every console page in Debian's Chromium, against the central server on real uvicorn
and PostgreSQL, with real sites (SQLite stores and the sync agent over HTTP):
enrol a site end to end, revoke it, resolve a conflict two sites made, export a report
and check it against the sites' own reports. Screenshots at desktop width, es and en."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from core import writes
from core.db import sqlite_url
from core.factory import oee
from core.registry import spec_for
from core.site import open_store, site_info
from core.tour import finance
from core.writes import Actor
from sync_agent.agent import SyncAgent, enroll_site
from sync_agent.client import Revoked

# The console's fixtures, here because browser tests share the web suite's one Chromium
# (tests/web/conftest.py): a second Playwright in one process would clash with it.
from tests.console.conftest import browser_login, console, new_page, shot  # noqa: F401
from tests.sync.conftest import central  # noqa: F401

pytestmark = [pytest.mark.pg, pytest.mark.browser]


def enrol_through_console(page, console, tmp_path, site_name: str):
    """Create the site and a code in the console; the site enrols with the agent's own
    enrol function (what `structura sync enroll URL CODE` runs)."""
    page.goto(f"/console/orgs/{console.org_id}")
    page.fill("#site-name", site_name)
    page.click("#new-site button[type=submit]")
    row = page.locator("#sites tr", has_text=site_name)
    row.locator("button[data-action=code]").click()
    page.wait_for_selector("#enrol-code")
    code = page.locator("#enrol-code").inner_text().strip()
    command = page.locator("#enrol-command").inner_text()
    assert code in command and console.url in command
    assert page.locator("#qr svg").count() == 1
    store = open_store(sqlite_url(tmp_path / f"{site_name}.sqlite3"))
    enroll_site(store, console.url, code, device_name=site_name)
    return store, SyncAgent(store)


def test_enrol_then_revoke_a_site_through_the_console(new_page, console, tmp_path):
    page = new_page("es-ES")
    page.goto("/console/login")
    shot(page, "login-es")
    browser_login(page)
    shot(page, "overview-es")
    store, agent = enrol_through_console(page, console, tmp_path, "Planta Norte")
    shot(page, "code-es")
    agent.sync_once()
    page.goto(f"/console/orgs/{console.org_id}")
    row = page.locator("#sites tr", has_text="Planta Norte")
    assert row.get_attribute("data-state") == "online"
    assert "en línea" in row.inner_text()
    shot(page, "sites-es")
    # Revoke: the confirmation is asked, then the device is refused at once.
    page.once("dialog", lambda d: d.accept())
    page.locator("#devices button[data-action=revoke]").click()
    page.wait_for_selector("#devices .pill-revoked")
    assert (
        page.locator("#sites tr", has_text="Planta Norte").get_attribute("data-state") == "revoked"
    )
    with pytest.raises(Revoked):
        agent.sync_once()
    # Re-enrol: a new code for the same site, a fresh store; the site is online again.
    page.locator("#sites tr", has_text="Planta Norte").locator("button[data-action=code]").click()
    code = page.locator("#enrol-code").inner_text().strip()
    store2 = open_store(sqlite_url(tmp_path / "Planta Norte 2.sqlite3"))
    enroll_site(store2, console.url, code, device_name="Planta Norte 2")
    agent2 = SyncAgent(store2)
    agent2.sync_once()
    page.goto(f"/console/orgs/{console.org_id}")
    assert (
        page.locator("#sites tr", has_text="Planta Norte").get_attribute("data-state") == "online"
    )
    assert page.locator("#devices tr[data-device]").count() == 2
    agent2.client.close()
    store2.dispose()
    # English, same pages.
    page.click("#lang-switch")
    page.wait_for_selector("text=Sites and devices")
    shot(page, "sites-en")
    page.goto("/console/")
    shot(page, "overview-en")
    page.goto(f"/console/orgs/{console.org_id}")
    row = page.locator("#sites tr", has_text="Planta Norte")
    row.locator("button[data-action=code]").click()
    page.wait_for_selector("#enrol-code")
    shot(page, "code-en")
    page.click("#logout")
    page.wait_for_selector("#login-submit")
    shot(page, "login-en")
    agent.client.close()
    store.dispose()


def _actor(store) -> Actor:
    return Actor(org_id=site_info(store).org_id, user_id=None, role="admin")


def test_resolve_a_conflict_two_sites_made(new_page, console, tmp_path):
    page = new_page("en-GB")
    browser_login(page)
    a_store, a = enrol_through_console(page, console, tmp_path, "Site A")
    b_store, b = enrol_through_console(page, console, tmp_path, "Site B")
    with a_store.write() as s:
        cid = writes.create(
            s, actor=_actor(a_store), entity="clients", data={"name": "Ana", "phone": "111"}
        ).id
    a.sync_once()
    b.sync_once()
    for store, phone in ((a_store, "222-from-A"), (b_store, "333-from-B")):
        with store.write() as s:
            current = s.get(spec_for("clients").model, (site_info(store).org_id, cid))
            writes.update(
                s,
                actor=_actor(store),
                entity="clients",
                id=cid,
                data={"phone": phone},
                version=current.version,
            )
    a.sync_once()
    b.sync_once()  # B's edit of the same field arrives second: it wins, A's value lost
    page.goto(f"/console/orgs/{console.org_id}/conflicts")
    card = page.locator("section.conflict").first
    assert "Site B" in card.inner_text()
    # The entity, the kind and why, in words (not "clients" or a stored code).
    assert card.locator("h2").inner_text().startswith("Clients")
    assert "the change that arrived last was kept" in card.locator("p.reason").inner_text()
    # When, in the browser's own time zone; the UTC text stays as the tooltip.
    when = card.locator("time")
    expect(when).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    assert "UTC" not in when.inner_text()
    row = card.locator('tr[data-field="phone"]')
    assert row.locator("th").inner_text() == "Phone"
    current, lost = row.locator("td").all_inner_texts()
    assert "333-from-B" in current and "222-from-A" in lost
    shot(page, "conflicts-en")
    row.locator('input[value="site"]').check()
    card.locator("button[data-action=resolve]").click()
    page.wait_for_selector("#no-conflicts")
    a.sync_once()
    b.sync_once()
    for store in (a_store, b_store):
        with store.read() as s:
            got = s.get(spec_for("clients").model, (site_info(store).org_id, cid))
            assert got.phone == "222-from-A"  # the lost value, restored on both sites
    page.goto(f"/console/orgs/{console.org_id}/data/clients")
    shot(page, "data-en")
    page.goto(f"/console/orgs/{console.org_id}/audit")
    shot(page, "audit-en")
    page.click("#lang-switch")
    page.goto(f"/console/orgs/{console.org_id}/conflicts?show=all")
    card = page.locator("section.conflict").first
    assert card.locator("h2").inner_text().startswith("Clientes")
    assert "El mismo campo cambió en dos lados" in card.inner_text()
    assert "se mantuvo el cambio que llegó último" in card.locator("p.reason").inner_text()
    assert "Resuelto: se escribieron los valores elegidos" in card.inner_text()
    shot(page, "conflicts-es")
    page.goto(f"/console/orgs/{console.org_id}/data/clients")
    assert "222-from-A" in page.locator("#rows").inner_text()
    assert "Teléfono" in page.locator("#rows thead").inner_text()  # the API name on hover
    assert page.locator('#rows th[title="phone"]').count() == 1
    shot(page, "data-es")
    page.goto(f"/console/orgs/{console.org_id}/audit?what=clients")
    assert page.locator("#audit tbody tr").count() >= 3
    first = page.locator("#audit tbody tr").first.inner_text()
    assert "Clientes" in first and "cambio" in first and "Teléfono" in first, first
    shot(page, "audit-es")
    for agent, store in ((a, a_store), (b, b_store)):
        agent.client.close()
        store.dispose()


def test_exported_reports_match_the_sites_own_reports(new_page, console, tmp_path):
    page = new_page("es-ES")
    browser_login(page)
    store, agent = enrol_through_console(page, console, tmp_path, "Fábrica Sur")
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    actor = _actor(store)
    with store.write() as s:
        m = writes.create(
            s,
            actor=actor,
            entity="machines",
            data={"name": "Prensa 1", "type": "CONFORMADORA", "ideal_rate": "40"},
        ).id
        for h, mins, reason in ((7, 45, "BREAKDOWN"), (15, 30, "SETUP"), (23, 20, "BREAKDOWN")):
            a = day + timedelta(hours=h)
            writes.create(
                s,
                actor=actor,
                entity="downtimes",
                data={
                    "machine_id": m,
                    "started_at": a.isoformat(),
                    "reason": reason,
                    "ended_at": (a + timedelta(minutes=mins)).isoformat(),
                },
            )
        show = writes.create(
            s,
            actor=actor,
            entity="shows",
            data={
                "city": "Lisboa",
                "country": "PT",
                "starts_at": (day + timedelta(hours=20)).isoformat(),
                "fee": "9000",
                "currency": "EUR",
                "tour": "Gira Sur",
                "status": "confirmed",
                "wht_pct": "10",
                "booking_pct": "10",
                "mgmt_pct": "15",
            },
        ).id
        writes.create(
            s,
            actor=actor,
            entity="show_costs",
            data={"show_id": show, "type": "sound", "amount": "700", "currency": "EUR"},
        )
    agent.sync_once()
    org_id = site_info(store).org_id
    start, end = day, day + timedelta(days=1)
    with store.read() as s:
        own = {
            "finance_month": finance.finance_totals(
                s, org_id=org_id, group_by="month", start=start, end=end
            ),
            "oee": oee.oee_report(s, org_id=org_id, period="day", start=start, end=end),
        }
    d = day.date().isoformat()
    exported = {}
    for name in ("finance_month", "oee", "downtime"):
        page.goto(f"/console/orgs/{console.org_id}/reports?report={name}&start={d}&end={d}")
        shot(page, f"report-{name}-es")
        with page.expect_download() as dl:
            page.click("#export-csv")
        exported[name] = list(csv.DictReader(io.StringIO(dl.value.path().read_text("utf-8"))))
    fin = exported["finance_month"]
    assert [(r["key"], r["gross"], r["net"], r["costs"]) for r in fin] == [
        (r["key"], r["gross"], r["net"], r["costs"]) for r in own["finance_month"]
    ]
    assert fin and fin[0]["costs"] != "0"
    assert [
        (r["machine"], r["downtime_minutes"], r["availability"], r["oee"] or None)
        for r in exported["oee"]
    ] == [(r["machine"], r["downtime_minutes"], r["availability"], r["oee"]) for r in own["oee"]]
    down = {r["reason"]: r for r in exported["downtime"]}
    assert down["BREAKDOWN"]["stops"] == "2" and down["BREAKDOWN"]["minutes"] == "65.00"
    # The XLSX holds the same figures.
    xlsx = httpx.get(
        f"{console.url}/console/orgs/{console.org_id}/reports",
        params={"report": "finance_month", "start": d, "end": d, "format": "xlsx"},
        cookies={c["name"]: c["value"] for c in page.context.cookies()},
    )
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(xlsx.content)).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0][:6] == ("key", "shows", "currency", "gross", "costs", "net")
    assert float(values[1][5]) == float(fin[0]["net"])
    page.click("#lang-switch")
    page.goto(f"/console/orgs/{console.org_id}/reports?report=oee&start={d}&end={d}")
    shot(page, "report-oee-en")
    agent.client.close()
    store.dispose()
