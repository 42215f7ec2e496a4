"""The site's own TLS certificate, for HTTPS on the LAN (an option: ``structura site
serve --https`` or ``STRUCTURA_HTTPS=1``).

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


def ensure_site_cert(data_dir: Path, common_name: str = "Structura site") -> SiteCert:
    """The site's certificate, made on first run (key + cert 0600 in ``data_dir``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        # A half-made pair (killed between the two writes) is replaced whole.
        for p in (cert_path, key_path):
            p.unlink(missing_ok=True)
        hosts = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
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


def https_wanted(settings: Any, flag: bool = False) -> bool:
    """``--https`` or the ``https`` setting (``STRUCTURA_HTTPS=1``)."""
    return flag or bool(getattr(settings, "https", False))


def uvicorn_ssl(cert: SiteCert) -> dict[str, str]:
    """Keyword arguments for ``EmbeddedServer``/``uvicorn.Config``."""
    return {"ssl_certfile": str(cert.cert_path), "ssl_keyfile": str(cert.key_path)}


def pairing_url(site_url: str, fingerprint: str | None) -> str:
    """What the pairing QR code encodes: the site's URL with the certificate
    fingerprint in the fragment (never sent to the server, readable by the page/app
    that pins it). Plain HTTP sites pair without one."""
    if not fingerprint:
        return site_url
    base = site_url.split("#", 1)[0]
    return f"{base}#{urlencode({'fp': normalise_fingerprint(fingerprint)})}"
