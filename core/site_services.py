"""Services that run beside a site's API server (the sync agent, scheduled backups).

Each package offers its service through the ``structura.site_services`` entry-point
group: a factory ``(store, settings) -> service | None`` (None: not wanted here, e.g. a
site that is not enrolled). A service has ``start()`` and ``stop()``, and may have
``status() -> dict``. The headless site server and the desktop host start them after
the API is up and stop them before it goes down, without importing each other's
packages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from core.db import Store
from core.settings import Settings

log = logging.getLogger(__name__)
GROUP = "structura.site_services"


@dataclass
class Running:
    name: str
    service: Any


def start_services(
    store: Store, settings: Settings, *, skip: frozenset[str] = frozenset()
) -> list[Running]:
    """Start every service that wants to run on this store; one that fails to start is
    logged and left out (the site must still serve the shop floor). ``skip`` names
    services the caller runs itself (the desktop drives its own sync agent)."""
    running: list[Running] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in skip:
            continue
        try:
            service = ep.load()(store, settings)
            if service is None:
                log.info("site service %s: not wanted here", ep.name)
                continue
            service.start()
        except Exception:
            log.exception("site service %s failed to start", ep.name)
            continue
        log.info("site service %s: started", ep.name)
        running.append(Running(ep.name, service))
    return running


def stop_services(running: list[Running]) -> None:
    for item in reversed(running):
        try:
            item.service.stop()
            log.info("site service %s: stopped", item.name)
        except Exception:
            log.exception("site service %s failed to stop", item.name)


def status_of(running: list[Running], name: str) -> dict[str, Any] | None:
    for item in running:
        if item.name == name and hasattr(item.service, "status"):
            return dict(item.service.status())
    return None
