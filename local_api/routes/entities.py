"""Every registry entity over HTTP through one code path, registered once per entity so
that the OpenAPI document names each entity's own request and response models.

The handlers are made per entity because FastAPI reads each entity's models from their
annotations; they close over the entity's spec and models only. Everything per app (the
context, the store) comes from the ``Annotated`` dependencies of ``local_api.deps``, and
the entity's module and the caller's role are checked once, by the route's dependency.

(No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations,
which name models made per entity inside ``_register``.)
"""

import csv
import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from apikit.problems import AUTHED, domain_problem, responses
from apikit.rows import (
    FILTER_HELP,
    RESERVED,
    IdPath,
    IfMatch,
    ListQuery,
    entity_models,
    etag,
    filter_params,
    filters_from,
    freeze_current,
    json_response,
    list_query,
    need_version,
    page_response,
    parse_version,
    write_tx,
)
from core import exports, queries, writes
from core.errors import Conflict, DomainError, Invalid
from core.fields import RefId
from core.identity import auth
from core.registry import EntitySpec, registry
from core.writes import Actor
from local_api.deps import ContextDep, check_role, gate

MAX_BATCH = 500


class BatchOp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: Literal["create", "update", "delete"]
    id: RefId | None = None
    version: int | None = Field(default=None, ge=1)
    data: dict[str, Any] | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operations: list[BatchOp] = Field(min_length=1, max_length=MAX_BATCH)


def _csv_cell(value: Any) -> str:
    # One sanitiser for every export (formula injection): core.exports.
    return exports.csv_cell(value)


def router(modules: Iterable[str]) -> APIRouter:
    """The entity routes of a site whose organisation has ``modules`` (the entities of
    the others stay out of its OpenAPI document and answer 403)."""
    enabled = frozenset(modules)
    r = APIRouter()
    for spec in registry().values():
        _register(r, spec, hidden=spec.module != "core" and spec.module not in enabled)
    return r


