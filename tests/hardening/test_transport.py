"""Issue 20 (6): transport defaults. HTTPS by default with the site's own certificate
naming its LAN addresses and host name (so a browser that pinned the fingerprint
accepts it by IP), and a Host allowlist derived from the site's own names, refusing
a cross-host Host header (DNS rebinding) unless the operator configures otherwise.
Real ``structura site serve`` processes without the tests' plain-HTTP opt-out."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest

from bench.harness.sites import SiteData, SiteProcess
from core import tls


def _defaults(data: SiteData) -> dict[str, str]:
    env = data.env()
    for k in ("STRUCTURA_HTTPS", "STRUCTURA_ALLOWED_HOSTS"):
        env.pop(k, None)
    return env


def _lan_ip() -> str | None:
    import ipaddress

    for name in tls.local_names():
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            continue
        if ip.version == 4 and not ip.is_loopback:
            return name
    return None


@pytest.mark.slow  # its own site serve; the certificate pinning test stays fast
def test_the_site_serves_https_by_default_and_refuses_foreign_hosts(site_data: SiteData) -> None:
    proc = SiteProcess(site_data, env=_defaults(site_data)).start()
    try:
        assert proc.url.startswith("https://"), proc.url
        cert = tls.ensure_site_cert(site_data.data_dir)
        assert proc.fingerprint == cert.fingerprint
        ctx = ssl.create_default_context(cafile=str(cert.cert_path))  # the pinned cert
        with httpx.Client(verify=ctx, timeout=10) as http:
            ok = http.get(proc.url + "/api/health")
            assert ok.status_code == 200
            # DNS rebinding: a page on evil.example resolving to this site's address.
            evil = http.get(proc.url + "/api/health", headers={"Host": "evil.example"})
            assert evil.status_code == 400 and evil.json()["code"] == "host_not_allowed"
            port = proc.url.rsplit(":", 1)[1].rstrip("/")
            host = socket.gethostname().lower()
            own = http.get(proc.url + "/api/health", headers={"Host": f"{host}:{port}"})
            assert own.status_code == 200
    finally:
        proc.stop()


def test_a_lan_browser_accepts_the_certificate_by_ip_once_pinned(
    site_data: SiteData, tmp_path: Path
) -> None:
    """What a tablet's browser does after scanning the QR code: trust exactly this
    certificate (its fingerprint) and verify the name it connects by — the LAN IP."""
    ip = _lan_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    env = _defaults(site_data)
    proc = SiteProcess(site_data, env=env, args=["--host", "0.0.0.0"]).start()
    try:
        cert = tls.ensure_site_cert(site_data.data_dir)
        port = proc.url.rsplit(":", 1)[1].rstrip("/")
        ctx = ssl.create_default_context(cafile=str(cert.cert_path))
        assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
        with httpx.Client(verify=ctx, timeout=10) as http:
            r = http.get(f"https://{ip}:{port}/api/health")
            assert r.status_code == 200, r.text
        # The host name as well (mDNS .local form included in the certificate).
        assert f"{socket.gethostname().lower()}" in tls.local_names()
    finally:
        proc.stop()


@pytest.mark.slow  # its own site serve; the certificate pinning test stays fast
def test_plain_http_only_when_asked(site_data: SiteData) -> None:
    env = _defaults(site_data)
    proc = SiteProcess(site_data, env=env, args=["--http"]).start()
    try:
        assert proc.url.startswith("http://")
        assert httpx.get(proc.url + "/api/health", timeout=10).status_code == 200
    finally:
        proc.stop()


def test_an_old_certificate_without_the_lan_address_is_replaced(tmp_path: Path) -> None:
    old = tls.ensure_site_cert(tmp_path, hosts=["localhost", "127.0.0.1"])
    new = tls.ensure_site_cert(tmp_path, hosts=["localhost", "127.0.0.1", "192.0.2.77"])
    assert new.fingerprint != old.fingerprint
    assert tls.ensure_site_cert(tmp_path, hosts=["192.0.2.77"]).fingerprint == new.fingerprint
