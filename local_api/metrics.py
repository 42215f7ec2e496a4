"""Prometheus text metrics, request ids and probes for the site API and the central server.

No client library: the exposition format (text 0.0.4) is a few lines, and a site must
not grow a dependency for it. What is here:

- ``Registry`` with counters, gauges and histograms (labelled, thread-safe) plus
  *collectors*: functions run at scrape time that read a value from the database (queue
  sizes, sync lag), so nothing has to keep those numbers up to date in between;
- ``ObservabilityMiddleware`` (plain ASGI, outermost): the request id (``X-Request-ID``
  honoured when well formed, else made; echoed back; put in the log context), request
  count and latency by *route template* (``/api/jobs/{id}``, never the raw path: one
  series per route, not per row) and status, and a JSON access line per request;
- ``install_metrics`` (``GET /metrics``) and ``install_probes`` (``/healthz``,
  ``/readyz``), which the app factories call;
- ``site_collector`` and ``central_collector``: sync lag and queue gauges.

With several uvicorn workers each process counts its own requests; a scrape reaches one
worker. Give the central server a metrics directory (``STRUCTURA_CENTRAL_METRICS_DIR``,
``MultiProcess``) and every worker writes its
counters there, and any worker answers a scrape with the sum of all of them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.logging_setup import accept_request_id, reset_request_id, set_request_id

log = logging.getLogger("structura.metrics")
access_log = logging.getLogger("structura.access")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Latency buckets in seconds: LAN API answers in milliseconds, long polls take 25 s.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


@dataclass
class Family:
    """What a collector returns: one metric family with its samples."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples:
            lines.append(f"{self.name}{_labels(list(labels), list(labels.values()))} {_fmt(value)}")
        return lines


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)


class Counter(_Metric):
    kind = "counter"

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        key = self._key(labels)
        with self._lock:
            self.values[key] = self.values.get(key, 0.0) + amount

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self.values.items())
        return [f"{self.name}{_labels(self.labelnames, k)} {_fmt(v)}" for k, v in items]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self.values[key] = float(value)

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self.values[key] = self.values.get(key, 0.0) - amount

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.dec(-amount, **labels)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = (),
                 buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:  # fmt: skip
        super().__init__(name, help, labelnames)
        self.buckets = tuple(sorted(buckets))
        # per label set: [count per bucket (non-cumulative) ..., +Inf count], sum
        self.values: dict[LabelValues, tuple[list[float], float]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        slot = len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                slot = i
                break
        with self._lock:
            counts, total = self.values.get(key) or ([0.0] * (len(self.buckets) + 1), 0.0)
            counts[slot] += 1
            self.values[key] = (counts, total + value)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), s)) for k, (c, s) in self.values.items())
        lines = []
        for key, (counts, total) in items:
            running = 0.0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = f'le="{_fmt(bound)}"'
                lines.append(
                    f"{self.name}_bucket{_labels(self.labelnames, key, le)} {_fmt(running)}"
                )
            lines.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_fmt(total)}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, key)} {_fmt(running)}")
        return lines


Collector = Callable[[], Iterable[Family]]


