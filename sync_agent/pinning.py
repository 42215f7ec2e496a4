"""Pinning the central server's certificate.

A site talks to one central server for years, often through hotel and venue networks
that intercept TLS. CA trust alone lets any CA-issued (or locally installed) certificate
speak for the central server; a pin does not. At enrolment the agent records the SHA-256
fingerprint of the certificate the central server presented (or one the admin gave with
the enrolment code); afterwards every connection must present exactly that certificate.

The check runs *inside the TLS handshake* (an ``SSLSocket``/``SSLObject`` subclass whose
``do_handshake`` compares the peer certificate), so an impostor is refused before the
agent sends a single byte of the request: the device secret never reaches it. Checking
the certificate on the response (``network_stream`` extension) would be too late.

With a pin, CA verification is off: a self-signed central certificate is the usual case
on small deployments, and the pin is stricter than any CA. Rotating the central
certificate means re-pinning (``pinned_client`` with the new fingerprint, or accepting
several during a rotation).

Use: ``httpx.Client(verify=pinned_context(fp))`` or ``pinned_client(fp)``;
``fetch_fingerprint(url)`` reads a server's fingerprint once (trust on first use at
enrolment, when the admin has not given one).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

PREFIX = "sha256:"


class PinMismatch(ssl.SSLCertVerificationError):
    """The server presented a certificate other than the pinned one. A subclass of
    ``ssl.SSLError``, so httpx reports it as ``httpx.ConnectError`` (the agent treats that
    as offline and retries: it never falls back to unpinned)."""


def normalise(value: str) -> str:
    text = value.strip().lower().removeprefix(PREFIX).replace(":", "")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("not a SHA-256 certificate fingerprint")
    return PREFIX + text


def fingerprint_der(der: bytes) -> str:
    return PREFIX + hashlib.sha256(der).hexdigest()


def _check(der: bytes | None, allowed: frozenset[str]) -> None:
    if der is None:
        raise PinMismatch("the server presented no certificate")
    got = fingerprint_der(der)
    if got not in allowed:
        raise PinMismatch(f"server certificate {got} is not the pinned one")


def pinned_context(fingerprints: str | Iterable[str]) -> ssl.SSLContext:
    """An SSL context that accepts only certificates with one of ``fingerprints``."""
    pins = [fingerprints] if isinstance(fingerprints, str) else list(fingerprints)
    allowed = frozenset(normalise(f) for f in pins)
    if not allowed:
        raise ValueError("no fingerprint to pin")

    class _Socket(ssl.SSLSocket):  # sync httpx (httpcore wraps a plain socket)
        def do_handshake(self, block: bool = False) -> None:
            super().do_handshake(block)
            _check(self.getpeercert(binary_form=True), allowed)

    class _Object(ssl.SSLObject):  # async httpx (anyio's memory-BIO TLS)
        def do_handshake(self) -> None:
            super().do_handshake()
            _check(self.getpeercert(binary_form=True), allowed)

    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # The pin replaces CA and host name checks (self-signed central certificates).
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.sslsocket_class = _Socket
    ctx.sslobject_class = _Object
    return ctx


def pinned_client(fingerprints: str | Iterable[str], **kwargs: Any) -> httpx.Client:
    """An httpx client for ``CentralClient(http=...)`` that only talks to the pinned
    server. Plain-HTTP URLs are refused too: a pin on a cleartext link means nothing."""
    kwargs.setdefault("timeout", httpx.Timeout(30.0, connect=5.0))
    client = httpx.Client(verify=pinned_context(fingerprints), **kwargs)

    def https_only(request: httpx.Request) -> None:
        if request.url.scheme != "https":
            raise httpx.UnsupportedProtocol("a pinned central server is reached over https only")

    client.event_hooks["request"].append(https_only)
    return client


def fetch_fingerprint(url: str, timeout: float = 10.0) -> str:
    """The fingerprint of the certificate the server at ``url`` presents (no trust
    decision: show it to the admin, or pin it at enrolment)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("an https URL is needed to read a certificate")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout) as sock,
        ctx.wrap_socket(sock, server_hostname=parts.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("no certificate presented")
    return fingerprint_der(der)
