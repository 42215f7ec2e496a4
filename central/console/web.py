"""What every console page shares: templates and catalogs (es, en), the admin's
session (``Who``) and form parsing with the CSRF check, and the route class that turns
domain errors into a page in the admin's language (no session: to the login page).
(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.)
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from apikit.words import conflict_template, entity_label, field_label
from central.console import session as sess
from central.console.roles import ConsoleUser, console_user
from central.context import CentralContext
from central.deps import CentralDep
from core.errors import DomainError, Unauthenticated
from core.sync import reasons

HERE = Path(__file__).parent
STATIC = HERE / "static"
LANGUAGES = ("es", "en")
LANG_COOKIE = "structura_lang"


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@cache
def strings(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((HERE / "i18n" / f"{lang}.json").read_text("utf-8"))
    return data


def pick_language(request: Request) -> str:
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    for part in request.headers.get("accept-language", "").split(","):
        primary = part.strip().split(";")[0].split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return "es"


def when(value: datetime | str | None, seconds: bool = False) -> Markup:
    """A moment as UTC text in a ``<time>`` element: the pages say UTC when they are
    read without their script, which shows it in the browser's own time zone and
    language (console.js)."""
    if value is None or value == "":
        return Markup("")
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}">{}</time>').format(at.isoformat(), text)


def render(request: Request, template: str, status: int = 200, **extra: Any) -> HTMLResponse:
    lang = pick_language(request)
    table = strings(lang)

    def t(key: str, **params: Any) -> str:
        text = table.get(key, key)
        return text.format(**params) if params else text

    def field(name: str) -> str:
        """A field's name in words, as the desktop calls it (``apikit.words``)."""
        return field_label(name, lang)

    def refusal(code: str, message: str) -> str:
        """Why the central server refused an op, in words, as a refused op's conflict
        record is worded (``core.sync.reasons``)."""
        reason = reasons.Reason(code, {"message": message})
        return reasons.word("rejected", reason, partial(conflict_template, lang))

    def entity_name(name: str) -> str:
        return entity_label(name, lang)

    html = (
        _env()
        .get_template(template)
        .render(
            lang=lang,
            t=t,
            field=field,
            refusal=refusal,
            when=when,
            entity_name=entity_name,
            strings=table,
            path=request.url.path,
            **extra,
        )
    )
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", "Vary": "Cookie"}
    )


class ConsoleRoute(APIRoute):
    """Domain errors become a page in the admin's language; no session: to the login."""

    def get_route_handler(self) -> Callable[..., Any]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except Unauthenticated:
                nxt = request.url.path if request.method == "GET" else "/console/"
                return RedirectResponse("/console/login?" + urlencode({"next": nxt}), 303)
            except DomainError as exc:
                return render(
                    request,
                    "error.html",
                    status=exc.status,
                    code=exc.code,
                    message=exc.message,
                    user=None,
                    csrf="",
                )

        return handler


# --- the session ------------------------------------------------------------------------


class Who:
    def __init__(self, user: ConsoleUser, csrf: str) -> None:
        self.user, self.csrf = user, csrf


def who(request: Request, ctx: CentralDep) -> Who:
    claims = sess.read_session(ctx.admin_key, request.cookies.get(sess.COOKIE))
    with ctx.store.read() as s:
        return Who(console_user(s, claims["sub"]), claims["csrf"])


WhoDep = Annotated[Who, Depends(who)]


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form (the console posts nothing else), last value of each field."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


async def checked_form(request: Request, w: Who) -> dict[str, str]:
    form = await form_of(request)
    sess.check_csrf(w.csrf, form.get("csrf"))
    return form


def page(request: Request, w: Who, template: str, **extra: Any) -> HTMLResponse:
    return render(request, template, user=w.user, csrf=w.csrf, **extra)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def silent_after(ctx: CentralContext) -> float:
    return float(ctx.settings.console_silent_minutes) * 60
