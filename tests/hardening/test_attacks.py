"""Attack suite, against ``structura site serve`` on 127.0.0.1 (real uvicorn, real proxy
header handling) and the central app.

Extends, without repeating, tests/api/test_auth.py (the JWT table on /api/auth/me,
per-account/device lockout with generous rate limits, refresh rotation in-process) and
tests/api/test_wire.py (CORS allowlist, Host, API security headers). Here: every token
attack on several routes including writes, HS/RS confusion and tampered payloads; PIN
guessing with the *default* limits while spoofing X-Forwarded-For and X-Device-Id;
tokens of another organisation; preflights and page headers; secrets in logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.harness.sites import (
    ADMIN_PIN,
    JWT_SECRET,
    SiteData,
    SiteProcess,
    _hash,
    bearer,
    counts,
    make_site,
)
from core import writes
from core.db import Store, sqlite_url
from core.identity import auth

PROBLEM = "application/problem+json"
GUESS_PIN = "1357"


def _add_operators(data: SiteData, n: int) -> list[str]:
    store = Store(sqlite_url(data.db_path))
    try:
        with store.write() as s:
            return [
                writes.create(
                    s,
                    actor=writes.Actor.system(data.site.org_id),
                    entity="users",
                    data={"name": f"Operator {i}", "role": "operator"},
                    hashed_secrets={"pin": _hash(GUESS_PIN)},
                ).id
                for i in range(n)
            ]
    finally:
        store.dispose()


def _target(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[SiteProcess, SiteData, list[str]]]:
    data = make_site(tmp_path_factory.mktemp("attack") / "site", sqlite_template)
    operators = _add_operators(data, 8)
    proc = SiteProcess(data).start()
    yield proc, data, operators
    proc.stop()


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[SiteProcess, SiteData, list[str]]]:
    yield from _target(tmp_path_factory, sqlite_template)


@pytest.fixture
def flooded_target(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[SiteProcess, SiteData, list[str]]]:
    """A site of its own for the flood: it empties the site-wide bucket of unpaired
    logins, which the other tests of this module must find full."""
    yield from _target(tmp_path_factory, sqlite_template)


@pytest.fixture
def http(target: tuple[SiteProcess, SiteData, list[str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target[0].url, timeout=10) as c:
        yield c


# ---------------------------------------------------------------- forged tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(data: SiteData, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": data.admin_id,
        "org": data.site.org_id,
        "role": "admin",
        "dev": None,
        "sid": None,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "aud": "structura",
        "iss": data.site.site_id,
        "typ": "access",
        "jti": "j-forged",
    }
    claims.update(changes)
    return claims


def _kid() -> str:
    return auth.SigningKey(JWT_SECRET.encode()).kid


def _hs(
    data: SiteData, key: bytes = JWT_SECRET.encode(), kid: str | None = None, **changes: Any
) -> str:
    return jwt.encode(
        _claims(data, **changes), key, algorithm="HS256", headers={"kid": kid or _kid()}
    )


def _raw(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWS built by hand (PyJWT refuses some of these on purpose)."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = b"" if key is None else hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(sig)}"


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_RSA_PUBLIC_PEM = _RSA.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _tampered(data: SiteData) -> str:
    # A real operator-role token whose payload is edited to say admin, signature kept.
    good = _hs(data, role="operator")
    head, _, sig = good.split(".")
    return f"{head}.{_b64(json.dumps(_claims(data, role='admin')).encode())}.{sig}"


ATTACKS: dict[str, Callable[[SiteData], str]] = {
    "alg-none": lambda d: _raw({"alg": "none", "typ": "JWT", "kid": _kid()}, _claims(d), None),
    "alg-None-case": lambda d: _raw({"alg": "None", "kid": _kid()}, _claims(d), None),
    "wrong-key": lambda d: _hs(d, key=b"w" * 64),
    "wrong-audience": lambda d: _hs(d, aud="central"),
    "expired": lambda d: _hs(d, exp=int(time.time()) - 120, iat=int(time.time()) - 900),
    "refresh-typ-as-access": lambda d: _hs(d, typ="refresh"),
    "unknown-kid": lambda d: _hs(d, kid="0123456789abcdef"),
    "kid-path-traversal": lambda d: _hs(d, kid="../../jwt-signing.key"),
    "tampered-payload": _tampered,
    # HS/RS confusion: RS256 signed with an attacker's RSA key (a server that picks the
    # algorithm from the header would verify it with whatever key it has)...
    "rs256": lambda d: jwt.encode(_claims(d), _RSA, algorithm="RS256", headers={"kid": _kid()}),
    # ...and HS256 keyed with a public key (the classic confusion, when a server keeps
    # an RSA public key as its "verification key" for any algorithm).
    "hs256-keyed-with-public-pem": lambda d: _raw(
        {"alg": "HS256", "typ": "JWT", "kid": _kid()}, _claims(d), _RSA_PUBLIC_PEM
    ),
    "embedded-jwk": lambda d: _raw(
        {"alg": "HS256", "kid": _kid(), "jwk": {"kty": "oct", "k": _b64(b"a" * 32)}},
        _claims(d),
        b"a" * 32,
    ),
    "missing-exp": lambda d: _raw(
        {"alg": "HS256", "typ": "JWT", "kid": _kid()},
        {k: v for k, v in _claims(d).items() if k != "exp"},
        JWT_SECRET.encode(),
    ),
    "only-dots": lambda d: "..",
    "garbage": lambda d: "a.b.c",
}

ROUTES = [
    ("GET", "/api/auth/me", None),
    ("GET", "/api/clients", None),
    ("POST", "/api/clients", {"name": "forged write"}),
    ("GET", "/api/users", None),
    ("POST", "/api/machines", {"name": "forged", "type": "CONFORMADORA", "ideal_rate": "1"}),
]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_forged_tokens_are_refused_on_reads_and_writes(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]], attack: str
) -> None:
    _, data, _ = target
    token = ATTACKS[attack](data)
    before = counts(data.db_path, "clients", "machines", "outbox")
    for method, path, body in ROUTES:
        r = http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, f"{attack} {method} {path}: {r.status_code} {r.text}"
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["code"] == "unauthenticated"
    assert counts(data.db_path, "clients", "machines", "outbox") == before


def test_control_the_forge_itself_works(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]]
) -> None:
    # Without this, every refusal above could be the forge's fault.
    assert http.get("/api/auth/me", headers=bearer({"access_token": _hs(target[1])})).is_success


def test_opaque_refresh_token_is_not_an_access_token(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]]
) -> None:
    tokens = target[1].mint()
    r = http.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    # And an access token is not a refresh token.
    r = http.post("/api/auth/refresh", json={"refresh_token": tokens["access_token"][:200]})
    assert r.status_code in (401, 422)


def test_token_of_another_organisation_or_site_is_refused(
    http: httpx.Client,
    target: tuple[SiteProcess, SiteData, list[str]],
    tmp_path: Path,
    sqlite_template: Path,
) -> None:
    _, data, _ = target
    # Org B's site, its own store and key: its real tokens mean nothing here.
    other = make_site(tmp_path / "org-b", sqlite_template, org_name="Other Org")
    other_policy = auth.TokenPolicy(
        key=auth.SigningKey(b"b" * 64), issuer=other.site.site_id, access_minutes=5
    )
    store = Store(sqlite_url(other.db_path))
    try:
        with store.write() as s:
            from core.models import User

            user = s.get(User, (other.site.org_id, other.admin_id))
            pair = auth.issue_tokens(s, other_policy, user, None)
    finally:
        store.dispose()
    # Even signed with this site's key and naming this site as issuer, org B is refused.
    same_key_b = _hs(data, org=other.site.org_id, sub=other.admin_id)
    before = counts(data.db_path, "clients")
    for token in (pair.access_token, same_key_b):
        for method, path, body in ROUTES:
            r = http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, r.text
    assert counts(data.db_path, "clients") == before


# ---------------------------------------------------------------- refresh reuse


def test_refresh_reuse_over_http_ends_the_whole_login(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]]
) -> None:
    _, data, _ = target
    first = http.post(
        "/api/auth/pin",
        json={"user_id": data.admin_id, "pin": ADMIN_PIN},
        headers={"X-Device-Id": "office-pc"},
    )
    assert first.status_code == 200, first.text
    t1 = first.json()
    second = http.post("/api/auth/refresh", json={"refresh_token": t1["refresh_token"]})
    assert second.status_code == 200
    t2 = second.json()
    # A thief replays the first refresh token: refused, and the family is ended...
    stolen = http.post("/api/auth/refresh", json={"refresh_token": t1["refresh_token"]})
    assert stolen.status_code == 401 and stolen.json()["code"] == "token_reused"
    # ...so the legitimate newest tokens stop working too, at once.
    assert (
        http.post("/api/auth/refresh", json={"refresh_token": t2["refresh_token"]}).status_code
        == 401
    )
    assert http.get("/api/auth/me", headers=bearer(t2)).status_code == 401


# ---------------------------------------------------------------- PIN guessing


def _guess(http: httpx.Client, user: str, pin: str, **headers: str) -> httpx.Response:
    return http.post("/api/auth/pin", json={"user_id": user, "pin": pin}, headers=headers)


def test_spoofed_forwarded_for_gains_no_guesses(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]]
) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 (its default), so every request
    below really comes from a "different client address". Nothing keys on it."""
    user = target[2][0]
    codes = []
    for i in range(auth.ACCOUNT_THRESHOLD + 3):
        ip = f"10.0.{i}.{i + 1}"
        r = _guess(
            http,
            user,
            "0000",
            **{
                "X-Forwarded-For": ip,
                "X-Real-IP": ip,
                "Forwarded": f"for={ip}",
                "X-Device-Id": "tab-1",
            },
        )
        codes.append(r.status_code)
    assert codes[: auth.ACCOUNT_THRESHOLD] == [401] * auth.ACCOUNT_THRESHOLD
    assert set(codes[auth.ACCOUNT_THRESHOLD :]) == {429}
    # The right PIN from yet another "address" on that device is still refused.
    r = _guess(http, user, GUESS_PIN, **{"X-Forwarded-For": "192.168.77.1", "X-Device-Id": "tab-1"})
    assert r.status_code == 429 and r.headers["content-type"] == PROBLEM
    assert int(r.headers["retry-after"]) >= 1


