"""Announcing the site's API on the LAN over zeroconf (``_structura._tcp.local.``).

One owner object (architecture example 6): ``Announcer.start()`` registers the service,
``stop()`` withdraws it (goodbye packets) and closes zeroconf's sockets and thread.

Order matters (architecture example 5): start the HTTP server first and announce only
once it accepts connections — a browser that finds us must be able to connect — and on
quit unannounce before stopping the server, so nobody is sent to a port that is going
away. Starting takes a second or two (mDNS probes for name conflicts first); a name that
is taken gets a suffix (``allow_name_change``) rather than failing.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any

SERVICE_TYPE = "_structura._tcp.local."
API_VERSION = "1"
TXT_MAX = 255  # bytes of one "key=value" TXT string (RFC 6763 section 6.1)
LABEL_MAX = 63  # bytes of one DNS label: the instance name

log = logging.getLogger(__name__)


def site_properties(
    site: Any,
    *,
    https: bool = False,
    fingerprint: str | None = None,
    path: str = "/",
) -> dict[str, str]:
    """The TXT records for a site (``core.site.SiteInfo``)."""
    props = {
        "api": API_VERSION,
        "site_id": site.site_id,
        "site": site.site_name,
        "org": site.org_name,
        "modules": ",".join(site.modules),
        "https": "1" if https else "0",
        "path": path,
    }
    if fingerprint:
        props["fp"] = fingerprint
    return props


def _fit(key: str, value: str) -> bytes:
    """A TXT value that fits its record, cut on a character boundary if too long
    (a long site name must not stop the announcement)."""
    room = TXT_MAX - len(key.encode()) - 1
    data = value.encode()
    if len(data) <= room:
        return data
    if key == "fp":  # a cut fingerprint would be wrong, not just short
        raise ValueError("fingerprint too long for a TXT record")
    return data[:room].decode(errors="ignore").encode()


def _instance_name(name: str) -> str:
    # Dots would split the label; control characters are not allowed.
    clean = re.sub(r"[\x00-\x1f.]+", " ", name).strip() or "Structura"
    return clean.encode()[:LABEL_MAX].decode(errors="ignore").strip()


def _host_label(port: int) -> str:
    # Not the machine's own hostname: the OS responder (avahi, Bonjour) owns
    # <hostname>.local. and would see our address records as a conflict.
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-") or "host"
    return f"{host[:40]}-structura-{port}"


def interface_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, loopback excluded (what the LAN can
    reach when we are bound to all interfaces)."""
    import ifaddr  # a dependency of zeroconf

    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                addr = ipaddress.IPv4Address(ip.ip)
                if not addr.is_loopback and not addr.is_link_local and ip.ip not in found:
                    found.append(ip.ip)
    return found


class Announcer:
    """Announces one HTTP server; ``start()`` only once the server is up."""

    def __init__(
        self,
        name: str,
        port: int,
        properties: Mapping[str, str],
        interfaces: Sequence[str] | None = None,
    ) -> None:
        self.requested_name = _instance_name(name)
        self.port = port
        self.properties = {"api": API_VERSION, "https": "0", "path": "/", **properties}
        self.interfaces = list(interfaces) if interfaces is not None else None
        self._lock = threading.Lock()
        self._zc: Any = None
        self._info: Any = None

    @property
    def running(self) -> bool:
        return self._info is not None

    @property
    def name(self) -> str | None:
        """The instance name on the network (it may carry a suffix after a clash)."""
        if self._info is None:
            return None
        return self._info.name.removesuffix("." + SERVICE_TYPE)

    def addresses(self) -> list[str]:
        if self.interfaces is not None:
            return [a for a in self.interfaces if _is_ip(a)]
        return interface_addresses()

    def _service_info(self) -> Any:
        from zeroconf import ServiceInfo

        addresses = self.addresses()
        if not addresses:
            raise RuntimeError("no interface address to announce")
        return ServiceInfo(
            SERVICE_TYPE,
            f"{self.requested_name}.{SERVICE_TYPE}",
            parsed_addresses=addresses,
            port=self.port,
            properties={k: _fit(k, str(v)) for k, v in self.properties.items()},
            server=f"{_host_label(self.port)}.local.",
        )

    def start(self) -> None:
        """Register the service (blocks for the probe, ~2 s). Idempotent."""
        from zeroconf import InterfaceChoice, IPVersion, Zeroconf

        with self._lock:
            if self._info is not None:
                return
            info = self._service_info()
            if self.interfaces is None:
                zc = Zeroconf(interfaces=InterfaceChoice.All, ip_version=IPVersion.V4Only)
            else:
                zc = Zeroconf(interfaces=self.interfaces)
            log.info(
                "announcing %r on %s port %d",
                self.requested_name,
                ", ".join(info.parsed_addresses()),
                self.port,
            )
            try:
                zc.register_service(info, allow_name_change=True)
            except BaseException:
                zc.close()
                raise
            self._zc, self._info = zc, info
            log.info("announced as %r", self.name)

    def stop(self) -> None:
        """Withdraw the announcement and close zeroconf. Idempotent; never raises for a
        network that has gone away (quitting must go on)."""
        with self._lock:
            zc, info = self._zc, self._info
            self._zc = self._info = None
            if zc is None:
                return
            log.info("withdrawing announcement %r", info.name)
            try:
                zc.unregister_service(info)
            except Exception:
                log.warning("could not send the goodbye for %r", info.name, exc_info=True)
            finally:
                zc.close()
            log.info("announcement withdrawn")

    def __enter__(self) -> Announcer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
