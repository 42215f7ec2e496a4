"""Request ids, Prometheus metrics and probes, for both servers.

The metrics are ``prometheus_client``'s: counters, histograms and the exposition format,
and with several worker processes its multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``:
each worker writes its values to memory-mapped files there and whichever worker answers
a scrape sums them all). What is ours:

- ``ObservabilityMiddleware`` (plain ASGI, outermost): the request id (``X-Request-ID``
  honoured when well formed, else made; echoed back; put in the log context), request
  count and latency by *route template* (``/api/jobs/{id}``, never the raw path: one
  series per route, not per row) and status, and a JSON access line per request;
- ``Metrics``: one app's registry plus its *gauge sources*, functions run at scrape time
  that read a value from the database (queue sizes, sync lag), so nothing has to keep
  those numbers up to date in between; the servers add their own
  (``local_api.metrics``, ``central.metrics``);
- ``install_metrics`` (``GET /metrics``) and ``install_probes`` (``/healthz``,
  ``/readyz``), which the app factories call.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from core.logging_setup import accept_request_id, reset_request_id, set_request_id

log = logging.getLogger("structura.metrics")
access_log = logging.getLogger("structura.access")

# The text format every Prometheus version scrapes (prometheus_client's newest default
# names a format version older servers refuse).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Latency buckets in seconds: LAN API answers in milliseconds, long polls take 25 s.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PROBE_PATHS = ("/metrics", "/healthz", "/readyz")

GaugeSource = Callable[[], Iterable[Metric]]


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, when this process is one
    of several workers (set before the worker imported prometheus_client)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def gauge(name: str, help: str, samples: Iterable[tuple[dict[str, str], float]]) -> Metric:
    """One gauge family computed at scrape time; ``samples`` are (labels, value)."""
    items = list(samples)
    labels = sorted({k for lbl, _ in items for k in lbl})
    family = GaugeMetricFamily(name, help, labels=labels)
    for lbl, value in items:
        family.add_metric([lbl[k] for k in labels], value)
    return family


class _Sources(Collector):
    """The gauge sources as one prometheus collector; one broken source must not hide
    the others (nor the request counters)."""

    def __init__(self, sources: list[GaugeSource]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in list(self.sources):
            try:
                yield from list(source())
            except Exception:
                log.exception("metrics source %r failed", source)

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time: nothing to check for clashes up front


@dataclass
class Metrics:
    """One app's metrics. In multiprocess mode the counters live in the shared
    directory and a scrape reads them from there; the database gauges are the same in
    every worker and are computed by whichever answers."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry())
    sources: list[GaugeSource] = field(default_factory=list)

    def __post_init__(self) -> None:
        # No *_created series: a timestamp per label set doubles the output for nothing
        # a dashboard uses (process-wide switch; the same for every app).
        disable_created_metrics()
        self.registry.register(_Sources(self.sources))
        kw: dict[str, Any] = {"registry": self.registry}
        self.requests = Counter(
            "structura_http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            **kw,
        )
        self.latency = Histogram(
            "structura_http_request_duration_seconds",
            "Time to answer, by method, route template and status",
            ("method", "route", "status"),
            buckets=DEFAULT_BUCKETS,
            **kw,
        )
        self.in_flight = Gauge(
            "structura_http_requests_in_flight",
            "Requests being answered now",
            multiprocess_mode="livesum",
            **kw,
        )

    def add_source(self, source: GaugeSource) -> None:
        self.sources.append(source)

    def render(self) -> bytes:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)
        merged.register(_Sources(self.sources))
        return generate_latest(merged)


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's path template; one label for everything that matched none, so
    a scan of random URLs cannot create unbounded series."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


# For FastAPI(telemetry=...): the apps observe themselves here (Prometheus metrics, the
# access log, request ids); FastAPI's native OpenTelemetry would otherwise look up the
# global providers on every request to find none configured.
NATIVE_TELEMETRY_OFF: Any = {"tracing": False, "metrics": False, "logs": False}


class ObservabilityMiddleware:
    """Request id, metrics and the access line; outermost, so it sees every answer."""

    def __init__(self, app: Any, metrics: Metrics, *, access: bool = True,
                 skip: Sequence[str] = PROBE_PATHS) -> None:  # fmt: skip
        self.app = app
        self.metrics = metrics
        self.access = access
        self.skip = set(skip)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = accept_request_id(incoming)
        if rid != incoming:
            # Downstream middleware (apikit.security.RequestContext) reads the header:
            # hand it ours so the whole request carries one id.
            scope["headers"] = [
                (k, v) for k, v in scope.get("headers", []) if k.lower() != b"x-request-id"
            ] + [(b"x-request-id", rid.encode())]
        scope.setdefault("state", {})["request_id"] = rid
        token = set_request_id(rid)
        status = 500
        began = time.perf_counter()
        m = self.metrics
        m.in_flight.inc()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - began
            m.in_flight.dec()
            path = scope.get("path", "")
            if path not in self.skip:
                route = route_template(scope)
                method = scope.get("method", "")
                m.requests.labels(method, route, str(status)).inc()
                m.latency.labels(method, route, str(status)).observe(elapsed)
                if self.access:
                    client = scope.get("client") or ("", 0)
                    # The path without its query: query strings may carry tokens.
                    access_log.info(
                        "%s %s %s %.1f ms", method, path, status, elapsed * 1000,
                        extra={"method": method, "path": path, "route": route,
                               "status": status, "duration_ms": round(elapsed * 1000, 2),
                               "client": client[0]},
                    )  # fmt: skip
            reset_request_id(token)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def install_metrics(app: Any, metrics: Metrics, *, access: bool = True,
                    token: str = "", path: str = "/metrics") -> Metrics:  # fmt: skip
    """Add the middleware and ``GET /metrics`` to an app. With ``token`` the endpoint
    wants ``Authorization: Bearer <token>`` (a central server on the internet); on a
    site LAN it is open like ``/api/health``."""

    # Plain Starlette routes: no parameters to parse, nothing for the OpenAPI document.
    def scrape(request: Request) -> Response:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse("metrics need a bearer token\n", status_code=401)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.add_route(path, scrape, methods=["GET"], include_in_schema=False)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access=access)
    app.state.metrics = metrics
    return metrics


# --- probes ---------------------------------------------------------------------------------


def readiness(store: Any) -> tuple[bool, dict[str, Any]]:
    """Ready = the database answers and its schema is at the newest migration (a worker
    started before ``structura db upgrade`` finished must not take traffic)."""
    from sqlalchemy import text

    from core.migrate import head_revision

    checks: dict[str, Any] = {}
    try:
        with store.engine.connect() as conn:
            # Plain SQL, not Alembic's MigrationContext: that logs two lines per probe.
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        return False, checks
    head = head_revision()
    checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
    checks["revision"] = current
    return current == head, checks


def install_probes(app: Any, store: Any) -> None:
    """``/healthz``: the process answers (liveness: restart it if not). ``/readyz``: it
    can serve (readiness: route traffic to it only then). ``store`` may be a callable
    returning the store (read at each probe, for apps whose store is swapped in tests)."""

    def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readyz(request: Request) -> JSONResponse:
        ok, checks = readiness(store() if callable(store) else store)
        return JSONResponse({"status": "ok" if ok else "unavailable", **checks},
                            status_code=200 if ok else 503)  # fmt: skip

    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", readyz, methods=["GET"], include_in_schema=False)


def seconds_since(now: Any, then: Any) -> float:
    """Age in seconds, never negative; naive datetimes (SQLite) are UTC."""
    from datetime import UTC

    then = then if then.tzinfo is not None else then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())