def test_rotating_device_ids_do_not_lift_the_account_lock(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]]
) -> None:
    user = target[2][1]
    refused = 0
    for i in range(auth.ACCOUNT_THRESHOLD + 5):
        r = _guess(
            http,
            user,
            f"{i:04d}",
            **{"X-Device-Id": f"spoof-{i}", "X-Forwarded-For": f"10.1.0.{i}"},
        )
        assert r.status_code in (401, 429), r.text
        refused += r.status_code == 429
    # At most ACCOUNT_THRESHOLD guesses were checked, whatever the device ids said
    # (the per-account rate limit may have stopped them even sooner).
    assert refused >= 5
    # A fresh device id with the right PIN is refused too: the lock is on the account.
    for dev in ("brand-new", "spoof-0", "spoof-3"):
        r = _guess(http, user, GUESS_PIN, **{"X-Device-Id": dev})
        assert r.status_code == 429, (dev, r.text)
    assert _guess(http, user, GUESS_PIN).status_code == 429  # no device id at all


def _pair(http: httpx.Client, data: SiteData, name: str) -> dict[str, str]:
    """Pair a tablet the way the office does: a one-time code, exchanged by the tablet."""
    office = bearer(data.mint())
    code = http.post("/api/devices/pairing", json={"name": name}, headers=office)
    assert code.status_code == 201, code.text
    cred = http.post("/api/devices/pair", json={"code": code.json()["code"]})
    assert cred.status_code == 200, cred.text
    return {"X-Device-Id": cred.json()["device_id"], "X-Device-Key": cred.json()["device_key"]}


