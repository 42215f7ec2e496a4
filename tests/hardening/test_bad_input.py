"""Bad input everywhere: schemathesis with *all* its checks, positive and negative
inputs, against the local API (a real ``site serve``) and the central server; and
hand-made hostile bodies that each must get a clear 4xx problem+json and change
nothing. tests/api/test_schema.py runs five response checks on positive inputs only;
tests/test_legacy_import.py covers a truncated file into a *new* store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.specs.openapi.checks  # registers the OpenAPI checks in CHECKS
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from bench.harness.sites import SiteData, SiteProcess, bearer, counts, make_site
from core.sync.conflicts import SCHEMA_HEADER, SCHEMA_VERSION

EXAMPLES = int(os.environ.get("STRUCTURA_SCHEMA_EXAMPLES", "3"))
PROBLEM = "application/problem+json"
TABLES = ("clients", "jobs", "machines", "users", "outbox", "audit_log")
# Streams forever / ends the session the run depends on.
SKIP = {("GET", "/api/live"), ("POST", "/api/auth/logout"), ("GET", "/api/sync/pull")}
# Checks that need the stateful runner's links between operations (no-ops here) are
# still passed; none is left out on purpose.
ALL = CHECKS.get_all()
# Open findings of the all-checks run (to be fixed in local_api routes for the local
# API, central/ for the central server). A ratchet: any *other* failure kind
# fails the test, and none of these is a server error or a change made by bad input.
# - ST202 "schema-valid request rejected": the OpenAPI document is looser than the
#   validation (If-Match documented as any string but must be a number; decimals
#   documented as number|string that the schema accepts and the model refuses, ...).
# Tightened in issue 20: the central routes now document every problem status they
# answer (was ST103) as application/problem+json, and the snapshot as NDJSON (ST105).
KNOWN = {"local": {"ST202"}, "central": {"ST202"}}


def _run_schema(schema: Any, base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        ran += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=ALL)

            try:
                run()
            except Unsatisfiable:
                pass  # no negative input exists (an operation without parameters)
            except (Exception, BaseExceptionGroup) as exc:  # collect all, report together
                failures.append(
                    f"{mode.value} {operation.method.upper()} {operation.path}: {exc}"[:1500]
                )
    return ran, failures


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[SiteProcess, SiteData]]:
    data = make_site(tmp_path_factory.mktemp("bad") / "site", sqlite_template)
    proc = SiteProcess(data).start()
    yield proc, data
    proc.stop()


@pytest.mark.slow
def test_local_openapi_all_checks(served: tuple[SiteProcess, SiteData]) -> None:
    proc, data = served
    schema = schemathesis.openapi.from_dict(httpx.get(proc.url + "/openapi.json").json())
    ran, failures = _run_schema(schema, proc.url, bearer(data.mint()))
    assert ran > 100
    _ratchet("local", failures)


@pytest.mark.pg
@pytest.mark.slow
def test_central_openapi_all_checks(pg_url: str) -> None:
    from central.app import create_central_app
    from central.context import CentralContext, open_central_store
    from central.enroll import create_org, create_site, enroll, make_enrollment_code
    from central.settings import CentralSettings
    from local_api.server import EmbeddedServer

    store = open_central_store(pg_url, pool_size=4)
    ctx = CentralContext(
        settings=CentralSettings(database_url=pg_url, jwt_secret="c" * 48), store=store
    )
    with store.write() as s:
        org = create_org(s, name="Schema", modules=["factory", "tour"])
        site = create_site(s, org_id=org.id, name="p")
        code, _ = make_enrollment_code(s, org_id=org.id, site_id=site.id)
    with store.write() as s:
        dev = enroll(s, code=code, device_name="p", schema_version=SCHEMA_VERSION)
    try:
        with EmbeddedServer(create_central_app(ctx)) as server:
            h = {SCHEMA_HEADER: str(SCHEMA_VERSION)}
            tok = httpx.post(
                server.url + "/api/sync/token",
                headers=h,
                json={"device_id": dev["device_id"], "device_secret": dev["device_secret"]},
            ).json()
            headers = {**h, "Authorization": f"Bearer {tok['access_token']}"}
            schema = schemathesis.openapi.from_dict(create_central_app(ctx).openapi())
            ran, failures = _run_schema(schema, server.url, headers)
    finally:
        store.dispose()
    assert ran >= 8
    _ratchet("central", failures)


def _ratchet(api: str, failures: list[str]) -> None:
    import re

    unexpected = []
    for f in failures:
        codes = set(re.findall(r"- (ST\d+) ", f))
        # No code at all means an exception of another kind (a crash, a timeout).
        if not codes or not codes <= KNOWN[api]:
            unexpected.append(f)
    assert not unexpected, "\n\n".join(unexpected)
    assert not any("Server error" in f or "[5" in f for f in failures)


# ---------------------------------------------------------------- hostile bodies


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


BODIES: dict[str, tuple[bytes, str]] = {
    "malformed-json": (b'{"name": "x",', "application/json"),
    "trailing-garbage": (b'{"name": "x"} {"name": "y"}', "application/json"),
    "json-not-object": (b'"just a string"', "application/json"),
    "json-array": (b'[{"name": "x"}]', "application/json"),
    "nested-100k-arrays": (_nested(100_000), "application/json"),
    "nested-objects": (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    "latin1-bytes": ('{"name": "Müller"}'.encode("latin-1"), "application/json"),
    "utf16": ('{"name": "x"}'.encode("utf-16"), "application/json"),
    "invalid-utf8": (b'{"name": "\xc3\x28\xff"}', "application/json"),
    "nul-in-string": (b'{"name": "a\\u0000b"}', "application/json"),
    "raw-nul-byte": (b'{"name": "a\x00b"}', "application/json"),
    "huge-number": (b'{"name": "x", "contact": 1' + b"0" * 5000 + b"}", "application/json"),
    "nan": (b'{"name": NaN}', "application/json"),
    "duplicate-keys": (b'{"name": "x", "name": null}', "application/json"),
    "form-encoded": (b"name=x", "application/x-www-form-urlencoded"),
    "text-plain": (b'{"name": "x"}', "text/plain"),
    "multipart": (
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--',
        "multipart/form-data; boundary=b",
    ),
    "no-content-type": (b'{"name": "x"}', ""),
    "xml": (b"<client><name>x</name></client>", "application/xml"),
    "oversized": (b'{"name": "' + b"x" * 2_000_000 + b'"}', "application/json"),
}


@pytest.mark.parametrize("kind", list(BODIES))
@pytest.mark.parametrize("path", ["/api/clients", "/api/auth/pin", "/api/clients/batch"])
def test_hostile_body_is_a_clear_4xx_and_changes_nothing(
    served: tuple[SiteProcess, SiteData], kind: str, path: str
) -> None:
    proc, data = served
    body, ctype = BODIES[kind]
    headers = {**bearer(data.mint()), "Content-Type": ctype} if ctype else bearer(data.mint())
    before = counts(data.db_path, *TABLES)
    r = httpx.post(proc.url + path, content=body, headers=headers, timeout=30)
    if kind == "utf16" and r.status_code == 201:
        # Python's json.loads(bytes) detects UTF-16 by its BOM (RFC 8259 8.1 allows a
        # parser to accept it). Accepted only if decoded exactly, never as mojibake.
        assert r.json()["name"] == "x"
        return
    assert 400 <= r.status_code < 500, f"{kind} {path}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"] == PROBLEM, r.headers
    problem = r.json()
    assert problem["status"] == r.status_code and problem["code"] and problem["detail"]
    # Clear, and it does not echo the hostile body back at length.
    assert len(r.content) < 4000
    after = counts(data.db_path, *TABLES)
    # users/audit may only grow by the token mint above (refresh_tokens is another table).
    assert after == before, (kind, path, before, after)


def test_chunked_oversized_body_is_413_and_the_server_stays_up(
    served: tuple[SiteProcess, SiteData],
) -> None:
    proc, data = served

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(300):
            yield b"x" * 10_000
        yield b'"}'

    before = counts(data.db_path, *TABLES)
    r = httpx.post(
        proc.url + "/api/clients",
        content=chunks(),
        headers={**bearer(data.mint()), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    assert counts(data.db_path, *TABLES) == before
    assert httpx.get(proc.url + "/api/health").status_code == 200


# ---------------------------------------------------------------- import files


def _import(data_dir: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    env = {k: v for k, v in env.items() if not k.startswith("STRUCTURA_")}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--data-dir", str(data_dir), "import", *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            b'{"structura_erp_factory_data_v3": {"users": [{"id": "u1", "na', id="truncated"
        ),
        pytest.param(b"\x1f\x8b\x08\x00garbage-gzip", id="binary", marks=pytest.mark.slow),
        pytest.param(b'{"shows": "\xff\xfe\x00"}', id="invalid-utf8", marks=pytest.mark.slow),
        pytest.param(b"", id="empty", marks=pytest.mark.slow),
        pytest.param(
            b'{"shows": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
            id="deep",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            json.dumps({"unknown": []}).encode(), id="unknown-kind", marks=pytest.mark.slow
        ),
    ],
)
def test_corrupt_import_file_into_an_existing_store_exits_2_and_changes_nothing(
    tmp_path: Path, sqlite_template: Path, content: bytes
) -> None:
    data = make_site(tmp_path / "site", sqlite_template)
    before = counts(data.db_path, *TABLES)
    size_before = data.db_path.stat().st_size
    bad = tmp_path / "export.json"
    bad.write_bytes(content)
    res = _import(data.data_dir, bad)
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "nothing was imported" in res.stderr, res.stderr[-1000:]
    assert "Traceback" not in res.stderr
    assert counts(data.db_path, *TABLES) == before
    assert data.db_path.stat().st_size == size_before
