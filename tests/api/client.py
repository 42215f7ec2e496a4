"""A synchronous HTTP client for an ASGI app, without ``starlette.testclient`` (which is
deprecated with httpx and would trip ``filterwarnings = error``): httpx's async client
over ``ASGITransport``, driven from a blocking portal (an event loop in a thread), so
tests stay plain functions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal


class ASGIClient:
    def __init__(
        self, app: Any, portal: BlockingPortal, base_url: str = "http://127.0.0.1"
    ) -> None:
        self.app = app
        self.portal = portal
        self.base_url = base_url
        self.headers: dict[str, str] = {}
        self._client = portal.call(self._make)

    async def _make(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.base_url
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **(kwargs.pop("headers", None) or {})}
        return self.portal.call(
            lambda: self._client.request(method, url, headers=headers, **kwargs)
        )

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", url, **kw)

    def options(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kw)

    def close(self) -> None:
        self.portal.call(self._client.aclose)


@contextmanager
def asgi_client(app: Any, **kwargs: Any) -> Iterator[ASGIClient]:
    with start_blocking_portal() as portal:
        client = ASGIClient(app, portal, **kwargs)
        try:
            yield client
        finally:
            client.close()