def test_a_sniffed_device_id_is_worth_nothing(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]]
) -> None:
    """Issue 20 (4): an attacker who read a tablet's device id off the LAN spoofs it
    while guessing. Without the device key those guesses count as unpaired: they meet
    the account's unpaired lock and never touch the tablet's own counter."""
    _, data, users = target
    user = users[2]
    tablet = _pair(http, data, "Tablet of operator 2")
    sniffed = {"X-Device-Id": tablet["X-Device-Id"]}
    results = [
        _guess(http, user, f"{i:04d}", **sniffed).status_code
        for i in range(auth.ACCOUNT_THRESHOLD + 4)
    ]
    assert results.count(401) <= auth.ACCOUNT_THRESHOLD and results[-1] == 429
    assert _guess(http, user, GUESS_PIN, **sniffed).status_code == 429
    # The tablet itself, proving its key, logs in at once.
    assert _guess(http, user, GUESS_PIN, **tablet).status_code == 200


def test_a_login_flood_leaves_a_paired_tablet_able_to_log_in_and_refresh(
    flooded_target: tuple[SiteProcess, SiteData, list[str]],
) -> None:
    """Issue 20 (1): with no credentials, an attacker on the LAN floods PIN and password
    logins (the victim's account and others, the site-wide bucket exhausted). The
    victim's paired tablet still logs in and refreshes, each within 1 s."""
    import threading

    proc, data, users = flooded_target
    http = httpx.Client(base_url=proc.url, timeout=10)
    victim = users[5]
    tablet = _pair(http, data, "Victim tablet")
    before = _guess(http, victim, GUESS_PIN, **tablet)
    assert before.status_code == 200
    stop = threading.Event()
    seen: list[int] = []

    def flood(k: int) -> None:
        with httpx.Client(base_url=proc.url, timeout=10) as c:
            i = 0
            while not stop.is_set():
                i += 1
                if i % 3 == 0:
                    r = c.post("/api/auth/login", json={"email": f"x{i}@e.com", "password": "x"})
                else:
                    who = victim if i % 2 else users[6 + (k % 2)]
                    dev = {"X-Device-Id": tablet["X-Device-Id"]} if k == 0 else {}
                    r = c.post("/api/auth/pin", json={"user_id": who, "pin": "9999"}, headers=dev)
                seen.append(r.status_code)

    threads = [threading.Thread(target=flood, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(3.0)  # long enough to lock the victim's unpaired counter
        timings = []
        refresh = before.json()["refresh_token"]
        for _ in range(3):
            t0 = time.perf_counter()
            login = _guess(http, victim, GUESS_PIN, **tablet)
            t1 = time.perf_counter()
            assert login.status_code == 200, login.text
            r = http.post("/api/auth/refresh", json={"refresh_token": refresh}, headers=tablet)
            t2 = time.perf_counter()
            assert r.status_code == 200, r.text
            refresh = r.json()["refresh_token"]
            timings.append((t1 - t0, t2 - t1))
    finally:
        stop.set()
        for t in threads:
            t.join()
        http.close()
    # The flood was real (and refused: wrong PINs, then locks and limits)...
    assert len(seen) >= 20 and set(seen) <= {401, 429}, seen[:20]
    assert all(a < 1.0 and b < 1.0 for a, b in timings), timings


def test_login_rate_limit_is_per_account_not_per_address(
    http: httpx.Client, target: tuple[SiteProcess, SiteData, list[str]]
) -> None:
    """The default per-account bucket (burst 10, then one try per 2 s) caps guesses on
    one account even with a new device id *and* a new address each time."""
    user = target[2][3]
    statuses = [
        _guess(
            http, user, f"9{i:03d}", **{"X-Device-Id": f"d{i}", "X-Forwarded-For": f"10.2.0.{i}"}
        ).status_code
        for i in range(14)
    ]
    assert statuses.count(401) <= 10 and statuses[-1] == 429
    # Other accounts on the same floor are not affected.
    assert _guess(http, target[2][4], GUESS_PIN, **{"X-Device-Id": "d0"}).status_code == 200


# ---------------------------------------------------------------- CORS, Host, headers


def test_preflight_from_a_disallowed_origin_gets_no_cors_grant(http: httpx.Client) -> None:
    evil = http.options(
        "/api/clients",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert "access-control-allow-origin" not in evil.headers
    ok = http.options(
        "/api/clients",
        headers={
            "Origin": "http://office.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert ok.headers.get("access-control-allow-origin") == "http://office.example"
    assert ok.headers.get("access-control-allow-credentials") is None
    # A simple cross-origin GET from the evil origin: answered, but not readable by it.
    r = http.get("/api/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "attacker:8470"])
def test_host_header_allowlist_on_api_and_pages(http: httpx.Client, host: str) -> None:
    for path in ("/api/health", "/app/login", "/"):
        r = http.get(path, headers={"Host": host})
        assert r.status_code == 400 and r.json()["code"] == "host_not_allowed", (path, r.text)


@pytest.mark.parametrize("path", ["/app/login", "/app/", "/api/health", "/openapi.json"])
def test_security_headers_on_pages_and_api(http: httpx.Client, path: str) -> None:
    r = http.get(path, follow_redirects=True)
    assert r.status_code == 200, r.text
    h = r.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"
    csp = h["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[-1]
    assert "server" not in h  # no version banner
    if path.startswith("/api/") or path == "/openapi.json":
        assert h["cache-control"] == "no-store"


# ---------------------------------------------------------------- no secret in logs


@pytest.mark.slow  # a whole session against its own DEBUG-logging site serve
def test_no_secret_in_the_site_logs(
    tmp_path: Path, sqlite_template: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole session with every log at DEBUG and the access log on: PIN and password
    logins (right and wrong), refresh, refresh reuse, logout, the live stream with its
    token in the query string (EventSource cannot set headers), a user created with a
    PIN and password through the API. Neither the server's stderr nor this process's
    log records may contain any of the secrets or tokens."""
    import logging

    from bench.harness.sites import ADMIN_PASSWORD

    caplog.set_level(logging.DEBUG)
    data = make_site(tmp_path / "site", sqlite_template)
    # Four-digit PINs are checked below in delimited forms only: as bare substrings
    # they turn up by chance in request ids, uuids and timestamps.
    secrets: list[str] = [ADMIN_PASSWORD, JWT_SECRET, "new user pw 1234"]
    proc = SiteProcess(data, args=["--access-log", "--uvicorn-log-level", "debug"]).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=10) as http:
            dev = {"X-Device-Id": "log-test"}
            assert _guess(http, data.admin_id, "9999", **dev).status_code == 401
            t = _guess(http, data.admin_id, ADMIN_PIN, **dev).json()
            secrets += [t["access_token"], t["refresh_token"]]
            bad = http.post(
                "/api/auth/login",
                json={"email": "ada@example.com", "password": "wrong " + ADMIN_PASSWORD},
            )
            assert bad.status_code == 401
            secrets.append("wrong " + ADMIN_PASSWORD)
            p = http.post(
                "/api/auth/login", json={"email": "ada@example.com", "password": ADMIN_PASSWORD}
            ).json()
            secrets += [p["access_token"], p["refresh_token"]]
            r = http.post("/api/auth/refresh", json={"refresh_token": t["refresh_token"]}).json()
            secrets += [r["access_token"], r["refresh_token"]]
            reuse = http.post("/api/auth/refresh", json={"refresh_token": t["refresh_token"]})
            assert reuse.status_code == 401
            made = http.post(
                "/api/users",
                headers=bearer(p),
                json={
                    "name": "Nina",
                    "role": "operator",
                    "pin": "864209",
                    "email": "nina@example.com",
                    "password": "new user pw 1234",
                },
            )
            assert made.status_code == 201, made.text
            # Pairing: neither the one-time code nor the device key may be logged.
            code = http.post("/api/devices/pairing", json={"name": "T"}, headers=bearer(p))
            cred = http.post("/api/devices/pair", json={"code": code.json()["code"]}).json()
            secrets += [code.json()["code"], cred["device_key"]]
            paired = {"X-Device-Id": cred["device_id"], "X-Device-Key": cred["device_key"]}
            assert _guess(http, data.admin_id, ADMIN_PIN, **paired).status_code == 200
            with http.stream(
                "GET",
                "/api/live",
                params={"access_token": p["access_token"]},
                headers={"Accept": "text/event-stream"},
            ) as live:
                assert live.status_code == 200
            assert http.post("/api/auth/logout", headers=bearer(p)).status_code == 200
    finally:
        proc.stop()
    # This process's records, except those of the test's own HTTP client (httpx logs
    # the URLs *we* request; the server's side of the same requests is in its stderr).
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logs = (
        proc.stderr_text()
        + "\n"
        + "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in ours)
    )
    assert "POST /api/auth/pin" in logs or "/api/auth/pin" in logs  # the access log ran
    leaked = [s[:12] + "..." for s in secrets if s and s in logs]
    assert not leaked, f"secrets in logs: {leaked}"
    # PINs are short: also look for them as JSON values, not just as substrings.
    import re

    for pin in (ADMIN_PIN, "864209", "9999"):
        assert not re.search(rf"(pin|PIN)\W{{0,4}}{pin}\b|['\"]{pin}['\"]", logs), pin
