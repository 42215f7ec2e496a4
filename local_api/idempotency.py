"""``Idempotency-Key`` on the site's writes: the same operation id twice gets the first
answer again instead of a second write (``core.web.ops`` keeps the answers).

A pure ASGI middleware, so it sees the finished answer of any write route (actions,
creates, updates) without each route knowing about it. Requests without the header,
reads, and requests whose login does not check out pass straight through (the route
answers those as it always does, and nothing is stored).

The route runs inside ``web_ops.running``, so its write transaction marks the claim
applied in the same commit (exactly once across a crash; see ``core.web.ops``). A
duplicate that arrives while the first is still running waits for the first answer
(up to ``DUPLICATE_WAIT``) instead of being told to retry at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apikit.problems import domain_problem, render
from core.errors import DomainError
from core.web import ops as web_ops

HEADER = b"idempotency-key"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Answers not worth keeping: the client should try the same id again later.
RETRYABLE = {401, 408, 423, 429, 503, 507}
# How long a duplicate waits for the first request's answer before a 409 + Retry-After.
DUPLICATE_WAIT = 5.0


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITES
            or not scope["path"].startswith("/api/")
            or scope["path"].startswith("/api/auth/")
        ):
            await self.app(scope, receive, send)
            return
        op_id = _header(scope, HEADER)
        authz = _header(scope, b"authorization") or ""
        if op_id is None or not authz.lower().startswith("bearer "):
            await self.app(scope, receive, send)
            return
        context = scope["app"].state.context
        try:
            claims = await run_in_threadpool(context.authenticate, authz[7:].strip())
        except DomainError:
            await self.app(scope, receive, send)  # the route answers 401 as usual
            return
        who = {"org_id": claims.org_id, "user_id": claims.user_id, "op_id": op_id}
        store = context.store
        deadline = time.monotonic() + DUPLICATE_WAIT
        pause = 0.02
        while True:
            try:
                stored = await run_in_threadpool(
                    lambda: web_ops.claim(store, **who, method=scope["method"], path=scope["path"])
                )
                break
            except web_ops.OpRunning as exc:
                if time.monotonic() + pause > deadline:
                    await _send_problem(send, exc, scope["path"])
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.25)
            except DomainError as exc:
                await _send_problem(send, exc, scope["path"])
                return
        if stored is not None:
            await _send_stored(send, stored)
            return
        await self._run(scope, receive, send, store, who)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, store: Any, who: dict[str, str]
    ) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            with web_ops.running(**who):
                await self.app(scope, receive, capture)
        except BaseException:
            await run_in_threadpool(lambda: web_ops.release(store, **who))
            raise
        status = int(start.get("status", 500))
        if status >= 500 or status in RETRYABLE:
            await run_in_threadpool(lambda: web_ops.release(store, **who))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in start.get("headers", [])}  # fmt: skip
        answer = {
            "body": b"".join(chunks).decode("utf-8", "replace"),
            "type": headers.get("content-type", "application/json"),
            "etag": headers.get("etag"),
        }
        await run_in_threadpool(lambda: web_ops.finish(store, **who, status=status, answer=answer))


async def _send_stored(send: Send, stored: web_ops.Stored) -> None:
    body = str(stored.answer.get("body", "")).encode()
    headers = [
        (b"content-type", str(stored.answer.get("type") or "application/json").encode()),
        (b"content-length", str(len(body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    if stored.answer.get("etag"):
        headers.append((b"etag", str(stored.answer["etag"]).encode()))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_problem(send: Send, exc: DomainError, path: str) -> None:
    body = domain_problem(exc, path)
    raw = render(body)
    headers = [(b"content-type", b"application/problem+json"),
               (b"content-length", str(len(raw)).encode())]  # fmt: skip
    if exc.status == 409:
        headers.append((b"retry-after", b"2"))
    await send({"type": "http.response.start", "status": body["status"], "headers": headers})
    await send({"type": "http.response.body", "body": raw})


def install(app: Any) -> None:
    web_ops.install()
    app.add_middleware(IdempotencyMiddleware)


__all__ = ["IdempotencyMiddleware", "install"]
