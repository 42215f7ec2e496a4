"""The HTTP hardening around every route, as plain ASGI middleware (no per-request
task or body buffering, which ``BaseHTTPMiddleware`` would add):

- ``RequestContext``: request id (``X-Request-ID``, echoed or made), security headers,
  ``Cache-Control: no-store`` on the API, and the catch-all 500 that logs the exception
  with the request id and leaks nothing;
- ``HostAllowlist``: the Host header must be one we serve (DNS rebinding: a hostile page
  in a LAN browser must not reach the API through a name it controls);
- ``BodyLimit``: refuses bodies over ``max_body_bytes`` with 413 *before* anything parses
  them — by Content-Length at once, and by counting for chunked bodies;
- ``JsonOnly``: request bodies to the API must be JSON (415 otherwise).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any, TypedDict

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apikit.problems import problem_response
from core.fields import ID_PATTERN

log = logging.getLogger("structura.errors")

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# Swagger UI loads its script and styles from a CDN and bootstraps with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
# blob: images and frames: attachments are fetched with the login (a bearer token an
# <img src> cannot send) and shown from the page's own Blob URLs (a photo, a PDF drawing).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; frame-src 'self' blob:; "
    "object-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# Paths answered as an API (JSON only, no caching): the native API and the old browser
# apps' compatibility APIs.
API_PREFIXES = ("/api/", "/compat/")


class BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body reader re-raises it as is (it turns any
    other error while reading into a 400)."""

    def __init__(self) -> None:
        super().__init__(413, "request body too large")


def _set_defaults(headers: list[tuple[bytes, bytes]], defaults: list[tuple[bytes, bytes]]) -> None:
    """Append each (name, value) whose header the response does not set itself."""
    present = {k.lower() for k, _ in headers}
    headers.extend((k, v) for k, v in defaults if k not in present)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if ID_PATTERN.match(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        path: str = scope.get("path", "")
        is_api = path.startswith(API_PREFIXES)
        csp = DOCS_CSP if path in ("/docs", "/redoc") else API_CSP if is_api else PAGE_CSP
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                defaults = [
                    (b"x-request-id", rid.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", csp.encode()),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if is_api or path == "/openapi.json":
                    defaults.append((b"cache-control", b"no-store"))
                _set_defaults(headers, defaults)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BodyTooLarge:
            if not started:
                await problem_response(scope, 413, "request body too large")(
                    scope, receive, send_wrapper
                )
        except Exception:
            log.exception("unhandled error (request id %s, %s %s)", rid, scope.get("method"), path)
            if not started:
                resp = problem_response(
                    scope, 500, f"internal error; quote request id {rid} when reporting it"
                )
                await resp(scope, receive, send_wrapper)
            # If the response already started there is nothing honest left to send.


class HostAllowlist:
    """Like Starlette's TrustedHostMiddleware, but answering with a problem document."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.any = "*" in allowed
        self.exact = {h.lower() for h in allowed if not h.startswith("*.")}
        self.suffixes = tuple(h[1:].lower() for h in allowed if h.startswith("*."))

    def ok(self, host: str) -> bool:
        if self.any:
            return True
        host = host.lower()
        # Strip the port, minding IPv6 literals ("[::1]:8470").
        if host.startswith("["):
            name = host[: host.find("]") + 1] if "]" in host else host
        else:
            name = host.split(":", 1)[0]
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.ok(
            Headers(scope=scope).get("host", "")
        ):
            if scope["type"] == "http":
                await problem_response(scope, 400, "host not allowed", code="host_not_allowed")(
                    scope, receive, send
                )
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, large: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.app = app
        self.default_max = max_bytes
        # (method, path or path prefix ending in "/") -> that route's own ceiling: the
        # routes that stream files (attachments, blob sync) check their precise limit
        # themselves while streaming.
        self.large = dict(large or {})

    def limit_for(self, scope: Scope) -> int:
        return large_limit(self.large, scope) or self.default_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self_max = self.limit_for(scope)
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            try:
                too_big = int(length) > self_max
            except ValueError:
                await problem_response(scope, 400, "bad Content-Length")(scope, receive, send)
                return
            if too_big:
                await problem_response(scope, 413, f"request body over {self_max} bytes")(
                    scope, receive, send
                )
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self_max:
                    # Raised into whoever is reading the body (the route's parser);
                    # RequestContext turns it into a 413.
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited, send)


_JSON_CT = re.compile(r"^application/([a-z0-9.+-]*\+)?json\s*(;.*)?$", re.IGNORECASE)


def large_limit(large: Mapping[tuple[str, str], int], scope: Scope) -> int | None:
    method, path = scope.get("method", ""), scope.get("path", "")
    for (m, p), limit in large.items():
        if m == method and (path == p or (p.endswith("/") and path.startswith(p))):
            return limit
    return None


class JsonOnly:
    def __init__(self, app: ASGIApp, large: Mapping[tuple[str, str], int] | None = None) -> None:
        self.app = app
        self.large = dict(large or {})  # streamed bodies: the route checks their type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") in ("POST", "PUT", "PATCH")
            and scope.get("path", "").startswith(API_PREFIXES)
            and large_limit(self.large, scope) is None
        ):
            headers = Headers(scope=scope)
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            ctype = headers.get("content-type", "")
            if has_body and not _JSON_CT.match(ctype):
                await problem_response(scope, 415, "request bodies must be application/json")(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


class Origin(TypedDict):
    ip_address: str | None
    user_agent: str | None


def request_origin(request: Request) -> Origin:
    """Where a change came from, for the audit log: the client's address and browser
    (``core.writes.Actor``'s ``ip_address`` and ``user_agent``)."""
    return {
        "ip_address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }


def install(
    app: Any,
    *,
    allowed_hosts: list[str],
    max_body_bytes: int,
    cors_origins: list[str],
    large_bodies: Mapping[tuple[str, str], int] | None = None,
) -> None:
    """Add the stack; the last added runs first (outermost). ``large_bodies``: routes
    that stream a file, (method, path) -> their body ceiling; they take any type."""
    from starlette.middleware.cors import CORSMiddleware

    app.add_middleware(JsonOnly, large=large_bodies)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, large=large_bodies)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o for o in cors_origins if o != "*"],
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "X-Device-Id",
                "X-Device-Key",
                "X-Request-ID",
                "Last-Event-ID",
            ],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(HostAllowlist, allowed=allowed_hosts)
    app.add_middleware(RequestContext)
