"""SiteHost order, and the whole app: the embedded server answers over HTTP while the
window is open, a LAN client's write shows in the table, and quitting stops it all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt

from core.settings import Settings
from core.site import set_state
from desktop.host import SiteHost

pytestmark = pytest.mark.qt


class FakeAgent:
    def __init__(self, log: list[str], store: Any, url: str) -> None:
        self.log, self.url = log, url

    def start(self) -> None:
        self.log.append("agent start")

    def stop(self) -> None:
        self.log.append("agent stop")

    def status(self) -> dict[str, Any]:
        return {"state": "online", "pending": 0, "last_success": "now"}


class FakeAnnouncer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def stop(self) -> None:
        self.log.append("unannounce")


def test_start_and_stop_in_order(store: Any, site: Any, settings: Settings) -> None:
    log: list[str] = []
    set_state(store, "central_url", "https://central.invalid")
    host = SiteHost(
        settings,
        store,
        site,
        port=0,
        announce=False,
        agent_factory=lambda st, url: FakeAgent(log, st, url),
    )
    host.start()
    assert [(s.name, s.state) for s in host.steps] == [
        ("local API", "started"),
        ("announcement", "skipped"),
        ("sync agent", "started"),
        ("site services", "skipped"),  # scheduled backups are off in these settings
    ]
    assert host.sync_status()["state"] == "online"
    url = host.server.url
    assert httpx.get(f"{url}/api/health").status_code == 200
    host.announcer = FakeAnnouncer(log)  # stands in for zeroconf: only the order matters
    host.stop(dispose=False)
    assert log == ["agent start", "unannounce", "agent stop"]
    stops = [s.name for s in host.steps if s.state == "stopped"]
    assert stops == ["announcement", "sync agent", "live broadcaster", "local API", "API context"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/health", timeout=2)


def test_a_missing_or_failing_service_does_not_stop_the_others(
    store: Any, site: Any, settings: Settings
) -> None:
    def broken(st: Any, url: str) -> Any:
        raise RuntimeError("central unreachable")

    set_state(store, "central_url", "https://central.invalid")
    host = SiteHost(settings, store, site, port=0, announce=False, agent_factory=broken)
    host.start()
    assert host.state("local API") == "started" and host.state("sync agent") == "failed"
    host.stop(dispose=False)


@pytest.mark.slow
def test_the_app_serves_the_lan_while_open_and_stops_on_quit(
    settings: Settings, qtbot: Any, tmp_path: Path
) -> None:
    from desktop.app import start
    from desktop.demo import seed

    running = start(settings, interactive=False, port=0, announce=False)
    assert running is not None
    qtbot.addWidget(running.window)
    running.host.wait_started()
    url = running.host.server.url
    assert httpx.get(f"{url}/api/health").status_code == 200
    session = running.session
    seed(session.store, session.site, session.actor)
    # An office user with a password logs in from a LAN browser and adds a stock item.
    from core import writes

    with session.write() as s:
        writes.update(
            s,
            actor=session.actor,
            entity="users",
            id=session.actor.user_id,
            data={"email": "office@example.com", "password": "correct horse"},
        )
    page = running.window.open("inventory")
    before = page.model.total
    with httpx.Client(base_url=url, timeout=10) as client:
        token = client.post(
            "/api/auth/login", json={"email": "office@example.com", "password": "correct horse"}
        ).json()
        reply = client.post(
            "/api/inventory",
            json={"sku": "LAN-1", "name": "Desde el navegador", "quantity": "3"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert reply.status_code in (200, 201), reply.text
    qtbot.waitUntil(lambda: page.model.total == before + 1, timeout=5000)
    assert "LAN-1" in {page.model.row_values(r)["sku"] for r in range(page.model.rowCount())}
    # A tablet's progress report (written on the server's event loop) reaches the office's
    # jobs table, as a write from a writer thread did.
    with session.write() as s:
        machine = writes.create(s, actor=session.actor, entity="machines",
                                data={"name": "C-9", "type": "CONFORMADORA"})  # fmt: skip
        job = writes.create(s, actor=session.actor, entity="jobs",
                            data={"title": "Desde la tableta", "machine_id": machine.id,
                                  "quantity": "100"})  # fmt: skip
    jobs = running.window.open("jobs")

    def produced() -> str | None:
        for r in range(jobs.all.model.rowCount()):
            row = jobs.all.model.row_values(r)
            if row.get("title") == "Desde la tableta":
                return str(row.get("produced_qty"))
        return None

    with httpx.Client(base_url=url, timeout=10) as client:
        h = {"Authorization": f"Bearer {token['access_token']}"}
        assert client.post(f"/api/jobs/{job.id}/start", headers=h).status_code == 200
        r = client.post(f"/api/jobs/{job.id}/progress", json={"produced": "7"}, headers=h)
        assert r.status_code == 200, r.text
    qtbot.waitUntil(lambda: (produced() or "").startswith("7"), timeout=5000)
    tablets = running.window.open("tablets")
    assert tablets.address.text().startswith("http://") and not tablets.qr.pixmap().isNull()
    # Pairing from the desktop: a one-time code the tablet exchanges for its key, and
    # then proves at login (issue 20).
    qtbot.mouseClick(tablets.pair_button, Qt.MouseButton.LeftButton)
    code = tablets.code
    assert code and code[:5] in tablets.code_label.text()
    with httpx.Client(base_url=url, timeout=10) as client:
        cred = client.post("/api/devices/pair", json={"code": code}).json()
        headers = {"X-Device-Id": cred["device_id"], "X-Device-Key": cred["device_key"]}
        r = client.post(
            "/api/auth/login",
            json={"email": "office@example.com", "password": "correct horse"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
    running.window.close()
    running.shutdown()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/health", timeout=2)
    assert running.host is None


@pytest.mark.slow
def test_cli_offscreen_smoke(
    tmp_path: Path, qapp: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.cli import main

    monkeypatch.setenv("STRUCTURA_PORT", "0")
    monkeypatch.setenv("STRUCTURA_ANNOUNCE", "false")
    monkeypatch.setenv("STRUCTURA_HOST", "127.0.0.1")
    assert main(["--data-dir", str(tmp_path / "d"), "desktop", "--offscreen-smoke"]) == 0
    out = capsys.readouterr().out
    assert "/api/health -> 200" in out and "pages: " in out
    assert (tmp_path / "d" / "site.sqlite3").exists()


def test_the_real_sync_agent_starts_when_enrolled_and_reports_offline(
    store: Any, site: Any, settings: Settings, qtbot: Any
) -> None:
    pytest.importorskip("sync_agent.agent")
    from desktop.presenters.sync import SyncPresenter
    from desktop.session import Session, office_user

    # What enrolment leaves behind; the central server is not there (port 9: discard).
    set_state(store, "device", {"central_url": "http://127.0.0.1:9", "device_id": "dev-1",
                                "device_secret": "s3cret", "org_id": site.org_id,
                                "site_id": site.site_id})  # fmt: skip
    host = SiteHost(settings, store, site, port=0, announce=False)
    host.start()
    try:
        assert host.state("sync agent") == "started"
        sync = SyncPresenter(Session(store, site, office_user(store, site)), host.sync_status)
        qtbot.waitUntil(lambda: sync.status().state in ("offline", "error"), timeout=10_000)
        assert sync.status().last_error
    finally:
        host.stop(dispose=False)
    assert host.agent is None and host.state("sync agent") == "stopped"


def test_https_serves_the_site_certificate_and_pairs_with_its_fingerprint(
    store: Any, site: Any, tmp_path: Path
) -> None:
    import ssl

    from core import tls

    settings = Settings(data_dir=tmp_path / "data", port=0, announce=False, host="127.0.0.1",
                        https=True)  # fmt: skip
    host = SiteHost(settings, store, site, port=0, announce=False)
    host.start()
    try:
        cert = tls.ensure_site_cert(settings.data_dir)
        assert host.url is not None and host.url.startswith("https://127.0.0.1:")
        assert host.pairing_url == tls.pairing_url(host.url, cert.fingerprint)
        assert "#fp=" in host.pairing_url
        # A client that trusts exactly the site certificate gets through.
        context = ssl.create_default_context(cafile=str(cert.cert_path))
        context.check_hostname = False
        health = httpx.get(f"{host.server.url}/api/health", verify=context, timeout=5)
        assert health.status_code == 200
    finally:
        host.stop(dispose=False)
