"""The console's record pages: conflicts across the sites of an organisation with
field-by-field resolution, every entity's rows (read only, the native filters), the
audit log by who, what, when and site, and reports with CSV and XLSX export.
(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.)
"""

from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from apikit.rows import filters_from
from apikit.security import request_origin
from apikit.words import conflict_kind, conflict_template, conflict_words
from central import enroll as svc
from central.console import health, reports
from central.console.web import (
    ConsoleRoute,
    WhoDep,
    checked_form,
    page,
    pick_language,
)
from central.data_routes import LIST_PARAMS
from central.deps import CentralDep
from core import queries
from core.errors import NotFound
from core.models import AuditEntry, Device, Site, User
from core.registry import registry, spec_for
from core.sync import reasons
from core.sync.conflicts import list_conflicts, resolve_conflict
from core.writes import Actor

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

# --- conflicts --------------------------------------------------------------------------


@router.get("/orgs/{org_id}/conflicts", response_class=HTMLResponse)
def conflicts(
    request: Request, ctx: CentralDep, w: WhoDep, org_id: str, show: str = "open"
) -> Response:
    w.user.need_see(org_id)
    with ctx.store.read() as s:
        org = svc.get_org(s, org_id)
        listed = list_conflicts(s, org_id, open_only=show != "all")
        sites = health.conflict_sites(s, org_id)
    lang = pick_language(request)
    words = conflict_words(lang)
    for c in listed:
        c["site"] = sites.get(c["device_id"] or "", c["device_id"] or "")
        c["kind_text"] = conflict_kind(c["kind"], lang)
        c["reason_text"] = reasons.describe(
            c["kind"], c["reason"], partial(conflict_template, lang)
        )
        choice = _choice(c["resolution"])
        c["choice_text"] = words.get(f"choice.{choice}", choice)
        c["rows"] = [
            {"field": f, "server": c["winning_values"].get(f), "site": c["losing_values"].get(f)}
            for f in (c["fields"] or sorted(set(c["losing_values"]) | set(c["winning_values"])))
        ]
    return page(request, w, "conflicts.html", org=org, conflicts=listed, show=show)


def _choice(resolution: dict[str, Any] | None) -> str:
    """How a resolved conflict was settled; records resolved on a site's desktop
    before it went through ``resolve_conflict`` say which fields they kept instead."""
    if not resolution:
        return ""
    if "choice" in resolution:
        return str(resolution["choice"])
    return "values" if resolution.get("kept_mine") else "server"


@router.post("/orgs/{org_id}/conflicts/{conflict_id}/resolve")
async def resolve(
    request: Request, ctx: CentralDep, w: WhoDep, org_id: str, conflict_id: str
) -> Response:
    """Field by field: each field keeps the central value or takes the site's. All
    central means ``server``; otherwise the chosen values are written (``values``)."""
    form = await checked_form(request, w)
    w.user.need_change(org_id)
    actor = Actor(org_id=org_id, user_id=w.user.id, role="admin", **request_origin(request))
    with ctx.store.write() as s:
        svc.get_org(s, org_id)
        found = [c for c in list_conflicts(s, org_id, open_only=True) if c["id"] == conflict_id]
        if not found:
            raise NotFound(f"conflict '{conflict_id}' not found")
        c = found[0]
        picked = {
            f: c["losing_values"].get(f)
            for f in c["losing_values"]
            if form.get(f"field:{f}") == "site"
        }
        if picked:
            resolve_conflict(
                s, actor=actor, conflict_id=conflict_id, choice="values", values=picked
            )
        else:
            resolve_conflict(s, actor=actor, conflict_id=conflict_id, choice="server")
    return RedirectResponse(f"/console/orgs/{org_id}/conflicts", 303)


# --- data and audit ---------------------------------------------------------------------

PAGE_SIZE = 50
BOOKKEEPING = frozenset(
    {
        "id",
        "org_id",
        "version",
        "sync_version",
        "field_versions",
        "created_at",
        "updated_at",
        "updated_by",
        "deleted_at",
        "extra",
    }
)


def _entities(org: Any) -> list[str]:
    """The entities the organisation's modules have (worded by the page, ``entity_name``)."""
    return [
        sp.name
        for sp in registry().values()
        if sp.module == "core" or sp.module in (org.modules or ())
    ]


@router.get("/orgs/{org_id}/data", response_class=HTMLResponse)
def data_index(request: Request, ctx: CentralDep, w: WhoDep, org_id: str) -> Response:
    w.user.need_see(org_id)
    with ctx.store.read() as s:
        org = svc.get_org(s, org_id)
    entities = _entities(org)
    return page(request, w, "data.html", org=org, entities=entities, entity=None)


