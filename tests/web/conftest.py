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
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def server(seed: seed_mod.Seed) -> Iterator[str]:
    """The base URL of ``structura site serve`` on a free port."""
    env = {**os.environ, "STRUCTURA_ANNOUNCE": "false", "STRUCTURA_LOG_LEVEL": "WARNING",
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    exe = Path(sys.executable).with_name("structura")
    prog = [str(exe)] if exe.exists() else [sys.executable, "-m", "core.cli"]
    cmd = [*prog, "--data-dir", str(seed.data_dir), "site", "serve", "--host", "127.0.0.1",
           "--port", "0"]  # fmt: skip
    log = (seed.data_dir / "server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env)
    url = None
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.search(r"serving .* on (http://\S+)", line)
        if match:
            url = match.group(1).rstrip("/")
            break
    if url is None:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        log.close()
        pytest.fail("server did not start: " + (seed.data_dir / "server.log").read_text()[-3000:])
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()


@pytest.fixture(scope="session")
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


@pytest.fixture
def new_page(browser, server: str) -> Iterator[Callable[..., object]]:
    """new_page(viewport=TABLET, locale="es-ES") -> a page in a fresh context (its own
    sessionStorage, like another tablet). Script errors fail the test."""
    contexts = []
    errors: list[str] = []

    def make(viewport: dict[str, int] = TABLET, locale: str = "es-ES"):
        ctx = browser.new_context(viewport=viewport, locale=locale, base_url=server,
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
