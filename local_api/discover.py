"""Finding Structura servers on the LAN (the other half of ``local_api.announce``).

``discover()`` browses ``_structura._tcp.local.`` for a fixed time and returns what
answered. ``structura discover`` prints it; ``python -m local_api.discover`` does the
same without the rest of the command (handy for tests and for support on a site).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from local_api.announce import SERVICE_TYPE

log = logging.getLogger(__name__)

RESOLVE_MS = 1500


@dataclass(frozen=True)
class DiscoveredServer:
    name: str  # the instance name, e.g. "Plant 1"
    host: str  # the announced host name, e.g. "pc-structura-8470.local."
    addresses: list[str]
    port: int
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str | None:
        if not self.addresses:
            return None
        scheme = "https" if self.properties.get("https") == "1" else "http"
        host = self.addresses[0]
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}{self.properties.get('path', '/')}"


def _decode(props: dict[bytes, bytes | None]) -> dict[str, str]:
    return {
        k.decode(errors="replace"): (v or b"").decode(errors="replace") for k, v in props.items()
    }


def _to_server(info: Any) -> DiscoveredServer:
    return DiscoveredServer(
        name=info.name.removesuffix("." + SERVICE_TYPE),
        host=info.server or "",
        addresses=info.parsed_scoped_addresses(),
        port=info.port or 0,
        properties=_decode(info.properties),
    )


def discover(
    timeout: float = 3.0, interfaces: Sequence[str] | None = None
) -> list[DiscoveredServer]:
    """Browse for ``timeout`` seconds; servers withdrawn meanwhile are left out."""
    from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

    if interfaces:
        zc = Zeroconf(interfaces=list(interfaces))
    else:
        zc = Zeroconf(interfaces=InterfaceChoice.All, ip_version=IPVersion.V4Only)
    found: dict[str, DiscoveredServer] = {}
    lock = threading.Lock()

    # Handlers run in the browser's thread, where a blocking resolve is allowed; each
    # server is resolved as soon as it is seen, so none waits for the end of the browse.
    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            with lock:
                found.pop(name, None)
            return
        info = zeroconf.get_service_info(service_type, name, timeout=RESOLVE_MS)
        if info is None or not info.port:
            log.debug("no answer resolving %s", name)
            return
        with lock:
            found[name] = _to_server(info)

    browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
    try:
        time.sleep(timeout)
    finally:
        browser.cancel()
        zc.close()
    with lock:
        return sorted(found.values(), key=lambda s: (s.name, s.port))


def _print(servers: list[DiscoveredServer], as_json: bool) -> None:
    if as_json:
        print(json.dumps([{**asdict(s), "url": s.url} for s in servers], indent=2))
        return
    if not servers:
        print("no Structura servers found")
        return
    for s in servers:
        p = s.properties
        print(f"{s.name}  {s.url}")
        print(f"    org {p.get('org', '?')}, site id {p.get('site_id', '?')}, "
              f"modules {p.get('modules', '')}, api {p.get('api', '?')}")  # fmt: skip


def _run(args: argparse.Namespace, _settings: Any = None) -> int:
    servers = discover(timeout=args.timeout, interfaces=args.interface)
    _print(servers, args.json)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to listen (default 3)")
    parser.add_argument(
        "--interface",
        action="append",
        metavar="IP",
        help="browse only on the interface with this address (repeatable; default all)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def register(sub: Any) -> None:
    """Add ``structura discover`` (wired into ``local_api.cli.register``)."""
    parser = sub.add_parser("discover", help="list the Structura servers on the LAN")
    add_arguments(parser)
    parser.set_defaults(func=_run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_api.discover")
    add_arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