def _stream_csv(ctx: Any, spec: EntitySpec, kwargs: dict[str, Any]) -> StreamingResponse:
    columns = queries.read_columns(spec)
    org_id = ctx.site.org_id
    # Validate filters and sort before the first byte goes out: a 422 cannot be sent once
    # streaming has started.
    with ctx.store.read() as s:
        queries.list_rows(s, spec, org_id, limit=1, with_total=False, **kwargs)

    def generate() -> Iterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        with ctx.store.read() as s:
            for i, row in enumerate(queries.iter_rows(s, spec, org_id, **kwargs)):
                writer.writerow([_csv_cell(v) for v in queries.row_json(spec, row).values()])
                if i % 200 == 199:
                    yield buf.getvalue().encode()
                    buf.seek(0)
                    buf.truncate()
        yield buf.getvalue().encode()

    return StreamingResponse(
        generate(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{spec.name}.csv"'},
    )


def _register(r: APIRouter, spec: EntitySpec, *, hidden: bool) -> None:
    name = spec.name
    m = entity_models(spec)
    # FastAPI reads the entity's own models from the annotations at run time; to mypy
    # they are the pydantic models they derive from.
    if TYPE_CHECKING:
        Create: TypeAlias = BaseModel
        Patch: TypeAlias = BaseModel
    else:
        Create, Patch = m.create, m.patch
    common: dict[str, Any] = {"tags": [name], "include_in_schema": not hidden}
    Reader = Annotated[Actor, gate(spec.name, spec.read_roles, f"read {spec.name}")]
    Creator = Annotated[Actor, gate(spec.name, spec.write_roles, f"create {spec.name}")]
    Updater = Annotated[Actor, gate(spec.name, spec.write_roles, f"update {spec.name}")]
    Deleter = Annotated[Actor, gate(spec.name, spec.write_roles, f"delete {spec.name}")]
    # A batch checks the role per operation (each has its own result).
    Batcher = Annotated[Actor, gate(spec.name, None, "")]
    params = {"parameters": filter_params(spec)}

    def list_options(
        request: Request, actor: Actor, q: str | None, sort: str | None, include_deleted: bool
    ) -> dict[str, Any]:
        return dict(
            filters=filters_from(request, RESERVED),
            q=q,
            sort=sort,
            include_deleted=include_deleted,
            scope=auth.row_scope(spec, actor),
        )

    @r.get(
        f"/api/{name}",
        response_model=m.page,
        summary=f"List {name}",
        description=FILTER_HELP,
        responses=responses(*AUTHED, 422),
        openapi_extra=params,
        **common,
    )
    def list_(
        request: Request,
        actor: Reader,
        ctx: ContextDep,
        lq: Annotated[ListQuery, Depends(list_query)],
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Any:
        kwargs = list_options(request, actor, lq.q, lq.sort, lq.include_deleted)
        if format == "csv":
            return _stream_csv(ctx, spec, kwargs)
        with ctx.store.read() as s:
            page = queries.list_rows(
                s, spec, ctx.site.org_id, limit=lq.limit, offset=lq.offset, cursor=lq.cursor,
                **kwargs,
            )  # fmt: skip
            return page_response(spec, page)

    @r.get(
        f"/api/{name}.csv",
        summary=f"Export {name} as CSV",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            **responses(*AUTHED, 422),
        },
        openapi_extra=params,
        description=FILTER_HELP,
        **common,
    )
    def export_csv(
        request: Request,
        actor: Reader,
        ctx: ContextDep,
        q: Annotated[str | None, Query(max_length=200)] = None,
        sort: Annotated[str | None, Query(max_length=200)] = None,
        include_deleted: bool = False,
    ) -> Any:
        return _stream_csv(ctx, spec, list_options(request, actor, q, sort, include_deleted))

    @r.get(
        f"/api/{name}/{{id}}",
        response_model=m.read,
        summary=f"Get one of {name}",
        responses=responses(*AUTHED, 404, 422),
        **common,
    )
    def get_(id: IdPath, actor: Reader, ctx: ContextDep, include_deleted: bool = False) -> Any:
        with ctx.store.read() as s:
            row = queries.get_row(s, spec, ctx.site.org_id, id, include_deleted=include_deleted,
                                  scope=auth.row_scope(spec, actor))  # fmt: skip
            return json_response(queries.row_json(spec, row), headers=etag(row))

    # An entity whose rows come only from its own service (attachments: with their
    # bytes) has no generic create; a batch create is refused by its rules.
    if spec.generic_create:

        @r.post(
            f"/api/{name}",
            response_model=m.read,
            status_code=201,
            summary=f"Create one of {name}",
            responses=responses(*AUTHED, 409, 422),
            **common,
        )
        def create_(body: Create, actor: Creator, ctx: ContextDep) -> Any:
            data = body.model_dump(exclude_unset=True)
            row_id = data.pop("id", None)
            auth.check_write_scope(spec, actor, data)
            with write_tx(ctx.store) as s:
                # The body, not the dict: it was validated once, by FastAPI (see WriteData).
                row = writes.create(s, actor=actor, entity=name, data=body, id=row_id)
                out = queries.row_json(spec, row)
            return json_response(out, 201, {"Location": f"/api/{name}/{row.id}", **etag(row)})

    @r.patch(
        f"/api/{name}/{{id}}",
        response_model=m.read,
        summary=f"Change some fields of {name}",
        responses=responses(*AUTHED, 404, 409, 422, 428),
        **common,
    )
    def update_(
        id: IdPath,
        body: Patch,
        actor: Updater,
        ctx: ContextDep,
        if_match: IfMatch = None,
    ) -> Any:
        data = body.model_dump(exclude_unset=True)
        version = need_version(parse_version(if_match, data.pop("version", None)), "an update")
        with write_tx(ctx.store) as s:
            auth.check_write_scope(spec, actor, data, writes.get_live(s, spec, actor.org_id, id))
            row = writes.update(s, actor=actor, entity=name, id=id, data=body, version=version)
            out = queries.row_json(spec, row)
        return json_response(out, headers=etag(row))

    @r.delete(
        f"/api/{name}/{{id}}",
        response_model=m.read,
        summary=f"Delete one of {name}",
        description="Soft delete: the row becomes a tombstone (returned).",
        responses=responses(*AUTHED, 404, 409, 422, 428),
        **common,
    )
    def delete_(
        id: IdPath,
        actor: Deleter,
        ctx: ContextDep,
        if_match: IfMatch = None,
        version: Annotated[int | None, Query(ge=1)] = None,
    ) -> Any:
        v = need_version(parse_version(if_match, version), "a delete")
        with write_tx(ctx.store) as s:
            auth.check_write_scope(spec, actor, {}, writes.get_live(s, spec, actor.org_id, id))
            row = writes.delete(s, actor=actor, entity=name, id=id, version=v)
            out = queries.row_json(spec, row)
        return json_response(out, headers=etag(row))

    @r.post(
        f"/api/{name}/batch",
        response_model=m.batch,
        summary=f"Several creates, updates and deletes of {name}",
        description="Each operation runs in its own savepoint and has its own result; "
        "one failing does not undo the others.",
        responses=responses(*AUTHED, 422),
        **common,
    )
    def batch_(body: BatchIn, actor: Batcher, ctx: ContextDep) -> Any:
        with write_tx(ctx.store) as s:
            results = [_run_op(s, spec, actor, i, op) for i, op in enumerate(body.operations)]
        return json_response({"results": results})


def _run_op(s: Any, spec: EntitySpec, actor: Actor, i: int, op: BatchOp) -> dict[str, Any]:
    name = spec.name
    try:
        check_role(actor, spec.write_roles, f"{op.op} {name}")
        data = dict(op.data or {})
        with s.begin_nested():
            if op.op == "create":
                auth.check_write_scope(spec, actor, data)
                row = writes.create(s, actor=actor, entity=name, data=data, id=op.id)
                status = 201
            else:
                if not op.id:
                    raise Invalid(
                        "id is required", details=[{"field": "id", "message": "required"}]
                    )
                version = need_version(op.version, f"an {op.op}")
                existing = writes.get_live(s, spec, actor.org_id, op.id)
                auth.check_write_scope(spec, actor, data, existing)
                if op.op == "update":
                    row = writes.update(
                        s, actor=actor, entity=name, id=op.id, data=data, version=version
                    )
                else:
                    row = writes.delete(s, actor=actor, entity=name, id=op.id, version=version)
                status = 200
            out = queries.row_json(spec, row)
        return {"index": i, "op": op.op, "status": status, "id": row.id, "row": out,
                "problem": None}  # fmt: skip
    except DomainError as exc:
        if isinstance(exc, Conflict):
            freeze_current(exc)
        # The savepoint rolled back, and with it what its unit of work collected.
        problem = domain_problem(exc, f"/api/{name}/batch")
        return {"index": i, "op": op.op, "status": problem["status"], "id": op.id, "row": None,
                "problem": problem}  # fmt: skip
