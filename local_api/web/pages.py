"""Routes for the pages (``/`` and ``/app/...``) and their static files."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from local_api.web.i18n import LANGUAGES, pick_language, strings

HERE = Path(__file__).parent
STATIC = HERE / "static"
LANG_COOKIE = "structura_lang"
# Seconds without a touch before a shared tablet drops the login (issue 4).
IDLE_SECONDS = 120


@dataclass(frozen=True)
class Page:
    name: str  # template and script name
    title_key: str
    module: str  # factory | tour | core: hidden when the site lacks the module
    roles: frozenset[str]  # who sees it in the menu (the API enforces the real rules)


ALL = frozenset({"admin", "office", "operator", "crew"})
FLOOR = frozenset({"admin", "office", "operator"})
TOUR = frozenset({"admin", "office", "crew"})
OFFICE = frozenset({"admin", "office"})

PAGES = {
    p.name: p
    for p in (
        Page("board", "nav.board", "factory", FLOOR),
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


def _asset_version() -> str:
    """Changes whenever a static file changes, so browsers pick up new scripts."""
    newest = max((p.stat().st_mtime_ns for p in STATIC.rglob("*") if p.is_file()), default=0)
    return format(newest, "x")[-8:]


def build_router(context: Any) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    site = getattr(context, "site", None)
    modules = tuple(getattr(site, "modules", ()) or ("factory", "tour"))
    site_name = getattr(site, "site_name", None) or "Structura"
    version = _asset_version()

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

    @router.get("/app/shows/{show_id}", response_class=HTMLResponse)
    def settlement(request: Request, show_id: str) -> Response:
        # show_id is only echoed into a data attribute (autoescaped); the script fetches.
        return render(request, "settlement.html", "settlement", show_id=show_id)

    @router.get("/app/static/{path:path}")
    def static(path: str) -> Response:
        return _static_file(path)

    @router.get("/app/{name}", response_class=HTMLResponse)
    def page(request: Request, name: str) -> Response:
        if name not in PAGES:
            return render(request, "notfound.html", "notfound", status=404)
        return render(request, f"{name}.html", name)

    return router


_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".json": "application/json"}  # fmt: skip


def _static_file(path: str) -> Response:
    """A file under static/, or 404. Resolving and checking the parent keeps ``..`` and
    symlinks from reaching anything else."""
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    media = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    return FileResponse(
        target,
        media_type=media or "application/octet-stream",
        # Asset URLs carry ?v=<version>, so browsers may keep them, but revalidate
        # cheaply (ETag) in case someone loads one without the version.
        headers={"Cache-Control": "no-cache"},
    )
