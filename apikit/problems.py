"""Every error as ``application/problem+json`` (RFC 9457), from one table.

Domain errors carry their own status and code (``core.errors``); framework errors
(routing, validation, HTTP exceptions) are mapped here; anything else is a 500 that is
logged with the request id and tells the client nothing but that id.
"""

from __future__ import annotations

import errno
import json
import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Scope

from core.errors import Conflict, DomainError, RateLimited, Unauthenticated
from core.queries import row_json

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TYPE_PREFIX = "urn:structura:problem:"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal_error",
    507: "storage_full",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus ``code`` (stable, machine-readable), ``errors``
    (per-field messages) and ``current`` (the stored row, on a version conflict)."""

    type: str = Field(description="URI naming the kind of problem (urn:structura:problem:<code>)")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str
    params: dict[str, Any] | None = Field(
        default=None, description="values for the code's message (a rule of the work)"
    )
    request_id: str | None = None
    errors: list[FieldError] | None = None
    current: dict[str, Any] | None = None
    retry_after: int | None = None


def render(body: dict[str, Any]) -> bytes:
    """A problem document as bytes, serialised once. ``default=str``: a problem body never
    fails to serialise (a validation error may echo a Decimal or bytes the client sent)."""
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def problem_body(
    scope: Mapping[str, Any] | None,
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: list[dict[str, str]] | None = None,
    current: dict[str, Any] | None = None,
    retry_after: float | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem document as a dict (a batch embeds it in its answer as it is)."""
    code = code or _HTTP_CODES.get(status, "error")
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else code,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if params:
        body["params"] = params
    if scope is not None:
        body["instance"] = scope.get("path")
        rid = scope.get("state", {}).get("request_id") if isinstance(scope, dict) else None
        if rid:
            body["request_id"] = rid
    if errors:
        body["errors"] = [
            {"field": str(e.get("field", "")), "message": str(e.get("message", ""))} for e in errors
        ]
    if current is not None:
        body["current"] = current
    if retry_after is not None:
        body["retry_after"] = max(1, math.ceil(retry_after))
    return body


def problem_response(
    request_or_scope: Request | Scope | None,
    status: int,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: list[dict[str, str]] | None = None,
    current: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    retry_after: float | None = None,
    params: dict[str, Any] | None = None,
) -> Response:
    scope = request_or_scope.scope if isinstance(request_or_scope, Request) else request_or_scope
    body = problem_body(
        scope,
        status,
        detail,
        code=code,
        errors=errors,
        current=current,
        retry_after=retry_after,
        params=params,
    )
    hdrs = dict(headers or {})
    if "retry_after" in body:
        hdrs["Retry-After"] = str(body["retry_after"])
    if status == 401:
        hdrs.setdefault("WWW-Authenticate", 'Bearer realm="structura"')
    return Response(render(body), status_code=status, headers=hdrs, media_type=PROBLEM)


def domain_problem(exc: DomainError, path: str) -> dict[str, Any]:
    """The problem document of a domain error, as the exception handler would answer it
    (for answers that carry several results, such as a batch)."""
    return problem_body({"path": path}, _status(exc), exc.message, **_domain_kwargs(exc))


def _status(exc: DomainError) -> int:
    return 401 if isinstance(exc, Unauthenticated) else exc.status


def _domain_kwargs(exc: DomainError) -> dict[str, Any]:
    details = exc.details if isinstance(exc.details, list) else None
    kwargs: dict[str, Any] = {"code": exc.code, "errors": details, "params": exc.params}
    if isinstance(exc, Conflict):
        kwargs["current"] = _current_json(exc)
    if isinstance(exc, RateLimited):
        kwargs["retry_after"] = exc.retry_after
    return kwargs


def _current_json(exc: Conflict) -> dict[str, Any] | None:
    cur = exc.current
    if cur is None or isinstance(cur, dict):
        return cur
    from core.registry import spec_for_model

    try:
        return row_json(spec_for_model(type(cur)), cur)
    except KeyError:
        return None


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(request, _status(exc), exc.message, **_domain_kwargs(exc))


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        errors.append({"field": ".".join(loc) or "body", "message": str(e.get("msg", ""))})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem_response(
        request, 422, f"invalid request: {summary}", code="invalid", errors=errors
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(request, exc.status_code, detail, headers=headers)


# SQLITE_FULL; and the errno of a full disk or quota (the WAL fsync, a temp file).
_SQLITE_FULL = 13
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the disk or the database file is full."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in _NO_SPACE:
            return True
        code = getattr(cur, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == _SQLITE_FULL:
            return True
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    return False


def database_unreachable(exc: BaseException) -> bool:
    """Whether PostgreSQL went away or would not answer (a restart, a failover, the
    server down): psycopg's operational errors, which also cover a deadlock or a
    serialization failure — all worth trying again."""
    orig = getattr(exc, "orig", None)
    return orig is not None and type(orig).__module__.split(".")[0] == "psycopg"


async def storage_error(request: Request, exc: Exception) -> Response:
    """A full disk is the site's problem, not a bug: say so clearly (507, retryable
    once space is freed). A central server whose PostgreSQL is restarting answers 503
    with ``Retry-After`` (sites retry on their own) and logs one line, not a traceback.
    Either way the transaction was rolled back, so nothing was half written and nothing
    was acknowledged. Anything else propagates to the 500 path."""
    if database_unreachable(exc):
        # Not str(exc): a SQLAlchemy error carries the statement's parameters.
        log.warning("database unavailable: %s %s answered 503 (%s)", request.method,
                    request.url.path, type(getattr(exc, "orig", exc)).__name__)  # fmt: skip
        return problem_response(
            request,
            503,
            "the database did not answer; nothing was saved. Try again in a moment.",
            code="database_unavailable",
            retry_after=2,
        )
    if not storage_full(exc):
        raise exc
    # Not str(exc): a SQLAlchemy error carries the statement's parameters (secrets).
    orig = getattr(exc, "orig", None) or exc
    reason = orig.strerror if isinstance(orig, OSError) else str(orig.args[0] if orig.args else "")
    log.error("storage full: %s %s refused (%s)", request.method, request.url.path, reason)
    return problem_response(
        request,
        507,
        "the site's disk is full; nothing was saved. Free some space and try again.",
        code="storage_full",
        retry_after=30,
    )


def install(app: FastAPI) -> None:
    from sqlalchemy.exc import OperationalError

    app.add_exception_handler(OperationalError, storage_error)
    app.add_exception_handler(OSError, storage_error)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer."""
    return {
        s: {"model": Problem, "content": {PROBLEM: {}}, "description": HTTPStatus(s).phrase}
        for s in sorted(set(statuses))
    }


# Problems any route can answer (the middleware stack and the catch-all).
COMMON = (400, 413, 415, 429, 500)
AUTHED = (*COMMON, 401, 403)
