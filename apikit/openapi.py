"""The OpenAPI document with problem bodies filed under their real media type."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from apikit.problems import PROBLEM


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """``app.openapi`` for an app whose errors are problem documents: FastAPI files every
    response model under application/json, so move the 4xx/5xx schemas to
    application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for status, resp in op.get("responses", {}).items():
                content = resp.get("content", {})
                if not status.isdigit() or int(status) < 400:
                    continue
                js = content.pop("application/json", None)
                if js is not None:
                    content[PROBLEM] = js
    app.openapi_schema = schema
    return schema


def install(app: FastAPI) -> None:
    # FastAPI's documented way to replace the schema; mypy sees a method being assigned.
    app.openapi = lambda: problem_openapi(app)  # type: ignore[method-assign]
