"""The console's session, health and organisation pages (``/console/...``): login and
logout, the sync health overview, an organisation's sites and devices, enrolment codes
with their QR code, revoking a device; and the console's static files. Records
(conflicts, data, audit, reports) are in ``central.console.records``.
(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.)
"""

import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from apikit import assets
from central import enroll as svc
from central.console import health, qr
from central.console import session as sess
from central.console.web import (
    LANG_COOKIE,
    LANGUAGES,
    STATIC,
    ConsoleRoute,
    WhoDep,
    checked_form,
    form_of,
    page,
    render,
    secure,
    silent_after,
)
from central.deps import CentralDep
from core.errors import DomainError, Invalid, NotFound
from core.models import Device, Site

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

# --- login ------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/console/", error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", user=None, csrf=token, next=_safe_next(next), error=error)
    resp.set_cookie(sess.LOGIN_CSRF_COOKIE, token, **sess.cookie_args(secure(request), 900))
    return resp


def _safe_next(value: str) -> str:
    # Only a path inside the console: never an open redirect.
    return value if value.startswith("/console/") and "//" not in value else "/console/"


@router.post("/login")
async def login_post(request: Request, ctx: CentralDep) -> Response:
    form = await form_of(request)
    sess.check_csrf(request.cookies.get(sess.LOGIN_CSRF_COOKIE), form.get("csrf"))
    nxt = _safe_next(form.get("next", "/console/"))
    try:
        user_id = sess.login(
            ctx,
            email=form.get("email", ""),
            password=form.get("password", ""),
            totp=form.get("totp") or None,
        )
    except DomainError as exc:
        return RedirectResponse(
            "/console/login?" + urlencode({"next": nxt, "error": exc.code}), 303
        )
    minutes = ctx.settings.admin_token_minutes
    value, _ = sess.new_session(ctx.admin_key, user_id, minutes=minutes)
    resp = RedirectResponse(nxt, 303)
    resp.set_cookie(sess.COOKIE, value, **sess.cookie_args(secure(request), minutes * 60))
    resp.delete_cookie(sess.LOGIN_CSRF_COOKIE, path="/console")
    if (lang := form.get("lang")) in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, lang, samesite="strict", path="/")
    return resp


@router.post("/logout")
async def logout(request: Request, w: WhoDep) -> Response:
    await checked_form(request, w)
    resp = RedirectResponse("/console/login", 303)
    resp.delete_cookie(sess.COOKIE, path="/console")
    return resp


@router.post("/lang")
async def language(request: Request) -> Response:
    # Choosing a language changes nothing on the server: no session or CSRF needed.
    form = await form_of(request)
    lang = form.get("lang", "es")
    resp = RedirectResponse(_safe_next(form.get("next", "/console/")), 303)
    resp.set_cookie(LANG_COOKIE, lang if lang in LANGUAGES else "es", samesite="strict", path="/")
    return resp


# --- health and organisations -----------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: CentralDep, w: WhoDep) -> Response:
    only = w.user.org_id if w.user.role == "org_admin" else None
    with ctx.store.read() as s:
        orgs = health.all_health(s, silent_after=silent_after(ctx), only=only)
    return page(
        request, w, "overview.html", orgs=orgs, silent_minutes=ctx.settings.console_silent_minutes
    )


@router.get("/orgs/{org_id}", response_class=HTMLResponse)
def org_page(request: Request, ctx: CentralDep, w: WhoDep, org_id: str, code: str = "") -> Response:
    w.user.need_see(org_id)
    with ctx.store.read() as s:
        org = health.org_health(s, svc.get_org(s, org_id), silent_after=silent_after(ctx))
        refused = health.refused_ops(s, org_id, limit=50)
    return page(request, w, "org.html", org=org, refused=refused)


@router.post("/orgs/{org_id}/sites")
async def create_site(request: Request, ctx: CentralDep, w: WhoDep, org_id: str) -> Response:
    form = await checked_form(request, w)
    w.user.need_change(org_id)
    name = form.get("name", "").strip()
    if not name:
        raise Invalid("name must not be empty", details=[{"field": "name", "message": "empty"}])
    with ctx.store.write() as s:
        svc.create_site(s, org_id=org_id, name=name)
    return RedirectResponse(f"/console/orgs/{org_id}", 303)


@router.post("/orgs/{org_id}/sites/{site_id}/code", response_class=HTMLResponse)
async def make_code(
    request: Request, ctx: CentralDep, w: WhoDep, org_id: str, site_id: str
) -> Response:
    form = await checked_form(request, w)
    w.user.need_change(org_id)
    try:
        hours = float(form.get("hours") or 24)
    except ValueError:
        hours = -1
    if not 0 < hours <= 24 * 30:
        raise Invalid(
            "hours must be between 0 and 720",
            details=[{"field": "hours", "message": "out of range"}],
        )
    with ctx.store.write() as s:
        site = s.get(Site, site_id)
        code, rec = svc.make_enrollment_code(
            s, org_id=org_id, site_id=site_id, created_by=w.user.id, hours=hours
        )
        site_name, expires = site.name if site else site_id, rec.expires_at
    central_url = ctx.settings.public_url or str(request.base_url).rstrip("/")
    fingerprint = ctx.settings.tls_fingerprint or None
    payload = qr.enrol_payload(central_url, code, fingerprint)
    return page(
        request,
        w,
        "code.html",
        org_id=org_id,
        site_name=site_name,
        code=code,
        expires=expires,
        central_url=central_url,
        fingerprint=fingerprint,
        qr_svg=qr.svg(payload),
        command=qr.enrol_command(central_url, code, fingerprint),
    )


@router.post("/devices/{device_id}/revoke")
async def revoke(request: Request, ctx: CentralDep, w: WhoDep, device_id: str) -> Response:
    await checked_form(request, w)
    with ctx.store.write() as s:
        device = s.get(Device, device_id)
        if device is None:
            raise NotFound(f"device '{device_id}' not found")
        w.user.need_change(device.org_id)
        svc.revoke_device(s, device_id)
        org_id = device.org_id
    return RedirectResponse(f"/console/orgs/{org_id}", 303)


# --- static files -----------------------------------------------------------------------

_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@router.get("/static/{path:path}")
def static(path: str) -> Response:
    target = assets.resolve(STATIC, path)
    if target is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        target,
        media_type=_TYPES.get(target.suffix, "application/octet-stream"),
        headers={"Cache-Control": "no-cache"},
    )
