"""Routes for the pages (``/`` and ``/app/...``) and their static files."""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from apikit import assets
from local_api.web import bundle
from local_api.web.i18n import LANGUAGES, pick_language, strings, zone_cities

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC = HERE / "static"
LANG_COOKIE = "structura_lang"
# Seconds without a touch before a shared tablet drops the login: a tablet left on the
# bench must not go on acting as the last person who used it.
IDLE_SECONDS = 120


@dataclass(frozen=True)
class Page:
    name: str  # template and script name
    title_key: str
    module: str  # factory | tour | core: hidden when the site lacks the module
    roles: frozenset[str]  # who sees it in the menu (the API enforces the real rules)
    # The API reads the page's script makes first, exactly as it asks for them: the shell
    # starts them before the script has arrived (static/js/early.js).
    first_reads: tuple[str, ...] = ()


ALL = frozenset({"admin", "office", "operator", "crew"})
FLOOR = frozenset({"admin", "office", "operator"})
TOUR = frozenset({"admin", "office", "crew"})
OFFICE = frozenset({"admin", "office"})

# pages/board.js: the board and the open stops (stops.js, through listAll's query).
BOARD_READS = ("/api/board", "/api/downtimes?limit=200&ended_at__isnull=true&sort=started_at")

PAGES = {
    p.name: p
    for p in (
        Page("board", "nav.board", "factory", FLOOR, BOARD_READS),
        Page("jobs", "nav.jobs", "factory", FLOOR),
        Page("alerts", "nav.alerts", "factory", FLOOR),
        Page("day", "nav.day", "tour", TOUR),
        Page("calendar", "nav.calendar", "tour", TOUR),
        Page("travel", "nav.travel", "tour", TOUR),
        Page("shows", "nav.shows", "tour", OFFICE),
        Page("messages", "nav.messages", "core", ALL),
    )
}


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


_IMPORT = re.compile(r"""(?:^|;|\n)\s*(?:import|export)\s[^"';]*?from\s*["'](\.{1,2}/[^"']+)["']""")


@cache
def module_graph(page: str) -> tuple[str, ...]:
    """Every module a page's script imports, directly or not (paths under js/), so the
    shell can ask for them all at once (modulepreload) instead of one import level per
    round trip: on a 150 ms shop-floor link that waterfall is most of the load time."""
    root = STATIC / "js"
    start = root / "pages" / f"{page}.js"
    if not start.is_file():
        return ()
    seen: list[str] = []
    todo = [start]
    while todo:
        current = todo.pop()
        for rel in _IMPORT.findall(current.read_text(encoding="utf-8")):
            target = (current.parent / rel).resolve()
            if not target.is_relative_to(root.resolve()) or not target.is_file():
                continue
            name = target.relative_to(root.resolve()).as_posix()
            if name not in seen:
                seen.append(name)
                todo.append(target)
    return tuple(sorted(seen))


@cache
def page_scripts() -> frozenset[str]:
    return frozenset(p.stem for p in (STATIC / "js" / "pages").glob("*.js"))


@cache
def page_bundle(page: str) -> bundle.Bundle | None:
    """The page's script and its modules as one file (see bundle.py), or None: no such
    page script, or one the join cannot handle (then the shell names the modules)."""
    if page not in page_scripts():
        return None
    entry = STATIC / "js" / "pages" / f"{page}.js"
    try:
        return bundle.build(STATIC / "js", entry)
    except bundle.Unbundleable as exc:
        log.warning("page %s served as separate modules: %s", page, exc)
        return None


def bundle_url(page: str) -> str | None:
    b = page_bundle(page)
    return None if b is None else f"/app/static/bundle/{page}.{b.digest}.js"


def _asset_version() -> str:
    """Changes whenever a static file changes, so browsers pick up new scripts."""
    files = [*(p for p in STATIC.rglob("*") if p.is_file()), *assets.SHARED.values()]
    newest = max((p.stat().st_mtime_ns for p in files), default=0)
    return format(newest, "x")[-8:]


