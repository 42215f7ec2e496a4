"""Per-organisation quotas over real HTTP: a noisy organisation gets 429 problem+json with
Retry-After and nothing written; another organisation is not held back."""

from __future__ import annotations

import httpx
import pytest

from central.app import create_central_app
from central.context import CentralContext
from central.quotas import OpsQuota, QuotaExceeded
from central.settings import CentralSettings
from core.clock import uuid7
from core.sync.wire import SCHEMA_HEADER, SCHEMA_VERSION
from local_api.server import EmbeddedServer
from tests.sync.conftest import enroll_device, new_org


def test_bucket_refills_with_time():
    now = [0.0]
    q = OpsQuota(60, clock=lambda: now[0])
    q.take("o", 60)
    with pytest.raises(QuotaExceeded) as exc:
        q.take("o", 10)
    assert 9.9 < exc.value.retry_after <= 10.0
    q.take("other", 60)  # buckets are per organisation
    now[0] = 10.0
    q.take("o", 10)
    with pytest.raises(QuotaExceeded):
        q.take("o", 61)  # never fits


def _push(http: httpx.Client, token: str, n: int) -> httpx.Response:
    ops = [
        {
            "op_id": uuid7(),
            "entity": "clients",
            "entity_id": uuid7(),
            "kind": "create",
            "fields": {"name": f"c{i}"},
        }
        for i in range(n)
    ]
    return http.post(
        "/api/sync/push", json={"ops": ops}, headers={"Authorization": f"Bearer {token}"}
    )


def _token(http: httpx.Client, dev) -> str:
    r = http.post("/api/sync/token", json={"device_id": dev.device_id, "device_secret": dev.secret})
    return r.json()["access_token"]


@pytest.mark.pg
def test_noisy_org_gets_429_with_retry_after_and_others_go_on(central):
    settings = CentralSettings(
        database_url=central.url,
        jwt_secret="k" * 48,
        quota_ops_per_minute=30,
        quota_snapshot_rows=20,
    )
    ctx = CentralContext(settings=settings, store=central)
    server = EmbeddedServer(create_central_app(ctx), "127.0.0.1", 0).start()
    noisy, calm = new_org(central, "Noisy"), new_org(central, "Calm")
    dn, dc = enroll_device(central, noisy), enroll_device(central, calm)
    try:
        with httpx.Client(base_url=server.url, headers={SCHEMA_HEADER: str(SCHEMA_VERSION)}) as h:
            tn, tc = _token(h, dn), _token(h, dc)
            assert _push(h, tn, 25).status_code == 200
            r = _push(h, tn, 10)
            assert r.status_code == 429
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "quota_exceeded" and int(r.headers["Retry-After"]) >= 10
            assert _push(h, tc, 25).status_code == 200  # the other organisation goes on
            # Nothing of the refused batch was written: the snapshot holds 25 rows.
            snap = h.get("/api/sync/snapshot", headers={"Authorization": f"Bearer {tn}"})
            assert snap.status_code == 429 and snap.json()["code"] == "quota_exceeded"
        with central.read() as s:
            from sqlalchemy import func, select

            from core.registry import spec_for

            model = spec_for("clients").model
            n = s.scalar(select(func.count()).select_from(model).where(model.org_id == noisy))
            assert n == 25
    finally:
        server.stop()
