"""Browser test fixtures: a real ``structura site serve`` on 127.0.0.1 over a store built
by ``seed.build``, and Debian's Chromium driven by Playwright (never a downloaded one).

The server and the browser are started once per session (the suite must stay fast); each
test works on its own rows of the seed so the order of tests does not matter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.serving import serving_url
from tests.web import seed as seed_mod

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots" / "web"


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> seed_mod.Seed:
    return seed_mod.build(tmp_path_factory.mktemp("web-site"))


class Server:
    """``structura site serve`` over a data directory, on a port that it keeps when it is
    stopped and started again (a tablet's site going away and coming back)."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir, self.port = data_dir, port
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        env = {**os.environ, "STRUCTURA_ANNOUNCE": "false", "STRUCTURA_LOG_LEVEL": "WARNING",
               "PYTHONUNBUFFERED": "1"}  # fmt: skip
        exe = Path(sys.executable).with_name("structura")
        prog = [str(exe)] if exe.exists() else [sys.executable, "-m", "core.cli"]
        cmd = [*prog, "--data-dir", str(self.data_dir), "site", "serve", "--host", "127.0.0.1",
               "--port", str(self.port)]  # fmt: skip
        log = (self.data_dir / "server.log").open("a")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                                env=env)  # fmt: skip
        log.close()
        url = serving_url(proc, 30)
        self.proc = proc
        if url is None:
            self.stop()
            tail = (self.data_dir / "server.log").read_text()[-3000:]
            pytest.fail("server did not start: " + tail)
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        # The first page load pays for imports and caches in the server; on a loaded
        # machine that outlasts the pages' 5 s timeout, so warm up once, patiently.
        httpx.get(f"{url}/app/login", timeout=60).raise_for_status()
        return url

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="session")
def server(seed: seed_mod.Seed) -> Iterator[str]:
    """The base URL of ``structura site serve`` on a free port."""
    srv = Server(seed.data_dir)
    try:
        yield srv.start()
    finally:
        srv.stop()


# Per module, not per session: Playwright's sync API keeps an event loop running in the
# main thread while it is open, and a later test on the same xdist worker that calls
# asyncio.run() would then fail; closing it after each module ends the loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def page_maker(browser, base_url: str) -> Iterator[Callable[..., object]]:
    """make(viewport=TABLET, locale="es-ES") -> a page in a fresh context (its own
    sessionStorage, like another tablet). Script errors fail the test."""
    contexts = []
    errors: list[str] = []

    def make(viewport: dict[str, int] = TABLET, locale: str = "es-ES"):
        ctx = browser.new_context(viewport=viewport, locale=locale, base_url=base_url,
                                  timezone_id="Europe/Madrid")  # fmt: skip
        ctx.set_default_timeout(5000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(f"console: {msg.text}")
                if msg.type == "error" and not _expected(msg.text) else None)  # fmt: skip
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


@pytest.fixture
def new_page(browser, server: str) -> Iterator[Callable[..., object]]:
    """Pages on the session's shared site (tests there work on their own rows)."""
    with page_maker(browser, server) as make:
        yield make


@pytest.fixture
def own_site(tmp_path: Path) -> Iterator[Server]:
    """A site of the test's own, from the same seed: for a test that changes state other
    tests read (a machine's stops), or that stops and starts the server."""
    seed_mod.build(tmp_path / "site")
    srv = Server(tmp_path / "site")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def own_page(browser, own_site: Server) -> Iterator[Callable[..., object]]:
    """Like ``new_page``, on the test's own site."""
    with page_maker(browser, own_site.url) as make:
        yield make


def _expected(text: str) -> bool:
    # Chromium logs every failed HTTP response to the console; the tests provoke those
    # on purpose (wrong PIN 401, conflict 409, tampered token 401).
    return "Failed to load resource" in text


def enter_pin(page, user: str, pin: str | None = None) -> None:
    """On the login page: pick the user, tap the PIN on the keypad, submit."""
    page.locator(f'button[data-user-id="{user}"]').click()
    for digit in pin or seed_mod.PINS[user]:
        page.locator(f'.keypad button[data-digit="{digit}"]').click()
    page.locator("#pin-submit").click()


def login(page, user: str, next_path: str = "/app/") -> None:
    """Log in through the keypad, as a person would."""
    page.goto("/app/login" + (f"?next={next_path}" if next_path != "/app/" else ""))
    enter_pin(page, user)
    page.wait_for_url(re.compile(r".*/app/(?!login).*"))


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