@router.get("/orgs/{org_id}/data/{entity}", response_class=HTMLResponse)
def data_list(request: Request, ctx: CentralDep, w: WhoDep, org_id: str, entity: str) -> Response:
    """The native list (``core.queries.list_rows``): the same filters (``field=value``,
    ``field__gte=``...), search, sort and cursor as ``/api/{entity}`` on a site."""
    w.user.need_see(org_id)
    spec = spec_for(entity)
    params = request.query_params
    filters = filters_from(request, LIST_PARAMS)  # the central data routes' own rule
    with ctx.store.read() as s:
        org = svc.get_org(s, org_id)
        page_ = queries.list_rows(
            s,
            spec,
            org_id,
            filters=filters,
            q=params.get("q") or None,
            sort=params.get("sort") or None,
            limit=PAGE_SIZE,
            offset=0,
            cursor=params.get("cursor") or None,
            include_deleted=params.get("include_deleted") == "true",
        )
    rows = [queries.row_json(spec, r) for r in page_.items]
    # The entity's own fields first (the first ten), then when and which version.
    hidden = set(spec.secret_inputs.values()) | BOOKKEEPING
    own = [c for c in (rows[0] if rows else {}) if c not in hidden][:10]
    columns = [*own, "updated_at", "version", "id"] if rows else []
    nxt = None
    if page_.next_cursor:
        nxt = "?" + urlencode({**dict(params), "cursor": page_.next_cursor})
    entities = _entities(org)
    return page(
        request,
        w,
        "data.html",
        org=org,
        entities=entities,
        entity=entity,
        rows=rows,
        columns=columns,
        next=nxt,
        params=dict(params),
    )


@router.get("/orgs/{org_id}/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    ctx: CentralDep,
    w: WhoDep,
    org_id: str,
    who: str = "",
    what: str = "",
    since: str = "",
    until: str = "",
    site: str = "",
) -> Response:
    """The audit log by who (user id), what (entity, or entity/id), when (dates) and
    site (the site whose device made the change)."""
    w.user.need_see(org_id)
    a = AuditEntry
    stmt = select(a).where(a.org_id == org_id)
    if who:
        stmt = stmt.where(a.actor_id == who)
    if what:
        entity, _, entity_id = what.partition("/")
        stmt = stmt.where(a.entity == entity)
        if entity_id:
            stmt = stmt.where(a.entity_id == entity_id)
    if since or until:
        start, end = reports.period_bounds(since or None, until or None, days=36500)
        stmt = stmt.where(a.at >= start, a.at < end)
    with ctx.store.read() as s:
        org = svc.get_org(s, org_id)
        sites = list(s.scalars(select(Site).where(Site.org_id == org_id).order_by(Site.name)))
        if site:
            stmt = stmt.where(a.device_id.in_(select(Device.id).where(Device.site_id == site)))
        names = health.conflict_sites(s, org_id)
        people = {
            u.id: u.name
            for u in s.scalars(select(User).where(User.org_id.in_((org_id, svc.CENTRAL_ORG))))
        }
        entries = [
            {
                "seq": e.seq,
                "at": e.at,
                "who": people.get(e.actor_id or "", e.actor_id),
                "site": names.get(e.device_id or "", ""),
                "entity": e.entity,
                "entity_id": e.entity_id,
                "kind": e.kind,
                "version": e.version,
                "changes": _changes(e.changes),
            }
            for e in s.scalars(stmt.order_by(a.seq.desc()).limit(200))
        ]
    return page(
        request,
        w,
        "audit.html",
        org=org,
        entries=entries,
        sites=sites,
        f={"who": who, "what": what, "since": since, "until": until, "site": site},
    )


EMPTY = "\u2013"  # an en dash, as the tables show an empty value


def _shown(value: Any) -> str:
    return EMPTY if value is None else str(value)


def _changes(changes: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, before, after) of an audit entry, fields that stayed empty left out."""
    out = []
    for name, pair in (changes or {}).items():
        before, after = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        if before is None and after is None:
            continue
        out.append((name, _shown(before), _shown(after)))
    return out


# --- reports ----------------------------------------------------------------------------


@router.get("/orgs/{org_id}/reports", response_class=HTMLResponse)
def report_page(
    request: Request,
    ctx: CentralDep,
    w: WhoDep,
    org_id: str,
    report: str = "oee",
    start: str = "",
    end: str = "",
    format: str = "",
) -> Response:
    w.user.need_see(org_id)
    a, b = reports.period_bounds(start or None, end or None)
    with ctx.store.read() as s:
        org = svc.get_org(s, org_id)
        rep = reports.build(s, report, org_id, a, b)
    stem = f"{report}-{a.date().isoformat()}-{(b.date()).isoformat()}"
    if format == "csv":
        return Response(
            reports.to_csv(rep),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    if format == "xlsx":
        return Response(
            reports.to_xlsx(rep),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
        )
    query = urlencode({"report": report, "start": a.date().isoformat(), "end": _last_day(b)})
    return page(
        request,
        w,
        "reports.html",
        org=org,
        rep=rep,
        names=reports.REPORTS,
        start=a.date().isoformat(),
        end=_last_day(b),
        query=query,
    )


def _last_day(end: Any) -> str:
    return str((end - timedelta(days=1)).date().isoformat())
