"""Login, tokens, refresh rotation and reuse, logout, lockout."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pytest

from core.clock import utcnow
from core.models import LoginThrottle
from core.services import auth
from tests.api.conftest import PASSWORD, PINS, People, pin_login


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_password_login_me_and_token_claims(client: Any, people: People, context: Any) -> None:
    r = client.post("/api/auth/login", json={"email": "Office@Example.com ", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"]["role"] == "office"
    assert "pin_hash" not in body["user"] and "password_hash" not in body["user"]
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256" and header["kid"] == context.jwt_key.kid
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "structura" and claims["iss"] == context.site.site_id
    assert claims["typ"] == "access" and claims["sub"] == people["office"]
    assert {"exp", "iat", "nbf", "jti"} <= claims.keys()
    me = client.get("/api/auth/me", headers=_bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == people["office"]


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "office@example.com", "password": "wrong password"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": "operator@example.com", "password": PASSWORD},  # has no password
    ],
)
def test_password_login_refused(client: Any, people: People, payload: dict[str, str]) -> None:
    r = client.post("/api/auth/login", json=payload)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["code"] == "unauthenticated"


def test_pin_login_and_keypad_list(client: Any, people: People) -> None:
    users = client.get("/api/auth/pin-users").json()
    assert {u["id"] for u in users} == {people[k] for k in PINS if k != "inactive"}
    assert all(set(u) == {"id", "name", "role", "language"} for u in users)
    r = pin_login(client, people["operator"], PINS["operator"])
    assert r.status_code == 200 and r.json()["user"]["role"] == "operator"
    assert pin_login(client, people["operator"], "9999").status_code == 401


def test_inactive_user_cannot_log_in(client: Any, people: People) -> None:
    assert pin_login(client, people["inactive"], PINS["inactive"]).status_code == 401


def test_deactivated_user_token_stops_working(
    client: Any, admin: Any, people: People, as_: Any
) -> None:
    headers = as_("operator")
    assert client.get("/api/me/jobs", headers=headers).status_code == 200
    user = admin.get(f"/api/users/{people['operator']}").json()
    r = admin.patch(
        f"/api/users/{people['operator']}",
        json={"is_active": False},
        headers={"If-Match": str(user["version"])},
    )
    assert r.status_code == 200, r.text
    assert client.get("/api/me/jobs", headers=headers).status_code == 401


def test_refresh_rotates_and_reuse_revokes_family(client: Any, people: People) -> None:
    first = pin_login(client, people["crew"], PINS["crew"]).json()
    r = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/auth/me", headers=_bearer(second["access_token"])).status_code == 200
    # The first token again: someone copied it. The whole login ends.
    reuse = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["code"] == "token_reused"
    again = client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 401
    # Access tokens of the ended login stop too (they name the family).
    assert client.get("/api/auth/me", headers=_bearer(second["access_token"])).status_code == 401
    # Another login of the same user is unaffected.
    other = pin_login(client, people["crew"], PINS["crew"]).json()
    assert client.get("/api/auth/me", headers=_bearer(other["access_token"])).status_code == 200


def test_refresh_with_garbage_token(client: Any) -> None:
    r = client.post("/api/auth/refresh", json={"refresh_token": "x" * 43})
    assert r.status_code == 401


def test_logout_revokes_login(client: Any, people: People) -> None:
    t = pin_login(client, people["operator"], PINS["operator"]).json()
    r = client.post("/api/auth/logout", headers=_bearer(t["access_token"]))
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert client.get("/api/auth/me", headers=_bearer(t["access_token"])).status_code == 401
    r = client.post("/api/auth/refresh", json={"refresh_token": t["refresh_token"]})
    assert r.status_code == 401


# ---------------------------------------------------------------- JWT negatives


def _forge(context: Any, people: People, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": people["admin"],
        "org": context.site.org_id,
        "role": "admin",
        "dev": None,
        "sid": None,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "aud": "structura",
        "iss": context.site.site_id,
        "typ": "access",
        "jti": "j1",
    }
    key = changes.pop("_key", context.jwt_key.secret)
    alg = changes.pop("_alg", "HS256")
    kid = changes.pop("_kid", context.jwt_key.kid)
    drop = changes.pop("_drop", ())
    claims.update(changes)
    for k in drop:
        claims.pop(k)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _alg_none(context: Any, people: People) -> str:
    import base64
    import json

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    good = jwt.decode(_forge(context, people), options={"verify_signature": False})
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': context.jwt_key.kid})}.{b64(good)}."


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda c, p: _alg_none(c, p), id="alg-none"),
        pytest.param(lambda c, p: _forge(c, p, _key=b"z" * 48), id="wrong-key"),
        pytest.param(lambda c, p: _forge(c, p, aud="other"), id="wrong-audience"),
        pytest.param(lambda c, p: _forge(c, p, iss="other-site"), id="wrong-issuer"),
        pytest.param(lambda c, p: _forge(c, p, exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda c, p: _forge(c, p, nbf=int(time.time()) + 600), id="not-yet"),
        pytest.param(lambda c, p: _forge(c, p, typ="refresh"), id="refresh-as-access"),
        pytest.param(lambda c, p: _forge(c, p, _kid="unknown"), id="unknown-kid"),
        pytest.param(lambda c, p: _forge(c, p, _drop=("exp",)), id="no-exp"),
        pytest.param(lambda c, p: _forge(c, p, _alg="HS512"), id="other-alg"),
        pytest.param(lambda c, p: _forge(c, p, org="other-org"), id="other-org"),
        pytest.param(lambda c, p: "not.a.token", id="garbage"),
    ],
)
def test_bad_tokens_refused(client: Any, context: Any, people: People, make: Any) -> None:
    token = make(context, people)
    r = client.get("/api/auth/me", headers=_bearer(token))
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_forged_valid_token_accepted(client: Any, context: Any, people: People) -> None:
    # The control for the table above: the same forge with nothing wrong passes.
    assert client.get("/api/auth/me", headers=_bearer(_forge(context, people))).status_code == 200


def test_missing_token(client: Any) -> None:
    r = client.get("/api/auth/me")
    assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"]


# ---------------------------------------------------------------- lockout


def test_pin_lockout_is_per_account_and_device(client: Any, people: People, context: Any) -> None:
    op, other = people["operator"], people["operator2"]
    for _ in range(auth.DEVICE_THRESHOLD):
        assert pin_login(client, op, "9999", device="tablet-1").status_code == 401
    locked = pin_login(client, op, PINS["operator"], device="tablet-1")
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert locked.json()["code"] == "rate_limited"
    # Another operator on the same tablet is not affected...
    assert pin_login(client, other, PINS["operator2"], device="tablet-1").status_code == 200
    # ...nor the same operator on another device (account threshold not reached).
    assert pin_login(client, op, PINS["operator"], device="tablet-2").status_code == 200


def test_account_lock_spares_known_devices(client: Any, people: People, context: Any) -> None:
    op = people["operator"]
    # The operator's own terminal has logged in before.
    assert pin_login(client, op, PINS["operator"], device="own-terminal").status_code == 200
    # An attacker sprays wrong PINs from many device ids.
    for i in range(auth.ACCOUNT_THRESHOLD):
        assert pin_login(client, op, "9999", device=f"attacker-{i}").status_code == 401
    # Unknown devices (and no device id at all) are locked out of this account now...
    assert pin_login(client, op, PINS["operator"], device="new-phone").status_code == 429
    assert pin_login(client, op, PINS["operator"]).status_code == 429
    # ...the operator's terminal still gets in, and other accounts are untouched.
    assert pin_login(client, op, PINS["operator"], device="own-terminal").status_code == 200
    assert pin_login(client, people["operator2"], PINS["operator2"]).status_code == 200


def test_lock_expires(client: Any, people: People, context: Any) -> None:
    op = people["operator"]
    for _ in range(auth.DEVICE_THRESHOLD):
        pin_login(client, op, "9999", device="t")
    assert pin_login(client, op, PINS["operator"], device="t").status_code == 429
    with context.store.write() as s:  # let the lock window pass
        row = s.get(LoginThrottle, f"dev:{context.site.org_id}:{op}:t")
        row.locked_until = utcnow() - timedelta(seconds=1)
    assert pin_login(client, op, PINS["operator"], device="t").status_code == 200
    with context.store.read() as s:  # a success clears the device's counter
        assert s.get(LoginThrottle, f"dev:{context.site.org_id}:{op}:t") is None


def test_backoff_grows() -> None:
    base, cap = auth.DEVICE_BASE_LOCK, auth.DEVICE_MAX_LOCK
    t = auth.DEVICE_THRESHOLD
    waits = [auth._lock_seconds(n, t, base, cap) for n in range(t - 1, t + 8)]
    assert waits[0] == 0 and waits[1] == base and waits[2] == 2 * base
    assert max(waits) == cap


def test_login_rate_limit_per_account(make_context: Any, people: People) -> None:
    from local_api.app import create_app
    from local_api.context import Limits
    from tests.api.client import asgi_client

    ctx = make_context(limits=Limits(login_rate=0.01, login_burst=2))
    with asgi_client(create_app(ctx), base_url="http://testserver") as c:
        for _ in range(2):
            assert pin_login(c, people["crew"], "0000").status_code == 401
        r = pin_login(c, people["crew"], PINS["crew"])
        assert r.status_code == 429 and "retry-after" in r.headers
        # Per account, not per client: another user from the same client is fine.
        assert pin_login(c, people["operator"], PINS["operator"]).status_code == 200


def test_a_user_changes_their_own_language_and_nothing_else(app: Any, as_: Any) -> None:
    from tests.api.client import asgi_client

    with asgi_client(app, base_url="http://testserver") as c:
        c.headers.update(as_("operator"))
        r = c.patch("/api/auth/me", json={"language": "en"})
        assert r.status_code == 200, r.text
        assert r.json()["language"] == "en" and c.get("/api/auth/me").json()["language"] == "en"
        assert c.patch("/api/auth/me", json={"role": "admin"}).status_code == 422
        assert c.patch("/api/auth/me", json={"language": "fr"}).status_code == 422
