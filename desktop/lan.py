"""The address a tablet on the same network uses to reach this computer."""

from __future__ import annotations

import socket


def lan_ip() -> str:
    """The IP of the interface that routes outward; nothing is sent (UDP connect only
    picks a route). Falls back to loopback on a machine with no network."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(("10.255.255.255", 1))
        return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        sock.close()


def lan_url(host: str, port: int, path: str = "/") -> str:
    if host in ("0.0.0.0", "::", ""):
        host = lan_ip()
    return f"http://{host}:{port}{path}"
