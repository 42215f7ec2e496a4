"""Prometheus text metrics: the registry's exposition format, several workers summed,
and the site API scraped over real HTTP on 127.0.0.1 (request ids, probes, queues)."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from core import logging_setup
from core.services import writes
from core.services.auth import SigningKey
from core.settings import Settings
from local_api import metrics as m
from local_api.app import create_app
from local_api.context import AppContext
from local_api.server import EmbeddedServer


def parse(text: str) -> dict[str, float]:
    """Samples of an exposition as {'name{labels}': value}; checks each line's shape."""
    out: dict[str, float] = {}
    label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    sample = re.compile(
        rf"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{{{label}(?:,{label})*\}})?) (-?[0-9.e+-]+|\+Inf|NaN)$"
    )
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = sample.match(line)
        assert match, f"not a sample line: {line!r}"
        out[match.group(1)] = float(match.group(2))
    return out


def test_exposition_format():
    reg = m.Registry()
    c = reg.counter("t_requests_total", "Requests", ("route", "status"))
    c.inc(route="/api/jobs/{id}", status="200")
    c.inc(2, route="/api/jobs/{id}", status="200")
    c.inc(route='/we"ird\\', status="500")
    g = reg.gauge("t_in_flight", "In flight")
    g.inc()
    g.inc()
    g.dec()
    h = reg.histogram("t_seconds", "Latency", ("route",), buckets=(0.1, 1.0))
    for v in (0.05, 0.5, 5.0):
        h.observe(v, route="/x")
    reg.add_collector(lambda: [m.Family("t_lag_seconds", "gauge", "Lag", [({"org_id": "o"}, 1.5)])])
    text = reg.render()
    assert "# TYPE t_requests_total counter" in text and "# TYPE t_seconds histogram" in text
    s = parse(text)
    assert s['t_requests_total{route="/api/jobs/{id}",status="200"}'] == 3
    assert s['t_requests_total{route="/we\\"ird\\\\",status="500"}'] == 1
    assert s["t_in_flight"] == 1
    assert s['t_seconds_bucket{route="/x",le="0.1"}'] == 1
    assert s['t_seconds_bucket{route="/x",le="1"}'] == 2
    assert s['t_seconds_bucket{route="/x",le="+Inf"}'] == 3
    assert s['t_seconds_count{route="/x"}'] == 3 and s['t_seconds_sum{route="/x"}'] == 5.55
    assert s['t_lag_seconds{org_id="o"}'] == 1.5
    with pytest.raises(ValueError):
        c.inc(route="/x")  # a label missing
    with pytest.raises(ValueError):
        c.inc(-1, route="/x", status="200")


def test_a_failing_collector_hides_nothing_else(caplog: pytest.LogCaptureFixture):
    reg = m.Registry()
    reg.counter("t_ok_total", "ok").inc()

    def broken():
        raise RuntimeError("database away")

    reg.add_collector(broken)
    with caplog.at_level(logging.ERROR, "structura.metrics"):
        assert parse(reg.render())["t_ok_total"] == 1
    assert "collector" in caplog.text


def test_workers_are_summed_through_the_metrics_dir(tmp_path: Path):
    regs = []
    for n in range(3):
        reg = m.Registry()
        reg.counter("t_total", "n", ("route",)).inc(n + 1, route="/a")
        reg.histogram("t_seconds", "s", buckets=(1.0,)).observe(0.5)
        regs.append(reg)
    # Three "processes": the dump file name is the pid, so give each its own.
    for i, reg in enumerate(regs):
        mp = m.MultiProcess(tmp_path)
        mp.dump(reg)
        (tmp_path / f"{__import__('os').getpid()}.json").rename(tmp_path / f"{1000 + i}.json")
    answering = m.Registry()
    answering.counter("t_total", "n", ("route",))
    answering.histogram("t_seconds", "s", buckets=(1.0,))
    answering.multiprocess = m.MultiProcess(tmp_path)
    s = parse(answering.render())
    assert s['t_total{route="/a"}'] == 6
    assert s['t_seconds_bucket{le="1"}'] == 3 and s["t_seconds_count"] == 3


@pytest.fixture
def site_server(store, site, tmp_path):
    settings = Settings(data_dir=tmp_path, allowed_hosts=["127.0.0.1"])
    ctx = AppContext(settings=settings, store=store, site=site, jwt_key=SigningKey(b"k" * 64))
    server = EmbeddedServer(create_app(ctx, live=False), "127.0.0.1", 0).start()
    yield server, ctx
    server.stop()
    ctx.close()


def test_site_api_is_scraped_over_http(site_server, store, site):
    server, _ = site_server
    stream = io.StringIO()
    handler = logging_setup.configure("INFO", "json", stream=stream)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            r = http.get("/api/health", headers={"X-Request-ID": "scrape-test-1"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "scrape-test-1"
            made = http.get("/api/health").headers["x-request-id"]
            assert re.fullmatch(r"[0-9a-f]{16,32}", made)
            # One id per request, even with the API's own request-id middleware inside.
            assert made.count(",") == 0
            assert http.get("/api/clients/nope").status_code == 401
            assert http.get("/no/such/page").status_code == 404
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["migrations"] == "ok"
            with store.write() as s:
                writes.create(s, actor=writes.Actor.system(site.org_id), entity="clients",
                              data={"name": "Ana"})  # fmt: skip
            scraped = http.get("/metrics")
    finally:
        logging.getLogger().removeHandler(handler)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    s = parse(scraped.text)
    ok = 'structura_http_requests_total{method="GET",route="/api/health",status="200"}'
    assert s[ok] == 2
    # The route template, not the path: one series per route, not per row.
    assert s['structura_http_requests_total{method="GET",route="/api/clients/{id}",'
             'status="401"}'] == 1  # fmt: skip
    assert s['structura_http_requests_total{method="GET",route="unmatched",status="404"}'] == 1
    assert s['structura_http_request_duration_seconds_count{method="GET",route="/api/health",'
             'status="200"}'] == 2  # fmt: skip
    assert not any("/metrics" in k or "/healthz" in k for k in s)  # probes are not counted
    assert s['structura_outbox_ops{status="pending"}'] == 1
    assert s["structura_outbox_oldest_pending_seconds"] >= 0
    assert s["structura_sync_open_conflicts"] == 0
    # The app logs with the request id of the request (here: the API's own lines are
    # few; at least the probe answers carry no id once the request is over).
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.startswith("{")]
    assert all("request_id" not in x or x["request_id"] for x in lines)
