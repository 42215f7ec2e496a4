"""Prometheus text metrics (prometheus_client): our series in its exposition format,
several worker processes summed, and the site API scraped over real HTTP on 127.0.0.1
(request ids, probes, queues)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from apikit import observe as m
from core import logging_setup, writes
from core.identity.auth import SigningKey
from core.settings import Settings
from local_api.app import create_app
from local_api.context import AppContext
from local_api.server import EmbeddedServer


def parse(text: str) -> dict[str, float]:
    """Samples of an exposition as {'name{labels}': value}, labels in alphabetical
    order; checks each line's shape."""
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
        out[_sorted_labels(match.group(1))] = float(match.group(2))
    return out


def _sorted_labels(series: str) -> str:
    """``name{b="1",a="2"}`` as ``name{a="2",b="1"}``: the exposition does not fix the
    order of labels, the tests' keys do (alphabetical)."""
    name, brace, rest = series.partition("{")
    if not brace:
        return series
    pairs = re.findall(r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"', rest[:-1])
    return name + "{" + ",".join(sorted(pairs)) + "}"


def _observe(metrics: m.Metrics, route: str, status: str, seconds: float) -> None:
    metrics.requests.labels("GET", route, status).inc()
    metrics.latency.labels("GET", route, status).observe(seconds)


def test_exposition_format():
    metrics = m.Metrics()
    for seconds in (0.003, 0.3, 50.0):
        _observe(metrics, "/api/jobs/{id}", "200", seconds)
    _observe(metrics, '/we"ird\\', "500", 0.001)
    metrics.in_flight.inc()
    metrics.add_source(lambda: [m.gauge("t_lag_seconds", "Lag", [({"org_id": "o"}, 1.5)])])
    text = metrics.render().decode()
    assert "# TYPE structura_http_requests_total counter" in text
    assert "# TYPE structura_http_request_duration_seconds histogram" in text
    assert "_created" not in text  # no timestamp series per label set
    s = parse(text)
    job = 'method="GET",route="/api/jobs/{id}",status="200"'
    assert s[f"structura_http_requests_total{{{job}}}"] == 3
    assert s['structura_http_requests_total{method="GET",route="/we\\"ird\\\\",status="500"}'] == 1
    assert s[f'structura_http_request_duration_seconds_bucket{{le="0.005",{job}}}'] == 1
    assert s[f'structura_http_request_duration_seconds_bucket{{le="30.0",{job}}}'] == 2
    assert s[f'structura_http_request_duration_seconds_bucket{{le="+Inf",{job}}}'] == 3
    assert s[f"structura_http_request_duration_seconds_count{{{job}}}"] == 3
    assert s[f"structura_http_request_duration_seconds_sum{{{job}}}"] == pytest.approx(50.303)
    assert s["structura_http_requests_in_flight"] == 1
    assert s['t_lag_seconds{org_id="o"}'] == 1.5
    # Two apps in one process (tests, the desktop restarting its server) count apart.
    assert "structura_http_requests_total{" not in m.Metrics().render().decode()


def test_a_failing_source_hides_nothing_else(caplog: pytest.LogCaptureFixture):
    metrics = m.Metrics()
    _observe(metrics, "/ok", "200", 0.01)

    def broken():
        raise RuntimeError("database away")

    metrics.add_source(broken)
    metrics.add_source(lambda: [m.gauge("t_fine", "still here", [({}, 2.0)])])
    with caplog.at_level(logging.ERROR, "structura.metrics"):
        s = parse(metrics.render().decode())
    assert s['structura_http_requests_total{method="GET",route="/ok",status="200"}'] == 1
    assert s["t_fine"] == 2
    assert "source" in caplog.text and "database away" in caplog.text


WORKER = """
import sys
from apikit.observe import Metrics
metrics = Metrics()
for _ in range(int(sys.argv[1])):
    metrics.requests.labels("GET", "/a", "200").inc()
    metrics.latency.labels("GET", "/a", "200").observe(0.5)
if sys.argv[2] == "render":
    sys.stdout.write(metrics.render().decode())
"""


def test_workers_are_summed_in_multiprocess_mode(tmp_path: Path):
    """Real processes, as uvicorn's workers are: each counts its own, any one of them
    answers a scrape with the sum (prometheus_client's multiprocess mode)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
    for n in (1, 2):
        subprocess.run([sys.executable, "-c", WORKER, str(n), "count"], env=env, check=True)
    answer = subprocess.run([sys.executable, "-c", WORKER, "3", "render"], env=env,
                            check=True, capture_output=True, text=True)  # fmt: skip
    s = parse(answer.stdout)
    labels = 'method="GET",route="/a",status="200"'
    assert s[f"structura_http_requests_total{{{labels}}}"] == 6
    assert s[f'structura_http_request_duration_seconds_bucket{{le="1.0",{labels}}}'] == 6
    assert s[f"structura_http_request_duration_seconds_count{{{labels}}}"] == 6
    assert len(list(tmp_path.glob("counter_*.db"))) == 3  # one file per process


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
        with httpx.Client(base_url=server.url, timeout=30) as http:
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
