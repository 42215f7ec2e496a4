"""The address a tablet on the same network uses to reach this computer."""

from __future__ import annotations


def lan_ip() -> str:
    """The first IPv4 address of a non-loopback interface (read from the interface list,
    nothing is sent). Falls back to loopback on a machine with no network."""
    import ipaddress

    import ifaddr  # installed with zeroconf, which lists interfaces the same way

    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                addr = ipaddress.IPv4Address(ip.ip)
                if not (addr.is_loopback or addr.is_link_local):
                    return ip.ip
    return "127.0.0.1"


def lan_url(host: str, port: int, path: str = "/") -> str:
    if host in ("0.0.0.0", "::", ""):
        host = lan_ip()
    return f"http://{host}:{port}{path}"
