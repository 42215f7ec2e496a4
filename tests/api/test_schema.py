"""Property-based run over the whole OpenAPI document (schemathesis): as an admin, every
operation with generated inputs must answer without a 5xx, with a documented status and
content type, and a body that matches the documented schema.

Bounded for CI: a few examples per operation (``STRUCTURA_SCHEMA_EXAMPLES`` raises it),
against the live server on 127.0.0.1 over the test's own store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local_api.server import EmbeddedServer
from tests.api.conftest import PINS, People

EXAMPLES = int(os.environ.get("STRUCTURA_SCHEMA_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Operations whose happy path a random token cannot reach, or that end the session the
# run depends on, or that stream forever.
SKIP = {("POST", "/api/auth/logout"), ("GET", "/api/live")}


@pytest.fixture
def live(app: Any, context: Any) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(app) as server:
        yield server


@pytest.mark.slow
def test_openapi_conformance(
    live: EmbeddedServer, app: Any, admin: Any, people: People, factory: dict[str, Any]
) -> None:
    token = httpx.post(
        live.url + "/api/auth/pin", json={"user_id": people["admin"], "pin": PINS["admin"]}
    ).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        ran += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=live.url, headers=auth, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect all, report together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert ran > 100
    assert not failures, "\n\n".join(failures)
