"""Warm the app up before the site is announced.

The first request that walks the app's routers makes FastAPI build their route
contexts (the pydantic schemas of every included route), and the first page compiles
its template: on a freshly started server the first page a tablet opened took 0.5-1.8 s
where the next took 10 ms. A few requests made in process (through ASGI, not the
network: no TLS, no port) before the announcement take that off the first person.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

log = logging.getLogger(__name__)

# The shell and login pages, and API routes of each router a tablet uses first
# (answered 401 without a token, after routing has walked them).
PATHS = ("/app/", "/app/login", "/api/health", "/api/board", "/api/me/jobs", "/api/auth/me")


def served_url(url: str) -> str:
    """The URL to warm up through: the served one, with loopback for "every address"
    (the host allowlist knows the machine's own names, not ``0.0.0.0``)."""
    for every in ("//0.0.0.0:", "//[::]:"):
        url = url.replace(every, "//127.0.0.1:")
    return url


def warm_up(app: Any, base_url: str, paths: tuple[str, ...] = PATHS) -> dict[str, int]:
    """Request ``paths`` from ``app`` in process; returns each one's status. A failure
    is logged, never raised: warming up is an optimisation."""
    started = time.perf_counter()
    answers: dict[str, int] = {}

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        # The served URL as base: the host allowlist sees the name it expects.
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            for path in paths:
                answers[path] = (await client.get(path)).status_code

    try:
        asyncio.run(run())
    except Exception:  # an optimisation: never stops the server from serving
        log.warning("warming the app up failed", exc_info=True)
    log.info("app warmed up in %.0f ms: %s", (time.perf_counter() - started) * 1000, answers)
    return answers
