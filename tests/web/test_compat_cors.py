"""A real cross-origin browser request: Chromium (Playwright) on a page served from
another 127.0.0.1 port logs in with a PIN and reads and writes through the factory
compatibility API, as the old app would from its Vite dev server; an origin the site
did not list is refused by the browser."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import (  # the fixture too: it lives with the compat tests
    ADMIN_PIN,
    CompatSite,
    compat_site,  # noqa: F401
    free_port,
)

pytestmark = pytest.mark.browser

PAGE = "<!doctype html><html><head><title>old app</title></head><body>old app</body></html>"

# What the app's apiClient does, in the page: JSON headers, bearer token.
SCRIPT = """async ({api, pin}) => {
  const call = async (path, init = {}) => {
    const token = localStorage.getItem('auth_token');
    const r = await fetch(api + path, {...init, headers: {'Content-Type': 'application/json',
      ...(token ? {Authorization: `Bearer ${token}`} : {})}});
    return {status: r.status, body: await r.json()};
  };
  const login = await call('/api/auth/login', {method: 'POST', body: JSON.stringify({pin})});
  localStorage.setItem('auth_token', login.body.token);
  const created = await call('/api/clients', {method: 'POST',
    body: JSON.stringify({id: 'c-browser', name: 'Desde el navegador'})});
  const list = await call('/api/clients');
  return {login: login.status, created: created.status, names: list.body.map(c => c.name)};
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _serve(directory: Path, port: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pages(tmp_path: Path, compat_site: CompatSite) -> Iterator[tuple[str, str]]:  # noqa: F811
    (tmp_path / "index.html").write_text(PAGE)
    port = int(compat_site.page_origin.rsplit(":", 1)[1])
    listed = _serve(tmp_path, port)
    other = _serve(tmp_path, free_port())
    try:
        yield next(listed), next(other)
    finally:
        for gen in (listed, other):
            next(gen, None)


def test_cross_origin_browser_request(
    browser: Any,
    compat_site: CompatSite,  # noqa: F811
    pages: tuple[str, str],
) -> None:
    # The web suite's one Chromium (tests/web/conftest.py): a second sync Playwright in
    # the same process would collide with its event loop.
    listed, other = pages
    api = f"{compat_site.url}/compat/factory"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{listed}/index.html")
        out = page.evaluate(SCRIPT, {"api": api, "pin": ADMIN_PIN})
        assert out["login"] == 200 and out["created"] == 201
        assert "Desde el navegador" in out["names"]
        # A page on an origin the site did not list: the browser blocks the answer.
        page.goto(f"{other}/index.html")
        blocked = page.evaluate(
            "async (api) => { try { await fetch(api + '/api/auth/me', {headers: "
            "{'Content-Type': 'application/json'}}); return 'read'; } "
            "catch (e) { return 'blocked'; } }",
            api,
        )
        assert blocked == "blocked"
    finally:
        context.close()
