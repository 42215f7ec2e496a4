"""The old tour app (``apiClient`` and ``ShowStore`` of its backend plan): accounts by
e-mail and password, and shows with their costs nested, as the app keeps them.

A show's ``costs`` are rows of their own here (``show_costs``); a show written with
``costs`` creates, changes and deletes those rows to match, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import rules, writes
from core.clock import uuid7
from core.compat import rows
from core.db import Store
from core.errors import DomainError, Forbidden, Invalid
from core.identity import auth
from core.legacy.coerce import to_id
from core.legacy.present import to_legacy
from core.models import Show, ShowCost, User
from core.registry import spec_for
from core.writes import Actor

SHOWS = "shows"
COSTS = "show_costs"


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "fullName": user.name,
        "role": user.role,
        "language": user.language,
        "status": "active" if user.is_active else "inactive",
    }


def tokens_json(pair: auth.TokenPair) -> dict[str, Any]:
    return {
        "userId": pair.user.id,
        "token": pair.access_token,
        "refreshToken": pair.refresh_token,
        "user": user_json(pair.user),
    }


def register(
    store: Store,
    policy: auth.TokenPolicy,
    *,
    org_id: str,
    role: str,
    email: str,
    password: str,
    full_name: str,
    device_id: str | None,
) -> auth.TokenPair:
    """A new account that logs in at once. Off unless the site names the role new
    accounts get; the user row goes through the write path (e-mail unique, audited,
    synced) as the system: nobody is logged in yet."""
    if role not in ("crew", "office"):
        raise Forbidden("registration is not open on this site")
    with store.write() as s:
        user = writes.create(
            s,
            actor=Actor.system(org_id, device_id),
            entity="users",
            data={"name": full_name, "email": email, "password": password, "role": role},
            origin=rules.LOCAL,
        )
        return auth.issue_tokens(s, policy, user, device_id)


def _may_read_costs(actor: Actor) -> bool:
    try:
        writes.check_permission(spec_for(COSTS), actor, "read")
    except Forbidden:
        return False
    return True


def _costs_of(session: Session, org_id: str, show_ids: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {i: [] for i in show_ids}
    for i in range(0, len(show_ids), 500):
        stmt = (
            select(ShowCost)
            .where(
                ShowCost.org_id == org_id,
                ShowCost.show_id.in_(show_ids[i : i + 500]),
                ShowCost.deleted_at.is_(None),
            )
            .order_by(ShowCost.created_at, ShowCost.id)
        )
        for cost in session.scalars(stmt):
            out[cost.show_id].append(cost)
    return out


def _cost_json(cost: Any) -> dict[str, Any]:
    out = to_legacy(spec_for(COSTS), cost)
    out.pop("showId", None)  # the nesting says it
    return out


def shows_json(session: Session, actor: Actor, shows: list[Any]) -> list[dict[str, Any]]:
    spec = spec_for(SHOWS)
    costs = (
        _costs_of(session, actor.org_id, [s.id for s in shows]) if _may_read_costs(actor) else {}
    )
    out = []
    for show in shows:
        item = to_legacy(spec, show, meta=True)
        if show.id in costs:
            item["costs"] = [_cost_json(c) for c in costs[show.id]]
        out.append(item)
    return out


def show_json(session: Session, actor: Actor, show: Any) -> dict[str, Any]:
    return shows_json(session, actor, [show])[0]


def list_shows(
    session: Session, actor: Actor, *, status: str | None, limit: int | None, offset: int
) -> tuple[list[Any], int]:
    spec = spec_for(SHOWS)
    writes.check_permission(spec, actor, "read")
    where = [Show.org_id == actor.org_id, Show.deleted_at.is_(None)]
    if status:
        where.append(Show.status == status)
    total = session.scalar(select(func.count()).select_from(Show).where(*where)) or 0
    stmt = select(Show).where(*where).order_by(Show.starts_at, Show.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt)), total


def _split(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any] | None]:
    body = dict(raw)
    costs = body.pop("costs", None)
    if costs is not None and not isinstance(costs, list):
        raise Invalid(
            "costs must be a list", details=[{"field": "costs", "message": "expected a list"}]
        )
    return body, costs


def _prefixed(exc: DomainError, prefix: str) -> DomainError:
    if isinstance(exc.details, list):
        exc.details = [
            {**d, "field": f"{prefix}.{d.get('field', '')}"} if isinstance(d, dict) else d
            for d in exc.details
        ]
    return exc


def _write_costs(
    session: Session, actor: Actor, show_id: str, costs: list[Any], *, replace: bool
) -> None:
    spec = spec_for(COSTS)
    existing = {c.id: c for c in _costs_of(session, actor.org_id, [show_id])[show_id]}
    kept: set[str] = set()
    for i, cost in enumerate(costs):
        if not isinstance(cost, dict):
            raise Invalid(
                "a cost must be an object",
                details=[{"field": f"costs.{i}", "message": "expected an object"}],
            )
        body = {k: v for k, v in cost.items() if k not in ("showId", "show_id")}
        try:
            cost_id = to_id(body.get("id"))
            if cost_id is not None and cost_id in existing:
                kept.add(cost_id)
                rows.update(session, actor, spec, cost_id, body)
            else:
                rows.create(session, actor, spec, {**body, "showId": show_id})
        except DomainError as exc:
            raise _prefixed(exc, f"costs.{i}") from None
    if replace:
        for cost_id in existing.keys() - kept:
            rows.delete(session, actor, spec, cost_id)


def create_show(session: Session, actor: Actor, raw: Mapping[str, Any]) -> Any:
    body, costs = _split(raw)
    body.setdefault("id", uuid7())
    show = rows.create(session, actor, spec_for(SHOWS), body)
    if costs:
        _write_costs(session, actor, show.id, costs, replace=False)
    return show


def update_show(session: Session, actor: Actor, id: str, raw: Mapping[str, Any]) -> Any:
    body, costs = _split(raw)
    show = rows.update(session, actor, spec_for(SHOWS), id, body)
    if costs is not None:
        _write_costs(session, actor, id, costs, replace=True)
    return show


def delete_show(session: Session, actor: Actor, id: str, version: int | None = None) -> Any:
    spec = spec_for(SHOWS)
    show = rows.get(session, actor, spec, id)
    if _may_read_costs(actor):
        for cost in _costs_of(session, actor.org_id, [show.id])[show.id]:
            rows.delete(session, actor, spec_for(COSTS), cost.id)
    return rows.delete(session, actor, spec, id, version)


def problem(exc: DomainError) -> dict[str, Any]:
    """A refusal inside a batch answer (the app's ``error``)."""
    out: dict[str, Any] = {"status": status_of(exc), "code": exc.code, "message": exc.message}
    if isinstance(exc.details, list):
        out["errors"] = exc.details
    current = getattr(exc, "current", None)
    if isinstance(current, dict):
        out["current"] = current
    return out


def status_of(exc: DomainError) -> int:
    """The tour plan's statuses: 400 for invalid input, otherwise the native ones."""
    if isinstance(exc, Invalid):
        return 400
    return 401 if exc.code == "unauthenticated" else exc.status


def run_op(session: Session, actor: Actor, op: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """One create/update/delete of a show in its own savepoint: it fails alone."""
    show_id = to_id(data.get("id")) if isinstance(data.get("id"), str | int) else None
    try:
        with session.begin_nested():
            if op == "create":
                show = create_show(session, actor, data)
                return {"op": op, "id": show.id, "success": True, "status": 201,
                        "show": show_json(session, actor, show)}  # fmt: skip
            if not show_id:
                raise Invalid("id is required", details=[{"field": "id", "message": "required"}])
            if op == "update":
                show = update_show(session, actor, show_id, data)
                return {"op": op, "id": show_id, "success": True, "status": 200,
                        "show": show_json(session, actor, show)}  # fmt: skip
            if op == "delete":
                delete_show(session, actor, show_id, rows.version_of(data))
                return {"op": op, "id": show_id, "success": True, "status": 200}
            raise Invalid(
                f"unknown operation '{op}'",
                details=[{"field": "op", "message": "expected create, update or delete"}],
            )
    except DomainError as exc:
        # The savepoint rolled back, and with it what its unit of work collected.
        return {"op": op, "id": show_id, "success": False, "status": status_of(exc),
                "error": problem(exc)}  # fmt: skip
