"""The site's own TLS certificate, for HTTPS on the LAN (the default; plain HTTP only
when asked: ``structura site serve --http`` or ``STRUCTURA_HTTPS=0``).

There is no certificate authority on a factory floor or a tour bus, so the site makes a
self-signed certificate on first run and keeps key and certificate in the data directory
(owner-only). Browsers and phones cannot check it against a CA; they check its SHA-256
*fingerprint* instead, which reaches them by a channel an attacker on the LAN cannot
forge as easily: the pairing QR code shown on the office screen (``pairing_url``) and
the zeroconf TXT record ``fp`` (``local_api.announce.site_properties(site, https=True,
fingerprint=cert.fingerprint)``).

The fingerprint is of the certificate's DER bytes (what ``openssl x509 -fingerprint
-sha256`` prints), written ``sha256:<64 hex>``. The same format pins the central
server's certificate in the sync agent (``sync_agent.pinning``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

log = logging.getLogger(__name__)

CERT_FILE = "site-tls.crt"
KEY_FILE = "site-tls.key"
# Long: nobody renews a certificate on a shop-floor PC, and trust comes from the pinned
# fingerprint, not from expiry. A new key (delete both files) means re-pairing.
VALID_DAYS = 3650
PREFIX = "sha256:"


@dataclass(frozen=True)
class SiteCert:
    cert_path: Path
    key_path: Path
    fingerprint: str  # "sha256:<hex>"


def fingerprint_der(der: bytes) -> str:
    return PREFIX + hashlib.sha256(der).hexdigest()


def fingerprint_pem(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = x509.load_pem_x509_certificate(pem)
    return fingerprint_der(cert.public_bytes(Encoding.DER))


def normalise_fingerprint(value: str) -> str:
    """Accept ``sha256:ab..``, ``AB:CD:..`` (openssl's form) or bare hex."""
    text = value.strip().lower().removeprefix(PREFIX).replace(":", "")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("not a SHA-256 fingerprint")
    return PREFIX + text


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL + 0600 at creation: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def make_self_signed(
    common_name: str, hosts: list[str] | None = None, days: int = VALID_DAYS
) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM): an EC P-256 key, SANs for ``hosts``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "structura")])
    sans: list[x509.GeneralName] = []
    for h in hosts or ["localhost", "127.0.0.1", "::1"]:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))  # a site clock a day behind still works
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def local_names() -> list[str]:
    """The names and addresses this machine answers to on the LAN: loopback, the host
    name (plain, ``.local`` for mDNS, and the FQDN) and every interface address except
    IPv6 link-local ones (they need a zone id no URL carries). They are the site
    certificate's SANs and the default ``allowed_hosts``."""
    import ifaddr

    names = {"localhost", "127.0.0.1", "::1"}
    host = socket.gethostname().lower()
    if host:
        names |= {host, host.split(".")[0] + ".local"}
    fqdn = socket.getfqdn().lower()
    if fqdn and fqdn != "localhost":
        names.add(fqdn)
    try:
        adapters = ifaddr.get_adapters()
    except Exception as exc:  # a sandbox without netlink: loopback and names only
        log.warning("cannot list network interfaces (%s)", exc)
        adapters = []
    for adapter in adapters:
        for ip in adapter.ips:
            addr = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                parsed = ipaddress.ip_address(addr)
            except ValueError:
                continue
            if not parsed.is_link_local:
                names.add(str(parsed))
    return sorted(names)


def allowed_host_names(names: list[str]) -> list[str]:
    """``local_names`` as Host-header values: IPv6 literals also in brackets."""
    out = []
    for n in names:
        out.append(n)
        if ":" in n:
            out.append(f"[{n}]")
    return out


def _cert_names(cert_path: Path) -> set[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return ips | {v.lower() for v in san.get_values_for_type(x509.DNSName)}


def ensure_site_cert(
    data_dir: Path, common_name: str = "Structura site", hosts: list[str] | None = None
) -> SiteCert:
    """The site's certificate (key + cert 0600 in ``data_dir``), naming ``hosts``
    (default: ``local_names()``). Made on first run; made again, with a warning, when
    the machine has an address the certificate does not name (a browser reaching the
    site by that address would refuse it, pinned or not), which changes the
    fingerprint: tablets pair again from the new QR code."""
    from core.private import private_dir

    private_dir(data_dir)
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    hosts = hosts if hosts is not None else local_names()
    if cert_path.exists() and key_path.exists():
        try:
            missing = set(hosts) - _cert_names(cert_path)
        except Exception:  # unreadable or without SANs: make a proper one
            missing = {"?"}
        if missing:
            log.warning(
                "the site certificate does not name %s; making a new one (tablets must "
                "pair again: scan the new QR code)",
                ", ".join(sorted(missing)),
            )
            cert_path.unlink()
    if not (cert_path.exists() and key_path.exists()):
        # A half-made pair (killed between the two writes) is replaced whole.
        for p in (cert_path, key_path):
            p.unlink(missing_ok=True)
        cert_pem, key_pem = make_self_signed(common_name, hosts)
        _write_private(key_path, key_pem)
        _write_private(cert_path, cert_pem)
        log.info("created the site's TLS certificate in %s", data_dir)
    for p in (cert_path, key_path):
        if os.name == "posix" and p.stat().st_mode & 0o077:
            log.warning("%s is readable by others; fixing its mode", p)
            p.chmod(0o600)
    fp = fingerprint_pem(cert_path.read_bytes())
    return SiteCert(cert_path, key_path, fp)


def https_wanted(settings: Any, flag: bool = False, *, plain: bool = False) -> bool:
    """HTTPS unless plain HTTP is asked for (``--http`` or ``STRUCTURA_HTTPS=0``);
    ``--https`` forces it whatever the setting says."""
    if flag:
        return True
    if plain:
        return False
    return bool(getattr(settings, "https", True))


def uvicorn_ssl(cert: SiteCert) -> dict[str, str]:
    """Keyword arguments for ``EmbeddedServer``/``uvicorn.Config``."""
    return {"ssl_certfile": str(cert.cert_path), "ssl_keyfile": str(cert.key_path)}


def pairing_url(site_url: str, fingerprint: str | None, code: str | None = None) -> str:
    """What the pairing QR code encodes: the site's URL with the certificate
    fingerprint and, when pairing a device, its one-time code in the fragment (never
    sent to the server, readable by the page/app that pins it and pairs). Plain HTTP
    sites have no fingerprint."""
    base = site_url.split("#", 1)[0]
    parts = {}
    if fingerprint:
        parts["fp"] = normalise_fingerprint(fingerprint)
    if code:
        parts["code"] = code
    return f"{base}#{urlencode(parts)}" if parts else base


def plain_http_refused(url: str) -> str | None:
    """Why ``url`` may not be used as a central server over plain HTTP, or None. Only
    this machine (loopback) may be reached without TLS: anywhere else the enrolment
    code and the device secret would cross the network in clear."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https":
        return None
    if parts.scheme != "http":
        return "the central URL must start with https://"
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return f"use https:// for a central server that is not on this machine ({host})"