def build_router(context: Any) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    site = getattr(context, "site", None)
    modules = tuple(getattr(site, "modules", ()) or ("factory", "tour"))
    site_name = getattr(site, "site_name", None) or "Structura"
    version = _asset_version()
    for name in page_scripts():  # joined now, not on a tablet's first visit
        page_bundle(name)

    def nav() -> list[dict[str, Any]]:
        return [
            {"name": p.name, "title_key": p.title_key, "roles": " ".join(sorted(p.roles))}
            for p in PAGES.values()
            if p.module == "core" or p.module in modules
        ]

    def render(
        request: Request, template: str, page: str, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        lang = pick_language(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )
        table = strings(lang)
        html = (
            _env()
            .get_template(template)
            .render(
                lang=lang,
                languages=LANGUAGES,
                t=lambda key: table.get(key, key),
                strings=table,
                page=page,
                nav=nav(),
                site_name=site_name,
                idle_seconds=IDLE_SECONDS,
                v=version,
                bundle=bundle_url(page),
                first_reads=" ".join(PAGES[page].first_reads) if page in PAGES else "",
                preload=module_graph(page),
                **extra,
            )
        )
        # Pages are tiny shells; never serve a stale one after an upgrade.
        return HTMLResponse(
            html, status_code=status, headers={"Cache-Control": "no-cache", "Vary": "Cookie"}
        )

    @router.get("/")
    def root() -> Response:
        return RedirectResponse("/app/", status_code=303)

    @router.get("/app")
    def app_root() -> Response:
        return RedirectResponse("/app/", status_code=303)

    @router.get("/app/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        return render(request, "home.html", "home")

    @router.get("/app/login", response_class=HTMLResponse)
    def login(request: Request) -> Response:
        return render(request, "login.html", "login")

    @router.get("/app/display", response_class=HTMLResponse)
    def display(request: Request) -> Response:
        # A board screen: no login (its key is in the link's fragment), no idle logout.
        return render(request, "display.html", "display")

    @router.get("/app/shows/{show_id}", response_class=HTMLResponse)
    def settlement(request: Request, show_id: str) -> Response:
        # show_id is only echoed into a data attribute (autoescaped); the script fetches.
        return render(request, "settlement.html", "settlement", show_id=show_id)

    @router.get("/app/zones/{lang}.json")
    def zones(lang: str, v: str | None = None) -> Response:
        if lang not in LANGUAGES:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            zone_cities(lang),
            media_type="application/json",
            headers={
                "Cache-Control": "public, max-age=31536000, immutable"
                if v == version
                else "no-cache"
            },
        )

    @router.get("/app/sw.js")
    def service_worker() -> Response:
        # Served from /app/ so that its scope covers every page; never cached by HTTP
        # (the browser checks it for a new version on each visit anyway).
        return Response(
            _service_worker(version),
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    @router.get("/app/static/bundle/{name}")
    def page_script(name: str) -> Response:
        # Named by its content's digest: one URL, one content, kept a year.
        page, _, rest = name.partition(".")
        b = page_bundle(page)
        if b is None or rest != f"{b.digest}.js":
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            b.text,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @router.get("/app/static/{path:path}")
    def static(path: str, v: str | None = None) -> Response:
        # A URL with this build's version names one file's content for good: browsers
        # keep it a year without asking. Any other URL is revalidated (ETag, 304).
        forever = v == version
        return _static_file(path, forever)

    @router.get("/app/{name}", response_class=HTMLResponse)
    def page(request: Request, name: str) -> Response:
        if name not in PAGES:
            return render(request, "notfound.html", "notfound", status=404)
        return render(request, f"{name}.html", name)

    return router


@cache
def _service_worker(version: str) -> str:
    # The URLs the pages really ask for: the shell names its stylesheets, icon and
    # early.js with ?v=. Page scripts are bundles named by digest, which the worker
    # keeps as the pages that use them are visited (as it keeps their shells, see
    # sw.js); a page the join could not handle names its script with ?v= and its
    # modules without.
    urls = []
    for p in sorted(STATIC.rglob("*")):
        if not p.is_file() or (p.suffix == ".js" and p != STATIC / "js" / "early.js"):
            continue
        urls.append(f"/app/static/{p.relative_to(STATIC).as_posix()}?v={version}")
    for page in sorted(page_scripts()):
        if page_bundle(page) is None:
            urls.append(f"/app/static/js/pages/{page}.js?v={version}")
            urls += [f"/app/static/js/{m}" for m in module_graph(page)]
    urls = list(dict.fromkeys(urls))
    urls += [f"/app/static/{rel}?v={version}" for rel in assets.SHARED]
    urls += [f"/app/zones/{lang}.json?v={version}" for lang in LANGUAGES]
    text = (HERE / "sw" / "sw.js").read_text(encoding="utf-8")
    return text.replace('"__VERSION__"', json.dumps(version)).replace(
        "__ASSETS__", json.dumps(urls)
    )


_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".json": "application/json"}  # fmt: skip


def _static_file(path: str, forever: bool = False) -> Response:
    """A file under static/ (or shared, apikit.assets), or 404."""
    target = assets.resolve(STATIC, path)
    if target is None:
        return Response("not found", status_code=404, media_type="text/plain")
    media = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    return FileResponse(
        target,
        media_type=media or "application/octet-stream",
        headers={"Cache-Control": "public, max-age=31536000, immutable" if forever else "no-cache"},
    )