class Registry:
    def __init__(self) -> None:
        self.metrics: dict[str, _Metric] = {}
        self.collectors: list[Collector] = []
        self.multiprocess: MultiProcess | None = None
        self._lock = threading.Lock()

    def _add(self, metric: _Metric) -> Any:
        with self._lock:
            existing = self.metrics.get(metric.name)
            if existing is not None:
                if type(existing) is not type(metric):
                    raise ValueError(f"{metric.name} is already a {existing.kind}")
                return existing
            self.metrics[metric.name] = metric
            return metric

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, help, labelnames))

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, help, labelnames))

    def histogram(self, name: str, help: str, labelnames: Sequence[str] = (),
                  buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:  # fmt: skip
        return self._add(Histogram(name, help, labelnames, buckets))

    def add_collector(self, collector: Collector) -> None:
        self.collectors.append(collector)

    def render(self) -> str:
        lines: list[str] = []
        if self.multiprocess is not None:
            lines += self.multiprocess.render(self)
        else:
            for metric in list(self.metrics.values()):
                lines.append(f"# HELP {metric.name} {metric.help}")
                lines.append(f"# TYPE {metric.name} {metric.kind}")
                lines += metric.render()  # type: ignore[attr-defined]
        for collector in list(self.collectors):
            try:
                for family in collector():
                    lines += family.render()
            except Exception:  # one broken gauge must not hide the others
                log.exception("metrics collector %r failed", collector)
        return "\n".join(lines) + "\n"


# --- several worker processes -------------------------------------------------------------


class MultiProcess:
    """Counters and histograms of all worker processes, summed at scrape time.

    Each process dumps its own values to ``DIR/<pid>.json`` (atomically: write, rename)
    right before it answers a scrape and every ``interval`` seconds in between; the
    answering worker adds up every file. Files of exited workers stay, so counters never
    go down (what Prometheus expects of a counter). Another worker's share is at most
    ``interval`` seconds old: fine for scrapes 15 s apart. Gauges that collectors compute
    from the database are the same in every worker and are not summed.
    """

    def __init__(self, directory: str | Path, interval: float = 2.0) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def dump(self, registry: Registry) -> None:
        data: dict[str, Any] = {}
        for m in list(registry.metrics.values()):
            with m._lock:
                if isinstance(m, Histogram):
                    vals = [[list(k), list(c), s] for k, (c, s) in m.values.items()]
                else:
                    vals = [[list(k), v] for k, v in m.values.items()]  # type: ignore[attr-defined]
            data[m.name] = vals
        path = self.dir / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    def start(self, registry: Registry) -> None:
        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.dump(registry)
                except OSError:
                    log.exception("could not write metrics to %s", self.dir)

        self._thread = threading.Thread(target=run, name="metrics-dump", daemon=True)
        self._thread.start()

    def stop(self, registry: Registry) -> None:
        self._stop.set()
        self.dump(registry)

    def render(self, registry: Registry) -> list[str]:
        self.dump(registry)
        merged: dict[str, dict[LabelValues, Any]] = {}
        for path in sorted(self.dir.glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # a file being replaced right now: its values come next scrape
            for name, vals in data.items():
                target = merged.setdefault(name, {})
                for item in vals:
                    key = tuple(item[0])
                    if len(item) == 3:  # histogram
                        counts, total = target.get(key) or ([0.0] * len(item[1]), 0.0)
                        counts = [a + b for a, b in zip(counts, item[1], strict=False)]
                        target[key] = (counts, total + item[2])
                    else:
                        target[key] = target.get(key, 0.0) + item[1]
        lines: list[str] = []
        for name, metric in registry.metrics.items():
            shadow: Any = type(metric).__new__(type(metric))
            shadow.__dict__.update(metric.__dict__)
            shadow._lock = threading.Lock()
            shadow.values = merged.get(name, {})
            lines += [f"# HELP {name} {metric.help}", f"# TYPE {name} {metric.kind}"]
            lines += shadow.render()
        return lines


# --- the HTTP side --------------------------------------------------------------------------


@dataclass
class HttpMetrics:
    requests: Counter
    latency: Histogram
    in_flight: Gauge

    @classmethod
    def on(cls, registry: Registry) -> HttpMetrics:
        return cls(
            registry.counter("structura_http_requests_total",
                             "HTTP requests answered, by method, route template and status",
                             ("method", "route", "status")),
            registry.histogram("structura_http_request_duration_seconds",
                               "Time to answer, by method, route template and status",
                               ("method", "route", "status")),
            registry.gauge("structura_http_requests_in_flight", "Requests being answered now"),
        )  # fmt: skip


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's path template; one label for everything that matched none, so
    a scan of random URLs cannot create unbounded series."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return str(path)
    return "unmatched"


class ObservabilityMiddleware:
    """Request id, metrics and the access line; outermost, so it sees every answer."""

    def __init__(self, app: Any, registry: Registry, *, access: bool = True,
                 skip: Sequence[str] = ("/metrics", "/healthz", "/readyz")) -> None:  # fmt: skip
        self.app = app
        self.http = HttpMetrics.on(registry)
        self.access = access
        self.skip = set(skip)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = accept_request_id(incoming)
        if rid != incoming:
            # Downstream middleware (local_api.security.RequestContext) reads the header:
            # hand it ours so the whole request carries one id.
            scope["headers"] = [
                (k, v) for k, v in scope.get("headers", []) if k.lower() != b"x-request-id"
            ] + [(b"x-request-id", rid.encode())]
        scope.setdefault("state", {})["request_id"] = rid
        token = set_request_id(rid)
        status = 500
        began = time.perf_counter()
        self.http.in_flight.inc()

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
            self.http.in_flight.dec()
            path = scope.get("path", "")
            route = route_template(scope)
            method = scope.get("method", "")
            labels = {"method": method, "route": route, "status": str(status)}
            if path not in self.skip:
                self.http.requests.inc(**labels)
                self.http.latency.observe(elapsed, **labels)
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


def install_metrics(app: Any, registry: Registry, *, access: bool = True,
                    token: str = "", path: str = "/metrics") -> Registry:  # fmt: skip
    """Add the middleware and ``GET /metrics`` to a FastAPI app. With ``token`` the
    endpoint wants ``Authorization: Bearer <token>`` (a central server on the internet);
    on a site LAN it is open like ``/api/health``."""
    import hmac

    from starlette.responses import PlainTextResponse

    # Plain Starlette routes: no parameters to parse, nothing for the OpenAPI document.
    def metrics(request: Any) -> PlainTextResponse:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse("metrics need a bearer token\n", status_code=401)
        return PlainTextResponse(registry.render(), media_type=CONTENT_TYPE)

    app.add_route(path, metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(ObservabilityMiddleware, registry=registry, access=access)
    app.state.metrics = registry
    return registry


# --- probes ---------------------------------------------------------------------------------


def readiness(store: Any) -> tuple[bool, dict[str, Any]]:
    """Ready = the database answers and its schema is at the newest migration (a worker
    started before ``structura db upgrade`` finished must not take traffic)."""
    from sqlalchemy import text

    from core.schema import head_revision

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
    from starlette.responses import JSONResponse

    def healthz(request: Any) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readyz(request: Any) -> JSONResponse:
        ok, checks = readiness(store() if callable(store) else store)
        return JSONResponse({"status": "ok" if ok else "unavailable", **checks},
                            status_code=200 if ok else 503)  # fmt: skip

    app.add_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_route("/readyz", readyz, methods=["GET"], include_in_schema=False)


# --- sync lag and queues --------------------------------------------------------------------


def site_collector(context: Any) -> Collector:
    """A site's outbox (what waits to reach the central server) and its age. Reads
    ``context.store`` and ``context.sync_status`` at each scrape."""

    def collect() -> Iterable[Family]:
        from sqlalchemy import func, select

        from core.clock import utcnow
        from core.models import ConflictRecord, OutboxEntry, SyncState

        sync_status = getattr(context, "sync_status", None)
        with context.store.read() as s:
            rows = s.execute(
                select(OutboxEntry.status, func.count(), func.min(OutboxEntry.created_at))
                .where(OutboxEntry.status.in_(("pending", "acked", "sent")))
                .group_by(OutboxEntry.status)
            ).all()
            conflicts = s.scalar(select(func.count()).where(ConflictRecord.resolved_at.is_(None)))
            cursor = s.get(SyncState, "cursor")
        now = utcnow()
        waiting = Family(
            "structura_outbox_ops", "gauge",
            "Local changes not yet settled with the central server, by status",
        )  # fmt: skip
        oldest = None
        for status, count, first in rows:
            waiting.samples.append(({"status": status}, float(count)))
            if status == "pending" and first is not None:
                oldest = first
        for status in ("pending", "acked", "sent"):
            if status not in {r[0] for r in rows}:
                waiting.samples.append(({"status": status}, 0.0))
        age = 0.0 if oldest is None else max(0.0, (now - _aware(oldest)).total_seconds())
        yield waiting
        yield Family("structura_outbox_oldest_pending_seconds", "gauge",
                     "Age of the oldest change waiting to be pushed (0: none waits)",
                     [({}, age)])  # fmt: skip
        yield Family("structura_sync_open_conflicts", "gauge", "Conflicts nobody resolved yet",
                     [({}, float(conflicts or 0))])  # fmt: skip
        yield Family("structura_sync_cursor", "gauge", "Feed position this site has applied",
                     [({}, float((cursor.value if cursor else 0) or 0))])  # fmt: skip
        if sync_status is not None:
            status = sync_status() or {}
            state = str(status.get("state") or "unknown")
            yield Family("structura_sync_agent_state", "gauge", "1 for the agent's state",
                         [({"state": state}, 1.0)])  # fmt: skip

    return collect


def central_collector(store: Any, waiters: Callable[[], int] | None = None) -> Collector:
    """Per organisation: the newest feed position and how long ago it was written, and
    how long since each organisation's least recently seen device fetched a token."""

    def collect() -> Iterable[Family]:
        from sqlalchemy import func, select

        from core.clock import utcnow
        from core.models import Device, FeedCounter, FeedEntry

        now = utcnow()
        with store.read() as s:
            positions = s.execute(select(FeedCounter.org_id, FeedCounter.last_seq)).all()
            newest = s.execute(
                select(FeedEntry.org_id, func.max(FeedEntry.committed_at)).group_by(
                    FeedEntry.org_id
                )
            ).all()
            seen = s.execute(
                select(Device.org_id, func.min(Device.last_seen_at), func.count())
                .where(Device.revoked_at.is_(None))
                .group_by(Device.org_id)
            ).all()
        yield Family("structura_feed_position", "gauge", "Newest feed position per organisation",
                     [({"org_id": o}, float(n or 0)) for o, n in positions])  # fmt: skip
        yield Family(
            "structura_feed_newest_age_seconds", "gauge",
            "Seconds since the newest change entered an organisation's feed",
            [({"org_id": o}, max(0.0, (now - _aware(t)).total_seconds()))
             for o, t in newest if t is not None],
        )  # fmt: skip
        yield Family(
            "structura_device_last_seen_max_age_seconds", "gauge",
            "Seconds since the least recently seen active device of an organisation "
            "fetched a token (a site that stopped syncing)",
            [({"org_id": o}, max(0.0, (now - _aware(t)).total_seconds()))
             for o, t, _ in seen if t is not None],
        )  # fmt: skip
        yield Family("structura_devices_active", "gauge", "Enrolled, not revoked devices",
                     [({"org_id": o}, float(n)) for o, _, n in seen])  # fmt: skip
        if waiters is not None:
            yield Family("structura_sync_pulls_waiting", "gauge",
                         "Long-poll pulls waiting for news in this worker",
                         [({}, float(waiters()))])  # fmt: skip

    return collect


def _aware(t: Any) -> Any:
    from datetime import UTC

    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def notifier_waiters(notifier: Any) -> Callable[[], int]:
    """How many pulls wait on a ``central.notify.FeedNotifier`` (read without its lock:
    a gauge may be a moment old)."""

    def count() -> int:
        waiting = getattr(notifier, "_waiters", None) or {}
        return sum(len(v) for v in list(waiting.values()))

    return count


# --- wiring, one call per app factory ---------------------------------------------------------


def observe_central(app: Any, ctx: Any) -> Registry:
    """Probes, request ids, access lines and ``/metrics`` for the central app (called by
    ``central.app.create_central_app``; duck-typed so local_api never imports central)."""
    settings = ctx.settings
    registry = Registry()
    if getattr(settings, "metrics_dir", ""):
        registry.multiprocess = MultiProcess(settings.metrics_dir)
        registry.multiprocess.start(registry)
    registry.add_collector(central_collector(ctx.store, notifier_waiters(ctx.notifier)))
    install_probes(app, ctx.store)
    install_metrics(app, registry, token=getattr(settings, "metrics_token", ""),
                    access=bool(getattr(settings, "access_log", True)))  # fmt: skip
    return registry


def observe_site(app: Any, context: Any, *, access: bool = False) -> Registry:
    """The same for a site's API (``local_api.app.create_app``): the outbox and sync
    state instead of the feed; no access line by default (a LAN server's log would be
    mostly tablet polls; ``structura site serve --access-log`` has uvicorn's)."""
    registry = Registry()
    registry.add_collector(site_collector(context))
    install_probes(app, lambda: context.store)
    install_metrics(app, registry, access=access)
    return registry
