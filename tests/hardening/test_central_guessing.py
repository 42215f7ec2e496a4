"""Issue 20 (3) and (7): the central server against guessing and floods — admin login
throttled and constant-time, optional TOTP, device tokens cheap enough that a flood
does not slow a legitimate sync, /metrics closed in production, and the two 500s
schemathesis found (a NUL in an organisation name, ``pull?after`` beyond int64)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.harness.central_faults import CENTRAL_SECRET
from local_api.server import EmbeddedServer
from tests.hardening.test_central_attacks import H, _device

pytestmark = pytest.mark.pg

EMAIL, PASSWORD = "root@example.com", "correct horse battery"


@pytest.fixture
def hub(pg_url: str) -> Iterator[tuple[str, Any, Any]]:
    from central.app import create_central_app
    from central.context import CentralContext, open_central_store
    from central.enroll import create_admin
    from central.settings import CentralSettings

    store = open_central_store(pg_url, pool_size=8)
    with store.write() as s:
        create_admin(s, email=EMAIL, password=PASSWORD)
    ctx = CentralContext(
        settings=CentralSettings(database_url=pg_url, jwt_secret=CENTRAL_SECRET), store=store
    )
    with EmbeddedServer(create_central_app(ctx)) as server:
        yield server.url, store, ctx
    store.dispose()


def _login(http: httpx.Client, password: str, email: str = EMAIL, **extra: Any) -> Any:
    return http.post("/api/admin/login", json={"email": email, "password": password, **extra})


@pytest.mark.slow  # a thousand logins over HTTP
def test_a_thousand_wrong_admin_passwords_end_in_throttling(
    hub: tuple[str, Any, Any], pg_url: str
) -> None:
    url, store, _ = hub
    with httpx.Client(base_url=url, timeout=30) as http:
        codes = [_login(http, f"wrong {i}").status_code for i in range(1000)]
        assert codes.count(401) <= 12 and codes[-1] == 429, codes[:20]
        # The right password is refused too while the lock lasts...
        assert _login(http, PASSWORD).status_code == 429
    # ...even by a fresh process (the lock is in the database, not only in memory).
    from central.app import create_central_app
    from central.context import CentralContext
    from central.settings import CentralSettings

    fresh = CentralContext(
        settings=CentralSettings(database_url=pg_url, jwt_secret=CENTRAL_SECRET), store=store
    )
    with EmbeddedServer(create_central_app(fresh)) as other:
        r = httpx.post(other.url + "/api/admin/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_unknown_and_disabled_admins_answer_in_the_same_time(hub: tuple[str, Any, Any]) -> None:
    from central.enroll import CENTRAL_ORG, create_admin
    from core.models import User

    url, store, _ = hub
    with store.write() as s:
        uid = create_admin(s, email="gone@example.com", password="whatever it was")
        s.flush()
        s.get(User, (CENTRAL_ORG, uid)).is_active = False
    with httpx.Client(base_url=url, timeout=30) as http:

        def timed(email: str) -> float:
            t0 = time.perf_counter()
            assert _login(http, "guess", email=email).status_code == 401
            return time.perf_counter() - t0

        # Interleaved, so a change in the machine's load during the run hits both alike.
        disabled, unknown = [], []
        for i in range(8):
            disabled.append(timed("gone@example.com"))
            unknown.append(timed(f"nobody{i}@example.com"))
    d, u = statistics.median(disabled), statistics.median(unknown)
    assert 0.6 < d / u < 1.6, (d, u)


def test_totp_second_factor(hub: tuple[str, Any, Any]) -> None:
    import pyotp

    url, _, _ = hub
    with httpx.Client(base_url=url, timeout=30) as http:
        token = _login(http, PASSWORD).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        setup = http.post("/api/admin/totp", headers=auth).json()
        assert setup["otpauth_uri"].startswith("otpauth://totp/")
        totp = pyotp.TOTP(setup["secret"])
        assert (
            http.post("/api/admin/totp/confirm", json={"code": "000000"}, headers=auth).status_code
            == 422
        )
        ok = http.post("/api/admin/totp/confirm", json={"code": totp.now()}, headers=auth)
        assert ok.status_code == 200, ok.text
        # Password alone is no longer enough; a wrong code counts as a failure.
        r = _login(http, PASSWORD)
        assert r.status_code == 401 and r.json()["code"] == "totp_required"
        assert _login(http, PASSWORD, totp="000000").status_code == 401
        # A code already used (the confirmation) is refused: replays within the step.
        assert _login(http, PASSWORD, totp=totp.now()).status_code == 401
        next_code = totp.at(time.time() + totp.interval)
        good = _login(http, PASSWORD, totp=next_code)
        assert good.status_code == 200, good.text


def test_a_device_token_flood_does_not_slow_a_legitimate_sync(
    hub: tuple[str, Any, Any],
) -> None:
    url, store, _ = hub
    with httpx.Client(base_url=url, timeout=30) as http:
        dev = _device(store, http, "Flooded")
        other = _device(store, http, "Victim")

        def sync_once() -> float:
            t0 = time.perf_counter()
            t = http.post(
                "/api/sync/token",
                headers=H,
                json={"device_id": dev["device_id"], "device_secret": dev["device_secret"]},
            )
            assert t.status_code == 200, t.text
            h = {**H, "Authorization": f"Bearer {t.json()['access_token']}"}
            assert http.get("/api/sync/pull", headers=h).status_code == 200
            return time.perf_counter() - t0

        calm = statistics.median(sync_once() for _ in range(3))
        stop = threading.Event()
        sent = [0]

        def flood(k: int) -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                while not stop.is_set():
                    who = other["device_id"] if k % 2 else f"nobody-{sent[0]}"
                    c.post("/api/sync/token", headers=H,
                           json={"device_id": who, "device_secret": "x" * 43})  # fmt: skip
                    sent[0] += 1

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            flooded = statistics.median(sync_once() for _ in range(5))
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert flooded < 0.5, (calm, flooded, sent[0])
    assert sent[0] > 100


def test_metrics_need_a_token_in_production(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from central.settings import CentralSettings

    monkeypatch.setenv("STRUCTURA_ENV", "production")
    s = CentralSettings(database_url=pg_url, jwt_secret="z" * 40)
    assert s.metrics_token.startswith("closed-")
    assert CentralSettings(database_url=pg_url, jwt_secret="z" * 40, metrics_token="m" * 32)


def test_nul_in_an_org_name_and_a_huge_cursor_are_4xx(hub: tuple[str, Any, Any]) -> None:
    url, store, _ = hub
    with httpx.Client(base_url=url, timeout=30) as http:
        token = _login(http, PASSWORD).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        r = http.post("/api/admin/orgs", json={"name": "a\x00b"}, headers=auth)
        assert r.status_code == 422, r.text
        dev = _device(store, http, "Cursor")
        r = http.get("/api/sync/pull", headers=dev["h"], params={"after": str(2**64)})
        assert r.status_code == 422, r.text
