"""The page router and translations, without a browser (fast, runs everywhere)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI

from local_api.web import web_router
from local_api.web.i18n import LANGUAGES, pick_language, strings
from local_api.web.pages import PAGES
from tests.api.client import ASGIClient, asgi_client

WEB = Path(__file__).resolve().parents[2] / "local_api" / "web"


def _app(modules: tuple[str, ...]) -> FastAPI:
    context = SimpleNamespace(site=SimpleNamespace(modules=modules, site_name="Sitio"))
    app = FastAPI()
    app.include_router(web_router(context))
    return app


@pytest.fixture
def client() -> Iterator[ASGIClient]:
    with asgi_client(_app(("factory", "tour"))) as c:
        yield c


def test_languages_have_the_same_keys() -> None:
    es, en = strings("es"), strings("en")
    assert set(es) == set(en)
    for key in es:  # the same placeholders, so no text loses a value in translation
        assert set(re.findall(r"\{(\w+)\}", es[key])) == set(re.findall(r"\{(\w+)\}", en[key]))


def test_every_key_used_exists() -> None:
    used = set()
    key = re.compile(r"""\bt\(\s*["']([a-z_0-9]+\.[A-Za-z_0-9.]+)["']""")
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("static/js/**/*.js")]:
        used |= set(key.findall(path.read_text()))
    assert used, "no keys found: the pattern is wrong"
    assert used - set(strings("en")) == set()


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "en-GB,en;q=0.9", "en"),
        (None, "de-DE,es;q=0.5,en;q=0.4", "es"),
        (None, "fr", "es"),
        (None, None, "es"),
        ("en", "es-ES", "en"),
        ("xx", "en", "en"),
    ],
)
def test_pick_language(cookie: str | None, header: str | None, expected: str) -> None:
    assert pick_language(cookie, header) == expected


@pytest.mark.parametrize("name", ["login", "", *PAGES])
def test_pages_render_without_inline_script(client: ASGIClient, name: str) -> None:
    resp = client.get(f"/app/{name}")
    assert resp.status_code == 200
    html = resp.text
    # Every script is a file, except the JSON strings block (data, never run).
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/app/static/' in tag or 'type="application/json"' in tag, tag
    assert "style=" not in html  # the CSP forbids inline styles too
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handlers
    page = "home" if name == "" else name
    assert (WEB / "static" / "js" / "pages" / f"{page}.js").is_file()
    # The page's script and its modules as one file, named by its content.
    scripts = re.findall(r'<script type="module" src="([^"]+)"', html)
    assert len(scripts) == 1 and re.fullmatch(
        rf"/app/static/bundle/{page}\.[0-9a-f]{{16}}\.js", scripts[0]
    )
    assert "modulepreload" not in html
    resp = client.get(scripts[0])
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    assert "immutable" in resp.headers["cache-control"]


def test_strings_block_is_json_and_escaped(client: ASGIClient) -> None:
    html = client.get("/app/board", headers={"Accept-Language": "en"}).text
    block = re.search(r'<script type="application/json" id="strings">(.*?)</script>', html, re.S)
    assert block is not None
    assert json.loads(block.group(1))["nav.board"] == "Board"
    assert '<html lang="en">' in html


def test_language_cookie_wins(client: ASGIClient) -> None:
    headers = {"Accept-Language": "es", "Cookie": "structura_lang=en"}
    html = client.get("/app/login", headers=headers).text
    assert "Who are you?" in html


def test_settlement_page_escapes_the_id(client: ASGIClient) -> None:
    html = client.get('/app/shows/a"b<c').text
    assert 'data-show-id="a&#34;b&lt;c"' in html


def test_static_files_and_no_escape(client: ASGIClient) -> None:
    js = client.get("/app/static/js/api.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert client.get("/app/static/css/app.css").headers["content-type"].startswith("text/css")
    for path in ("../pages.py", "%2e%2e/pages.py", "..%2fpages.py", "nope.js"):
        assert client.get(f"/app/static/{path}").status_code == 404


def test_unknown_page_is_404_and_root_redirects(client: ASGIClient) -> None:
    assert client.get("/app/nope").status_code == 404
    resp = client.get("/")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/app/"


def test_modules_hide_pages() -> None:
    with asgi_client(_app(("tour",))) as c:
        html = c.get("/app/day").text
    assert 'href="/app/board"' not in html
    assert 'href="/app/calendar"' in html


def test_all_languages_listed() -> None:
    assert set(LANGUAGES) == {p.stem for p in (WEB / "i18n").glob("*.json")}
