"""Console fixtures: the central server on real uvicorn (127.0.0.1) over a fresh
PostgreSQL database, a central admin, an organisation, and Debian's Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from central.app import create_central_app
from central.context import CentralContext
from central.enroll import create_admin, create_org
from central.settings import CentralSettings
from core.db import Store
from local_api.server import EmbeddedServer
from tests.sync.conftest import central  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "console"
DESKTOP = {"width": 1366, "height": 900}
EMAIL, PASSWORD = "root@central.test", "a long central password"


@dataclass
class Console:
    url: str
    store: Store
    ctx: CentralContext
    org_id: str
    admin_id: str


@pytest.fixture
def console(central: Store) -> Iterator[Console]:  # noqa: F811
    settings = CentralSettings(
        database_url=central.url, jwt_secret="k" * 48, console_silent_minutes=15
    )
    ctx = CentralContext(settings=settings, store=central)
    with central.write() as s:
        admin = create_admin(s, email=EMAIL, password=PASSWORD, name="Root")
        org = create_org(
            s, name="Acme Industrial", modules=["factory", "tour"], home_currency="EUR"
        ).id
    server = EmbeddedServer(create_central_app(ctx), "127.0.0.1", 0).start()
    try:
        yield Console(server.url, central, ctx, org, admin)
    finally:
        server.stop()


def form_login(client: httpx.Client, email: str = EMAIL, password: str = PASSWORD) -> str:
    """Log in through the form as a browser would; the session's CSRF token."""
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/console/login",
        data={"csrf": token, "email": email, "password": password, "next": "/console/"},
    )
    assert r.status_code == 303, r.text
    home = client.get("/console/")
    return re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]


@pytest.fixture
def new_page(browser, console: Console) -> Iterator[Callable[..., object]]:
    contexts = []
    errors: list[str] = []

    def make(locale: str = "es-ES"):
        ctx = browser.new_context(
            viewport=DESKTOP, locale=locale, base_url=console.url, timezone_id="Europe/Madrid"
        )
        ctx.set_default_timeout(8000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Failed to load resource" not in msg.text
                else None
            ),
        )
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


def browser_login(page, email: str = EMAIL, password: str = PASSWORD) -> None:
    page.goto("/console/")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(re.compile(r".*/console/$"))


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
