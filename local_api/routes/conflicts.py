"""The site's conflict records over the local API: list, read, resolve.

The records are the site's local copies of the conflicts the central server reported
(and of ops it rejected). Resolving goes through ``core.sync.conflicts``: "mine"
and "values" are normal writes through the one write path, so they reach the outbox and
sync like any edit; "server" only closes the record (the row already holds the
central value).

(No ``from __future__ import annotations``: FastAPI reads the handlers' annotations.)
"""

from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, computed_field
from sqlalchemy import func, select

from apikit.problems import AUTHED, responses
from apikit.rows import IdPath, write_tx
from core.errors import Conflict, Invalid, NotFound
from core.models import ConflictRecord
from core.registry import OFFICE, registry
from core.sync import reasons
from core.sync.conflicts import conflict_json, resolve_conflict
from core.writes import Actor
from local_api.deps import ContextDep, require

MAX_LIMIT = 500


class ConflictOut(BaseModel):
    """One conflict record: an edit that lost (or was refused) and is kept until a
    person decides."""

    id: str
    entity: str
    entity_id: str
    kind: str = Field(description="field | deleted | rejected | unique | rule")
    op_id: str | None = None
    device_id: str | None = None
    rule: str | None = Field(default=None, description="the rule that picked the winner")
    fields: list[str]
    losing_values: dict[str, Any] = Field(description="this site's values that lost")
    winning_values: dict[str, Any] = Field(description="the values that won")
    reason: str | None = Field(default=None, description="why, as stored: JSON "
                               '``{"code": ..., "params": {...}}``; parsed in '
                               "``reason_code`` and ``reason_params``")  # fmt: skip
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: dict[str, Any] | None = None

    @computed_field(description="why, as a code to word in the reader's language: a rule "
                    "code for kind ``rule``, the central server's problem code for "
                    "``rejected``, else kept_later | kept_central | deleted_before_edit | "
                    "deleted_unseen_edits | value_taken (``text`` for records from before "
                    "coded reasons: the prose is ``reason_params.text``)")  # fmt: skip
    def reason_code(self) -> str | None:
        return self.decoded_reason.code if self.decoded_reason else None

    @computed_field(description="the reason's parameters (version, field, message ...)")
    def reason_params(self) -> dict[str, Any]:
        return self.decoded_reason.params if self.decoded_reason else {}

    @cached_property
    def decoded_reason(self) -> reasons.Reason | None:
        """The stored reason parsed once for the two fields above (not serialised)."""
        return reasons.decode(self.reason)


class ConflictPage(BaseModel):
    items: list[ConflictOut]
    total: int


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    choice: Literal["server", "mine", "values", "rename", "merge", "discard"] = Field(
        description="server: keep the row as it is; mine: write this site's losing "
        "values back; values: write the given values. For a unique conflict (a create "
        "whose unique value another row holds): rename (create it with the new values), "
        "merge (write values into the row holding the value), discard"
    )
    values: dict[str, Any] | None = Field(
        None, description="with choice=values: the fields to write (stored field names)"
    )


def _check_values(entity: str, body: ResolveIn) -> None:
    """Refuse what the shared service would silently drop (unknown keys) or accept
    meaninglessly (values with another choice): a person must see why nothing happened."""
    if body.choice in ("rename", "merge"):
        return  # the new value(s), checked by the write path (rename needs one)
    if body.choice != "values":
        if body.values is not None:
            raise Invalid(
                "values are only taken with choice=values",
                details=[{"field": "values", "message": "only with choice=values"}],
            )
        return
    if not body.values:
        raise Invalid(
            "choice=values needs the values to write",
            details=[{"field": "values", "message": "required with choice=values"}],
        )
    spec = registry().get(entity)
    allowed = set(spec.stored_fields) if spec else set()
    unknown = sorted(set(body.values) - allowed)
    if unknown:
        raise Invalid(
            f"not fields of {entity}: {', '.join(unknown)}",
            details=[{"field": f"values.{k}", "message": "unknown field"} for k in unknown],
        )


router = APIRouter(prefix="/api/sync/conflicts", tags=["sync"])
Office = Annotated[Actor, require(OFFICE)]


def _get(s: Any, org_id: str, conflict_id: str) -> ConflictRecord:
    rec = s.get(ConflictRecord, conflict_id)
    if rec is None or rec.org_id != org_id:
        raise NotFound(f"conflict '{conflict_id}' not found")
    return rec


@router.get(
    "",
    response_model=ConflictPage,
    summary="Conflict records of this site (open by default)",
    responses=responses(*AUTHED, 422),
)
def list_(
    _: Office,
    ctx: ContextDep,
    status: Literal["open", "resolved", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    c = ConflictRecord
    where = [c.org_id == ctx.site.org_id]
    if status == "open":
        where.append(c.resolved_at.is_(None))
    elif status == "resolved":
        where.append(c.resolved_at.is_not(None))
    with ctx.store.read() as s:
        total = s.scalar(select(func.count()).select_from(c).where(*where)) or 0
        rows = s.scalars(
            select(c).where(*where).order_by(c.created_at, c.id).offset(offset).limit(limit)
        )
        return {"items": [conflict_json(x) for x in rows], "total": total}


@router.get(
    "/{conflict_id}",
    response_model=ConflictOut,
    summary="One conflict record",
    responses=responses(*AUTHED, 404, 422),
)
def get_(_: Office, ctx: ContextDep, conflict_id: IdPath) -> dict[str, Any]:
    with ctx.store.read() as s:
        return conflict_json(_get(s, ctx.site.org_id, conflict_id))


@router.post(
    "/{conflict_id}/resolve",
    response_model=ConflictOut,
    summary="Resolve a conflict: keep the server's value, write mine, or given values",
    description="mine/values are ordinary writes (audit, outbox) that sync like any "
    "edit; a deleted row is not brought back (409). A resolved conflict answers 409.",
    responses=responses(*AUTHED, 404, 409, 422),
)
def resolve(actor: Office, ctx: ContextDep, conflict_id: IdPath, body: ResolveIn) -> dict[str, Any]:
    with write_tx(ctx.store) as s:
        rec = _get(s, ctx.site.org_id, conflict_id)
        if rec.resolved_at is not None:
            # The shared service answers a repeat quietly (sync retries); a person
            # resolving twice (two tabs, two people) should hear the first one won.
            raise Conflict(
                f"conflict '{conflict_id}' was already resolved "
                f"({(rec.resolution or {}).get('choice')}, {rec.resolved_at.isoformat()})"
            )
        _check_values(rec.entity, body)
        return resolve_conflict(
            s, actor=actor, conflict_id=conflict_id, choice=body.choice, values=body.values
        )
