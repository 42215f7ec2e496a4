"""HTTP caching and compression for pages, static files and API reads.

- A GET answered 200 under ``/api/`` or ``/app/`` gets an ETag (the route's own, such
  as a row version, or a digest of the body) and a matching ``If-None-Match`` is
  answered ``304 Not Modified`` with no body: a board that did not change costs a few
  bytes on a slow shop-floor link.
- Text is gzipped (Starlette's GZipMiddleware; it leaves the live event stream alone).
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Bodies above this are passed through unbuffered (exports, backups): no ETag for those.
MAX_BUFFER = 4 * 1024 * 1024
SKIP = ("/api/live", "/metrics")


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


class ConditionalGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not path.startswith(("/api/", "/app/"))
            or path.startswith(SKIP)
            # Attachment bytes carry their hash as ETag and answer If-None-Match and
            # Range themselves: never buffered here.
            or path.endswith("/content")
        ):
            await self.app(scope, receive, send)
            return
        inm = ""
        for key, value in scope.get("headers", ()):
            if key == b"if-none-match":
                inm = value.decode("latin-1")
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        size = 0
        passing = False

        async def capture(message: Message) -> None:
            nonlocal size, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start.update(message)
                if start["status"] != 200:
                    passing = True
                    await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BUFFER or (message.get("more_body") and size > MAX_BUFFER):
                passing = True
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(chunks),
                            "more_body": message.get("more_body", False)})  # fmt: skip
                return
            if message.get("more_body"):
                return
            await self._finish(start, b"".join(chunks), inm, send)

        await self.app(scope, receive, capture)

    @staticmethod
    async def _finish(start: dict[str, Any], body: bytes, inm: str, send: Send) -> None:
        headers = [(k, v) for k, v in start.get("headers", [])]
        etag = next((v.decode("latin-1") for k, v in headers if k.lower() == b"etag"), None)
        if etag is None:
            etag = 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
            headers.append((b"etag", etag.encode()))
        if inm and _matches(inm, etag):
            keep = {b"etag", b"cache-control", b"vary", b"content-location", b"expires"}
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(k, v) for k, v in headers if k.lower() in keep]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def install(app: Any) -> None:
    # Added first, so it sits inside the compression: ETags are of the plain body.
    app.add_middleware(ConditionalGet)
    app.add_middleware(GZipMiddleware, minimum_size=600, compresslevel=6)
