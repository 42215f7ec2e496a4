"""HTTPS on the LAN (an option) and the agent's pin of the central certificate."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from bench.harness.sites import SiteData, SiteProcess, bearer
from core import tls
from core.sync import wire
from local_api.announce import site_properties
from local_api.server import EmbeddedServer
from sync_agent import pinning
from sync_agent.client import CentralClient, Offline


def test_site_certificate_is_made_once_owner_only(tmp_path: Path) -> None:
    first = tls.ensure_site_cert(tmp_path, "Plant Norte")
    for p in (first.cert_path, first.key_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert first.fingerprint.startswith("sha256:") and len(first.fingerprint) == 7 + 64
    # The same certificate on every later start: paired devices keep trusting it.
    again = tls.ensure_site_cert(tmp_path, "Plant Norte")
    assert again.fingerprint == first.fingerprint
    # A half-made pair (killed between the two writes) is replaced whole.
    first.cert_path.unlink()
    assert tls.ensure_site_cert(tmp_path).fingerprint != first.fingerprint


def test_fingerprint_in_pairing_url_and_announcement(tmp_path: Path) -> None:
    cert = tls.ensure_site_cert(tmp_path)
    url = tls.pairing_url("https://192.168.1.20:8470/", cert.fingerprint)
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.path == "/"
    # In the fragment: browsers never send it to the server, a phone can read it.
    assert parse_qs(parts.fragment)["fp"] == [cert.fingerprint]
    assert tls.pairing_url("http://10.0.0.5:8470/", None) == "http://10.0.0.5:8470/"

    class Site:
        site_id, site_name, org_name, modules = "s1", "Plant", "Acme", ("factory",)

    props = site_properties(Site(), https=True, fingerprint=cert.fingerprint)
    assert props["https"] == "1" and props["fp"] == cert.fingerprint


def test_https_by_default_plain_http_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import Settings

    monkeypatch.delenv("STRUCTURA_HTTPS", raising=False)
    assert tls.https_wanted(Settings())
    assert not tls.https_wanted(Settings(), plain=True)  # --http
    monkeypatch.setenv("STRUCTURA_HTTPS", "0")
    assert not tls.https_wanted(Settings()) and tls.https_wanted(Settings(), True)


@pytest.mark.slow
def test_site_serve_https_presents_the_certificate_it_announces(site_data: SiteData) -> None:
    site_data.extra_env["STRUCTURA_HTTPS"] = "1"
    with SiteProcess(site_data) as proc:
        assert proc.url.startswith("https://127.0.0.1:")
        cert = tls.ensure_site_cert(site_data.data_dir)
        assert proc.fingerprint == cert.fingerprint
        # A client that pins the fingerprint (from the QR code) gets in...
        with pinning.pinned_client(cert.fingerprint) as http:
            r = http.get(proc.url + "/api/auth/me", headers=bearer(site_data.mint()))
            assert r.status_code == 200, r.text
        # ...plain HTTP to the TLS port does not, nor does a client with another pin.
        with pytest.raises(httpx.HTTPError):
            httpx.get(proc.url.replace("https", "http") + "/api/health", timeout=5)
        with pinning.pinned_client("ab" * 32) as http, pytest.raises(httpx.ConnectError):
            http.get(proc.url + "/api/health")


# ---------------------------------------------------------------- pinning the central


class _Recorder:
    """An HTTPS server that records the requests that reach it."""

    def __init__(self, cert: tls.SiteCert) -> None:
        self.seen: list[str] = []
        app = FastAPI()
        lock = threading.Lock()

        @app.post("/api/sync/token")
        def token(body: dict) -> dict:
            with lock:
                self.seen.append(str(body))
            return {"access_token": "t", "expires_in": 900}

        @app.get("/api/sync/pull")
        def pull() -> dict:
            return {"entries": [], "next": 0, "more": False}

        @app.post("/api/sync/enroll")
        def enroll(body: dict) -> dict:
            with lock:
                self.seen.append(str(body))
            return {
                "device_id": "dev-1", "device_secret": "s" * 40,
                "org": {"id": "org-1", "name": "Gira", "modules": ["tour"],
                        "home_currency": "EUR"},
                "site": {"id": "site-1", "name": "Portátil"},
            }  # fmt: skip

        self.server = EmbeddedServer(app, **tls.uvicorn_ssl(cert))


@pytest.fixture
def two_centrals(tmp_path: Path) -> Iterator[tuple[str, str, str, _Recorder]]:
    """The real central (cert A) and an impostor on 127.0.0.1 (cert B)."""
    a = tls.ensure_site_cert(tmp_path / "a", "central")
    b = tls.ensure_site_cert(tmp_path / "b", "central")
    real, impostor = _Recorder(a), _Recorder(b)
    with real.server, impostor.server:
        yield real.server.url, impostor.server.url, a.fingerprint, impostor


def test_agent_talks_to_the_pinned_central(two_centrals: tuple[str, str, str, _Recorder]) -> None:
    real_url, _, fp, _ = two_centrals
    assert pinning.fetch_fingerprint(real_url) == fp
    client = CentralClient(real_url, device_id="d", device_secret="s" * 32,
                           http=pinning.pinned_client(fp))  # fmt: skip
    try:
        assert client.pull(0) == wire.PullAnswer(entries=[], next=0, more=False)
    finally:
        client.http.close()


def test_agent_refuses_another_certificate_before_sending_anything(
    two_centrals: tuple[str, str, str, _Recorder],
) -> None:
    _, impostor_url, fp, impostor = two_centrals
    secret = "device-secret-" + "x" * 24
    client = CentralClient(impostor_url, device_id="d", device_secret=secret,
                           http=pinning.pinned_client(fp))  # fmt: skip
    try:
        with pytest.raises(Offline, match="not the pinned one"):
            client.pull(0)
    finally:
        client.http.close()
    # The handshake failed, so the device secret never reached the impostor.
    assert impostor.seen == []
    # The pin also refuses a plain-HTTP URL (a pin over cleartext would mean nothing).
    with pinning.pinned_client(fp) as http, pytest.raises(httpx.UnsupportedProtocol):
        http.get(impostor_url.replace("https", "http"))


def test_fingerprint_forms_are_normalised() -> None:
    fp = "sha256:" + "ab" * 32
    assert pinning.normalise("AB:" * 31 + "AB") == fp
    assert tls.normalise_fingerprint(fp.upper().replace("SHA256:", "")) == fp
    with pytest.raises(ValueError):
        pinning.normalise("sha256:1234")


def test_enrolment_pins_the_central_certificate_for_the_agent(
    two_centrals: tuple[str, str, str, _Recorder], tmp_path: Path
) -> None:
    from core.db import sqlite_url
    from core.site import get_state, open_store
    from sync_agent.agent import IDENTITY_KEY, SyncAgent, enroll_site

    real_url, impostor_url, fp, impostor = two_centrals
    store = open_store(sqlite_url(tmp_path / "site.sqlite3"))
    try:
        # An admin-given fingerprint that is not the server's: refused before the code
        # is sent anywhere.
        with pytest.raises(Offline):
            enroll_site(store, impostor_url, "CODE-1", fingerprint=fp)
        assert impostor.seen == []
        # Trust on first use: the certificate presented now is pinned from here on.
        enroll_site(store, real_url, "CODE-2")
        identity = get_state(store, IDENTITY_KEY)
        assert identity["central_fp"] == pinning.normalise(fp)
        agent = SyncAgent(store)
        try:
            assert agent.client.pull(0).entries == []
        finally:
            agent.client.http.close()
        moved = SyncAgent(store, central_url=impostor_url)  # e.g. DNS now points elsewhere
        try:
            with pytest.raises(Offline, match="not the pinned one"):
                moved.client.pull(0)
        finally:
            moved.client.http.close()
    finally:
        store.dispose()
