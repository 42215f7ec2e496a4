"""The console over real HTTP (uvicorn on 127.0.0.1, PostgreSQL): login and its cookie,
CSRF, roles, and the pages answering."""

from __future__ import annotations

import re

import httpx
import pytest

from central.console.roles import set_role
from central.enroll import create_admin, create_site
from tests.console.conftest import EMAIL, form_login

pytestmark = pytest.mark.pg


def test_login_sets_a_strict_httponly_cookie_and_pages_answer(console):
    with httpx.Client(base_url=console.url) as c:
        r = c.get("/console/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        page = c.get("/console/login")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        form_login(c)
        cookie = next(v for k, v in c.cookies.jar._cookies.items())  # noqa: F841
        setcookie = [h for h in _login_headers(console.url) if h.startswith("structura_console=")]
        assert setcookie and "httponly" in setcookie[0].lower()
        assert "samesite=strict" in setcookie[0].lower()
        for path in (
            "/console/",
            f"/console/orgs/{console.org_id}",
            f"/console/orgs/{console.org_id}/conflicts",
            f"/console/orgs/{console.org_id}/data",
            f"/console/orgs/{console.org_id}/data/machines",
            f"/console/orgs/{console.org_id}/audit",
            f"/console/orgs/{console.org_id}/reports?report=finance_month",
        ):
            assert c.get(path).status_code == 200, path


def _login_headers(url: str) -> list[str]:
    with httpx.Client(base_url=url) as c:
        page = c.get("/console/login")
        import re

        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = c.post(
            "/console/login",
            data={"csrf": token, "email": EMAIL, "password": "a long central password"},
        )
        return r.headers.get_list("set-cookie")


def test_wrong_password_and_missing_csrf_are_refused(console):
    with httpx.Client(base_url=console.url) as c:
        page = c.get("/console/login")
        import re

        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = c.post("/console/login", data={"csrf": token, "email": EMAIL, "password": "nope"})
        assert r.status_code == 303 and "error=unauthenticated" in r.headers["location"]
        r = c.post(
            "/console/login",
            data={"csrf": "forged", "email": EMAIL, "password": "a long central password"},
        )
        assert r.status_code == 403 and 'data-code="csrf_refused"' in r.text
        csrf = form_login(c)
        r = c.post(f"/console/orgs/{console.org_id}/sites", data={"name": "No token"})
        assert r.status_code == 403
        r = c.post(f"/console/orgs/{console.org_id}/sites", data={"name": "Tok", "csrf": csrf})
        assert r.status_code == 303
        assert "Tok" in c.get(f"/console/orgs/{console.org_id}").text
        assert "No token" not in c.get(f"/console/orgs/{console.org_id}").text


def test_auditor_reads_but_cannot_change_and_org_admin_sees_only_their_org(console):
    with console.store.write() as s:
        auditor = create_admin(s, email="audit@central.test", password="auditor password 1")
        set_role(s, auditor, "auditor")
        boss = create_admin(s, email="boss@central.test", password="org admin password 1")
        set_role(s, boss, "org_admin", console.org_id)
        site = create_site(s, org_id=console.org_id, name="Plant")
    from central.enroll import create_org

    with console.store.write() as s:
        other = create_org(s, name="Other Org", modules=["tour"]).id
    with httpx.Client(base_url=console.url) as c:
        csrf = form_login(c, "audit@central.test", "auditor password 1")
        assert "Other Org" in c.get("/console/").text
        r = c.post(
            f"/console/orgs/{console.org_id}/sites/{site.id}/code",
            data={"csrf": csrf, "hours": "1"},
        )
        assert r.status_code == 403 and 'data-code="console_forbidden"' in r.text
    with httpx.Client(base_url=console.url) as c:
        csrf = form_login(c, "boss@central.test", "org admin password 1")
        assert "Other Org" not in c.get("/console/").text
        assert c.get(f"/console/orgs/{other}").status_code == 403
        r = c.post(
            f"/console/orgs/{console.org_id}/sites/{site.id}/code",
            data={"csrf": csrf, "hours": "1"},
        )
        assert r.status_code == 200 and "<svg" in r.text and "structura sync enroll" in r.text


def test_metrics_carry_the_consoles_health_figures(console):
    from tests.sync.conftest import enroll_device

    enroll_device(console.store, console.org_id, "Never seen")  # enrolled, never synced
    with httpx.Client(base_url=console.url) as c:
        text = c.get("/metrics").text
        form_login(c)
        page = c.get("/console/").text
    line = f'structura_sites_silent{{org_id="{console.org_id}"}} 1.0'
    assert line in text
    assert "structura_conflicts_open{" in text and "structura_ops_refused{" in text
    assert 'class="bad">1<' in page  # the same site, silent on the overview


def test_data_lists_take_the_native_filters_and_refuse_unknown_ones(console):
    from core import writes
    from core.writes import Actor

    with console.store.write() as s:
        for name, phone in (("Ana", "1"), ("Bea", "2"), ("Carla", "3")):
            writes.create(
                s,
                actor=Actor.system(console.org_id),
                entity="clients",
                data={"name": name, "phone": phone},
            )
    base = f"/console/orgs/{console.org_id}/data/clients"
    with httpx.Client(base_url=console.url) as c:
        form_login(c)
        page = c.get(base, params={"name": "Bea"}).text
        assert "Bea" in page and "Carla" not in page
        page = c.get(base, params={"q": "carl"}).text
        assert "Carla" in page and "Bea" not in page
        page = c.get(base, params={"sort": "-name"}).text
        assert page.index("Carla") < page.index("Ana")
        bad = c.get(base, params={"colour": "red"})
        assert bad.status_code == 422 and 'data-code="invalid"' in bad.text


def test_console_login_asks_for_the_totp_code_and_shares_the_lockout(console):
    """The console's login is the admin login service: once an admin has a second
    factor the password alone gets the code field back (``totp_required``), a code is
    accepted once, and failures made on the console count in the same lockout."""
    import re
    import time

    import pyotp

    from central import admin_auth

    setup = admin_auth.start_totp(console.store, user_id=console.admin_id)
    totp = pyotp.TOTP(setup["secret"])
    admin_auth.confirm_totp(console.store, user_id=console.admin_id, code=totp.now())

    def post(c: httpx.Client, **fields: str) -> httpx.Response:
        page = c.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        data = {"csrf": token, "email": EMAIL, "password": "a long central password", **fields}
        return c.post("/console/login", data=data)

    with httpx.Client(base_url=console.url) as c:
        r = post(c)
        assert r.status_code == 303 and "error=totp_required" in r.headers["location"]
        page = c.get(r.headers["location"])
        assert 'name="totp"' in page.text
        # The confirmation's code again: a replay within its step is refused.
        assert "error=unauthenticated" in post(c, totp=totp.now()).headers["location"]
        good = post(c, totp=totp.at(time.time() + totp.interval))
        assert good.status_code == 303 and good.headers["location"] == "/console/", good.headers
        assert c.get("/console/").status_code == 200
    with httpx.Client(base_url=console.url) as c:
        answers = [post(c, password="wrong").headers["location"] for _ in range(12)]
        assert "error=unauthenticated" in answers[0]
        assert any("error=rate_limited" in a for a in answers), answers


def test_a_refused_op_is_said_in_the_admins_language_with_its_time_in_utc(console):
    """The organisation page lists the ops the central server refused: the code as it
    is (what support asks for), why in words, and when (UTC text in a <time> element,
    which the page's script shows in the browser's own zone)."""
    from central.push import push_batch
    from core.models import Organisation
    from tests.sync.conftest import enroll_device
    from tests.sync.test_push_pull import op

    dev = enroll_device(console.store, console.org_id, "Bus")
    with console.store.write() as s:
        org = s.get(Organisation, console.org_id)
        org.modules = [m for m in org.modules if m != "tour"]
    [r] = push_batch(console.store, dev.ctx, [op("create", "shows", "s1", {"city": "Lyon"})])
    assert r["reason"]["code"] == "module_disabled"
    with httpx.Client(base_url=console.url, headers={"accept-language": "es-ES"}) as c:
        form_login(c)
        page = c.get(f"/console/orgs/{console.org_id}").text
    assert "<code>module_disabled</code>" in page
    assert "El módulo de este registro no está activado para la organización." in page
    assert re.search(r'<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', page)
