"""Login, tokens, refresh rotation and reuse, logout, lockout."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pytest

from core.clock import utcnow
from core.identity import auth
from core.models import LoginThrottle
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


def _pair(context: Any, name: str = "Tablet") -> dict[str, str]:
    """Pair a device the way the office does (a code), returning its login headers."""
    from core.writes import Actor

    with context.store.write() as s:
        p = auth.start_pairing(s, actor=Actor.system(context.site.org_id), name=name)
    cred = auth.complete_pairing(context.store, org_id=context.site.org_id, code=p.code)
    return {"X-Device-Id": cred.device_id, "X-Device-Key": cred.device_key}


def _pin(client: Any, user: str, pin: str, headers: dict[str, str]) -> Any:
    return client.post("/api/auth/pin", json={"user_id": user, "pin": pin}, headers=headers)


def test_paired_device_locks_on_its_own_guesses_only(
    client: Any, people: People, context: Any
) -> None:
    op, other = people["operator"], people["operator2"]
    tablet = _pair(context)
    for _ in range(auth.DEVICE_THRESHOLD):
        assert _pin(client, op, "999999", tablet).status_code == 401
    locked = _pin(client, op, PINS["operator"], tablet)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert locked.json()["code"] == "rate_limited"
    # Another operator on the same tablet is not affected...
    assert _pin(client, other, PINS["operator2"], tablet).status_code == 200
    # ...nor the same operator from an unpaired client (a separate counter).
    assert pin_login(client, op, PINS["operator"], device="office-pc").status_code == 200


def test_guesses_from_unpaired_clients_never_lock_a_paired_tablet(
    client: Any, people: People, context: Any
) -> None:
    op = people["operator"]
    tablet = _pair(context)
    # An attacker sprays wrong PINs, even naming the tablet's (sniffed) device id.
    for i in range(auth.ACCOUNT_THRESHOLD + 2):
        dev = tablet["X-Device-Id"] if i % 2 else f"attacker-{i}"
        assert pin_login(client, op, "999999", device=dev).status_code in (401, 429)
    # Unpaired clients (whatever id they claim, or none) are locked out of this account...
    assert pin_login(client, op, PINS["operator"], device="new-phone").status_code == 429
    assert pin_login(client, op, PINS["operator"], device=tablet["X-Device-Id"]).status_code == 429
    assert pin_login(client, op, PINS["operator"]).status_code == 429
    # ...the paired tablet still gets in, and other accounts are untouched.
    assert _pin(client, op, PINS["operator"], tablet).status_code == 200
    assert pin_login(client, people["operator2"], PINS["operator2"]).status_code == 200
    # A wrong key is no key: the claimed device counts as unpaired.
    fake = {**tablet, "X-Device-Key": "x" * 43}
    assert _pin(client, op, PINS["operator"], fake).status_code == 429


def test_a_guessing_burst_raises_an_alert_for_the_office(
    client: Any, people: People, context: Any
) -> None:
    from sqlalchemy import select

    from core.models import Alert

    op = people["operator"]
    for _ in range(auth.ACCOUNT_THRESHOLD):
        pin_login(client, op, "999999", device="x")
    with context.store.read() as s:
        alerts = list(s.scalars(select(Alert).where(Alert.kind == "login_guessing")))
    assert len(alerts) == 1 and op in alerts[0].message
    assert alerts[0].severity == "WARNING"


def test_lock_expires_and_the_count_does_not_reset_after_idle_minutes(
    client: Any, people: People, context: Any
) -> None:
    op = people["operator"]
    tablet = _pair(context)
    key = f"pdev:{context.site.org_id}:{op}:{tablet['X-Device-Id']}"
    for _ in range(auth.DEVICE_THRESHOLD):
        _pin(client, op, "999999", tablet)
    assert _pin(client, op, PINS["operator"], tablet).status_code == 429
    with context.store.write() as s:  # an hour passes: the lock is over, the count not
        row = s.get(LoginThrottle, key)
        row.locked_until = utcnow() - timedelta(seconds=1)
        row.window_started_at = utcnow() - timedelta(hours=1)
    # One more wrong guess locks again at once, for twice as long (no fresh allowance).
    assert _pin(client, op, "999999", tablet).status_code == 401
    with context.store.read() as s:
        row = s.get(LoginThrottle, key)
        assert row.failures == auth.DEVICE_THRESHOLD + 1
        wait = (row.locked_until - utcnow()).total_seconds()
        assert 2 * auth.DEVICE_BASE_LOCK - 5 < wait <= 2 * auth.DEVICE_BASE_LOCK
    with context.store.write() as s:
        s.get(LoginThrottle, key).locked_until = utcnow() - timedelta(seconds=1)
    assert _pin(client, op, PINS["operator"], tablet).status_code == 200
    with context.store.read() as s:  # a success clears the device's counter
        assert s.get(LoginThrottle, key) is None


def test_backoff_grows() -> None:
    base, cap = auth.DEVICE_BASE_LOCK, auth.DEVICE_MAX_LOCK
    t = auth.DEVICE_THRESHOLD
    waits = [auth._lock_seconds(n, t, base, cap) for n in range(t - 1, t + 8)]
    assert waits[0] == 0 and waits[1] == base and waits[2] == 2 * base
    assert max(waits) == cap
    assert auth._lock_seconds(10**9, t, base, cap) == cap  # no overflow


def test_pairing_codes_work_once(client: Any, context: Any) -> None:
    from core.writes import Actor

    with context.store.write() as s:
        p = auth.start_pairing(s, actor=Actor.system(context.site.org_id), name="Tab")
    r = client.post("/api/devices/pair", json={"code": p.code.lower()})
    assert r.status_code == 200 and len(r.json()["device_key"]) >= 40
    again = client.post("/api/devices/pair", json={"code": p.code})
    assert again.status_code == 422


def test_pairing_over_the_api_and_revoking(
    client: Any, people: People, tokens: Any, context: Any
) -> None:
    office = {"Authorization": "Bearer " + tokens("office")["access_token"]}
    crew = {"Authorization": "Bearer " + tokens("crew")["access_token"]}
    assert client.post("/api/devices/pairing", json={"name": "T"}, headers=crew).status_code == 403
    code = client.post("/api/devices/pairing", json={"name": "Tablet 2"}, headers=office).json()
    cred = client.post("/api/devices/pair", json={"code": code["code"]}).json()
    tablet = {"X-Device-Id": cred["device_id"], "X-Device-Key": cred["device_key"]}
    with context.store.read() as s:
        assert auth.is_paired(s, context.site.org_id, cred["device_id"], cred["device_key"])
    listed = client.get("/api/devices", headers=office).json()
    assert [d["name"] for d in listed if d["paired"]] == ["Tablet 2"]
    r = client.post(f"/api/devices/{cred['device_id']}/revoke", headers=office)
    assert r.status_code == 200 and r.json()["revoked_at"]
    with context.store.read() as s:
        assert not auth.is_paired(s, context.site.org_id, tablet["X-Device-Id"], cred["device_key"])


def test_refresh_is_not_throttled_by_logins(make_context: Any, people: People) -> None:
    from local_api.app import create_app
    from local_api.context import Limits
    from tests.api.client import asgi_client

    ctx = make_context(limits=Limits(login_global_rate=0.01, login_global_burst=1))
    with asgi_client(create_app(ctx), base_url="http://testserver") as c:
        good = pin_login(c, people["crew"], PINS["crew"]).json()
        assert pin_login(c, people["operator"], "999999").status_code == 429  # bucket empty
        r = c.post("/api/auth/refresh", json={"refresh_token": good["refresh_token"]})
        assert r.status_code == 200, r.text


def test_login_rate_limit_per_account(make_context: Any, people: People) -> None:
    from local_api.app import create_app
    from local_api.context import Limits
    from tests.api.client import asgi_client

    ctx = make_context(limits=Limits(login_rate=0.01, login_burst=2))
    with asgi_client(create_app(ctx), base_url="http://testserver") as c:
        for _ in range(2):
            assert pin_login(c, people["crew"], "000000").status_code == 401
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


@pytest.mark.parametrize(
    "pin, code",
    [
        ("0000", "pin_too_short"),
        ("1234", "pin_too_short"),
        ("12345", "pin_too_short"),
        ("000000", "pin_too_simple"),
        ("123456", "pin_too_simple"),
        ("987654", "pin_too_simple"),
        ("121212", "pin_too_simple"),
        ("123123", "pin_too_simple"),
        ("147258", "pin_too_common"),
        ("12a456", "pin_digits_only"),
    ],
)
def test_new_pins_follow_the_policy(client: Any, tokens: Any, pin: str, code: str) -> None:
    from core.identity.pins import pin_problem

    assert pin_problem(pin) == code
    admin = {"Authorization": "Bearer " + tokens("admin")["access_token"]}
    r = client.post("/api/users", json={"name": "N", "role": "crew", "pin": pin}, headers=admin)
    assert r.status_code == 422, r.text
    ok = client.post(
        "/api/users", json={"name": "N", "role": "crew", "pin": "583920"}, headers=admin
    )
    assert ok.status_code == 201


def test_an_old_short_pin_logs_in_and_is_asked_to_change(client: Any, people: People) -> None:
    r = pin_login(client, people["operator"], PINS["operator"])
    assert r.status_code == 200 and r.json()["pin_change_required"] is True
    auth_h = {"Authorization": "Bearer " + r.json()["access_token"]}
    weak = client.post(
        "/api/auth/pin/change",
        json={"current_pin": PINS["operator"], "new_pin": "111111"},
        headers=auth_h,
    )
    assert weak.status_code == 422
    wrong = client.post(
        "/api/auth/pin/change", json={"current_pin": "9999", "new_pin": "583920"}, headers=auth_h
    )
    assert wrong.status_code == 401
    ok = client.post(
        "/api/auth/pin/change",
        json={"current_pin": PINS["operator"], "new_pin": "583920"},
        headers=auth_h,
    )
    assert ok.status_code == 200, ok.text
    again = pin_login(client, people["operator"], "583920")
    assert again.status_code == 200 and again.json()["pin_change_required"] is False


def test_a_user_sees_their_logins_and_ends_one(client: Any, people: People) -> None:
    op = people["operator"]
    tablet = client.post(
        "/api/auth/pin",
        json={"user_id": op, "pin": PINS["operator"]},
        headers={"X-Device-Id": "tablet-7", "User-Agent": "TabletBrowser/1.0"},
    ).json()
    phone = client.post(
        "/api/auth/pin",
        json={"user_id": op, "pin": PINS["operator"]},
        headers={"X-Device-Id": "phone-2", "User-Agent": "PhoneBrowser/2.0"},
    ).json()
    mine = {"Authorization": "Bearer " + phone["access_token"]}
    listed = client.get("/api/auth/sessions", headers=mine).json()
    by_device = {s["device_id"]: s for s in listed}
    assert by_device["tablet-7"]["user_agent"] == "TabletBrowser/1.0"
    assert by_device["phone-2"]["current"] and not by_device["tablet-7"]["current"]
    assert all(s["ip_address"] for s in listed)
    # End the tablet's login from the phone: its tokens stop working at once.
    r = client.post(f"/api/auth/sessions/{by_device['tablet-7']['id']}/end", headers=mine)
    assert r.status_code == 200
    gone = client.post("/api/auth/refresh", json={"refresh_token": tablet["refresh_token"]})
    assert gone.status_code == 401
    tab = {"Authorization": "Bearer " + tablet["access_token"]}
    assert client.get("/api/auth/me", headers=tab).status_code == 401
    assert [s["device_id"] for s in client.get("/api/auth/sessions", headers=mine).json()] == [
        "phone-2"
    ]


def test_an_admin_ends_anyones_login_and_nobody_else_can(
    client: Any, people: People, tokens: Any
) -> None:
    op = client.post(
        "/api/auth/pin", json={"user_id": people["operator"], "pin": PINS["operator"]}
    ).json()
    crew = {"Authorization": "Bearer " + tokens("crew")["access_token"]}
    admin = {"Authorization": "Bearer " + tokens("admin")["access_token"]}
    q = {"user_id": people["operator"]}
    assert client.get("/api/auth/sessions", params=q, headers=crew).status_code == 403
    listed = client.get("/api/auth/sessions", params=q, headers=admin).json()
    assert len(listed) == 1
    sid = listed[0]["id"]
    assert client.post(f"/api/auth/sessions/{sid}/end", headers=crew).status_code == 403
    assert client.post(f"/api/auth/sessions/{sid}/end", headers=admin).status_code == 200
    r = client.get("/api/auth/me", headers={"Authorization": "Bearer " + op["access_token"]})
    assert r.status_code == 401


def test_audit_entries_carry_the_address_and_browser_of_the_request(
    client: Any, tokens: Any, context: Any
) -> None:
    from sqlalchemy import select

    from core.models import AuditEntry

    headers = {
        "Authorization": "Bearer " + tokens("office")["access_token"],
        "User-Agent": "OfficeBrowser/3.1",
    }
    r = client.post("/api/clients", json={"name": "Audited"}, headers=headers)
    assert r.status_code == 201
    with context.store.read() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.entity_id == r.json()["id"])).one()
    assert entry.user_agent == "OfficeBrowser/3.1" and entry.ip_address


def test_stale_counters_are_forgotten_when_new_ones_are_made(
    client: Any, people: People, context: Any
) -> None:
    """Guesses at made-up user ids make a counter each; counters with no failure for a
    week and no lock running are dropped as new ones come, so the table stays bounded.
    A counter still locking is kept, whatever its age."""
    from sqlalchemy import select

    from core.identity.throttle import FORGET

    old = utcnow() - FORGET - timedelta(minutes=1)
    with context.store.write() as s:
        for i in range(3):
            s.add(LoginThrottle(key=f"acct:{context.site.org_id}:ghost{i}", failures=3,
                                window_started_at=old, locked_until=None))  # fmt: skip
        s.add(LoginThrottle(key=f"acct:{context.site.org_id}:locked", failures=30,
                            window_started_at=old,
                            locked_until=utcnow() + timedelta(minutes=5)))  # fmt: skip
    assert _pin(client, "no-such-user", "999999", {}).status_code == 401
    with context.store.read() as s:
        keys = {r.key for r in s.scalars(select(LoginThrottle))}
    assert not any(":ghost" in k for k in keys)
    assert f"acct:{context.site.org_id}:locked" in keys
    assert len(keys) == 2  # the locked one and the new guess's own
