"""The order of the routes and the shape of their dependencies.

The shop floor's routes are tried first and each authenticated route resolves its
caller in one dependency (local_api.deps.gate), for speed (docs/benchmarks.md, "LAN
API"). These tests keep the speed from costing correctness: every documented route is
still the one that answers its own path, and none resolves the token twice (which would
also take two tokens from the caller's rate-limit bucket) or in the thread pool.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from typing import Any

from fastapi.routing import APIRoute

GATES = {"current_claims", "current_actor", "dependency"}


def _sample(template: str) -> str:
    # A value no literal segment uses: a literal route declared after a {param} one
    # with the same shape would be answered by the {param} route, and show here.
    return re.sub(
        r"\{(\w+)(:path)?\}", lambda m: "a1/b1" if m.group(2) else f"z9{m.group(1)}", template
    )


def _route_for(app: Any, method: str, path: str) -> APIRoute | None:
    """The route the app selects for a request (no token: the gate refuses before the
    handler runs, so nothing is written)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(app(scope, receive, send))
    route = scope.get("route")
    return route if isinstance(route, APIRoute) else None


def _documented(app: Any) -> list[tuple[str, str]]:
    out = []
    for template, item in app.openapi()["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                out.append((method.upper(), template))
    return out


def test_every_documented_route_answers_its_own_path(app: Any) -> None:
    routes = _documented(app)
    assert len(routes) > 150  # the whole surface, factory and tour modules included
    wrong = []
    for method, template in routes:
        route = _route_for(app, method, _sample(template))
        if route is None or route.path_format != template or method not in route.methods:
            wrong.append((method, template, getattr(route, "path_format", None)))
    assert wrong == []


def _calls(dependant: Any) -> list[Any]:
    out = []
    for dep in dependant.dependencies:
        out.append(dep.call)
        out.extend(_calls(dep))
    return out


def test_each_route_resolves_its_caller_once_and_on_the_loop(app: Any) -> None:
    counts: dict[int, int] = {}
    for method, template in _documented(app):
        route = _route_for(app, method, _sample(template))
        assert route is not None
        calls = _calls(route.dependant)
        gates = [c for c in calls if getattr(c, "__name__", "") in GATES]
        counts[len(gates)] = counts.get(len(gates), 0) + 1
        assert len(gates) <= 1, (method, template, [c.__qualname__ for c in gates])
        sync = [
            getattr(c, "__qualname__", type(c).__name__)
            for c in calls
            if not inspect.iscoroutinefunction(c)
            and not inspect.iscoroutinefunction(type(c).__call__)
        ]
        assert sync == [], (method, template, sync)
    assert counts.get(1, 0) > 150  # nearly every route is behind a login


def test_a_request_takes_one_token_from_the_rate_limit_bucket(
    app: Any, client: Any, as_: Any, monkeypatch: Any
) -> None:
    buckets = app.state.throttles.api_buckets
    taken: list[str] = []
    take = buckets.take

    def counting(key: str, cost: float = 1.0) -> float:
        taken.append(key)
        return take(key, cost)

    monkeypatch.setattr(buckets, "take", counting)
    for who, path in (
        ("operator", "/api/board"),
        ("operator", "/api/me/jobs"),
        ("office", "/api/jobs?limit=1"),
        ("office", "/api/reports/oee"),
        ("office", "/api/auth/me"),
    ):
        taken.clear()
        r = client.get(path, headers=as_(who))
        assert r.status_code == 200, (path, r.text)
        assert len(taken) == 1, (path, taken)
