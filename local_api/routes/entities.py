"""Every registry entity over HTTP through one code path, registered once per entity so
that the OpenAPI document names each entity's own request and response models.

(No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations,
which name models made per entity inside ``_register``.)
"""

import csv
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from core.errors import Conflict, DomainError, Invalid
from core.registry import EntitySpec, registry, spec_for_model
from core.schemas.common import RefId
from core.services import auth, queries, writes
from core.services.writes import Actor
from local_api.deps import Deps, check_role
from local_api.problems import AUTHED, Problem, problem_response, responses

log = logging.getLogger(__name__)

MAX_BATCH = 500
RESERVED = frozenset({"q", "sort", "limit", "offset", "cursor", "include_deleted", "format"})
RefIdPath = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
FILTER_HELP = (
    "Filters: `?field=value` on any column listed as a parameter, or `field__op=value` "
    "with op one of eq, ne, gt, gte, lt, lte, in (comma-separated), isnull (true/false)."
)


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Rows are already JSON-ready (core.serial); skipping a second validation through the
    # response model keeps list pages cheap. The schema test checks they still conform.
    return Response(dumps(data), status_code=status, headers=headers, media_type="application/json")


@contextmanager
def write_tx(store: Any) -> Iterator[Any]:
    """A write transaction whose Conflict carries the current row as JSON: the row object
    is expired by the rollback and its session closed by the time the handler runs."""
    with store.write() as s:
        try:
            yield s
        except Conflict as exc:
            _freeze_current(exc)
            raise


def _freeze_current(exc: Conflict) -> None:
    cur = exc.current
    if cur is not None and not isinstance(cur, dict):
        try:
            exc.current = queries.row_json(spec_for_model(type(cur)), cur)
        except KeyError:
            exc.current = None


# The row version, optionally as an entity tag ("3" or W/"3"); documented precisely so
# that a client generated from the OpenAPI document sends what the server accepts.
IfMatch = Annotated[
    str | None,
    Header(
        max_length=40,
        pattern=r'^\s*(W/)?"?[0-9]{1,18}"?\s*$',
        description="row version you last saw",
    ),
]


def parse_version(if_match: str | None, body_version: int | None) -> int | None:
    header = None
    if if_match:
        raw = if_match.strip()
        raw = raw.removeprefix("W/").strip('"')
        if not raw.isdigit():
            raise Invalid(
                "If-Match must be the row version",
                details=[{"field": "If-Match", "message": "expected a number"}],
            )
        header = int(raw)
    if header is not None and body_version is not None and header != body_version:
        raise Invalid(
            "If-Match and body version disagree",
            details=[{"field": "version", "message": "differs from If-Match"}],
        )
    return header if header is not None else body_version


@dataclass(frozen=True)
class ListQuery:
    """The list options of every entity list, on the site and the central server."""

    q: str | None
    sort: str | None
    limit: int
    offset: int
    cursor: str | None
    include_deleted: bool


def list_query(
    q: Annotated[str | None, Query(max_length=200, description="search text")] = None,
    sort: Annotated[str | None, Query(max_length=200, description="e.g. -updated_at,id")] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = queries.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    cursor: Annotated[
        str | None, Query(max_length=2000, description="next_cursor of the previous page")
    ] = None,
    include_deleted: bool = False,
) -> ListQuery:
    return ListQuery(q, sort, limit, offset, cursor, include_deleted)


def page_response(spec: Any, page: Any) -> Response:
    """A page of rows as the list answer (call inside the read session)."""
    return json_response(
        {
            "items": [queries.row_json(spec, row) for row in page.items],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
            "next_cursor": page.next_cursor,
        }
    )


def filters_from(request: Request, reserved: frozenset[str]) -> dict[str, str]:
    """Query parameters other than the list options, as ``queries`` filters; a key given
    twice is refused (use ``__in``)."""
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in reserved:
            continue
        if key in out:
            raise Invalid(
                f"{key} given twice",
                details=[{"field": key, "message": "given more than once; use __in"}],
            )
        out[key] = value
    return out


class PreconditionRequired(DomainError):
    code = "precondition_required"
    status = 428


def need_version(version: int | None, what: str) -> int:
    if version is None:
        raise PreconditionRequired(
            f"{what} needs the row version you last saw: send If-Match: <version> "
            "(or version in the body)"
        )
    return version


def _etag(row: Any) -> dict[str, str]:
    return {"ETag": f'"{row.version}"'}


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
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # Spreadsheet formula injection: a cell starting with these is run as a formula.
    if text[:1] in ("=", "+", "@", "\t", "\r") or (
        text[:1] == "-" and not text[1:].replace(".", "", 1).isdigit()
    ):
        return "'" + text
    return text


_MODELS: dict[tuple[str, type], tuple[Any, ...]] = {}


def entity_models(spec: EntitySpec) -> tuple[Any, ...]:
    """The request and response models of one entity, made once per process (they
    depend only on the registry; building them is most of the cost of an app)."""
    key = (spec.name, spec.fields)
    if key in _MODELS:
        return _MODELS[key]
    base = spec.fields.__name__.removesuffix("Fields")
    Read = spec.read
    Create = create_model(
        f"{base}Create",
        __base__=spec.create,
        id=(RefId | None, Field(default=None, description="client-chosen id (default: UUIDv7)")),
    )
    Patch = create_model(
        f"{base}Patch",
        __base__=spec.update,
        version=(
            int | None,
            Field(default=None, ge=1, description="row version you last saw (or If-Match)"),
        ),
    )
    PageOut = create_model(
        f"{base}Page",
        items=(list[Read], ...),
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
        next_cursor=(str | None, None),
    )
    BatchResult = create_model(
        f"{base}BatchResult",
        index=(int, ...),
        op=(str, ...),
        status=(int, ...),
        id=(str | None, None),
        row=(Read | None, None),
        problem=(Problem | None, None),
    )
    BatchOut = create_model(f"{base}BatchOut", results=(list[BatchResult], ...))
    _MODELS[key] = (Read, Create, Patch, PageOut, BatchOut)
    return _MODELS[key]


def router(deps: Deps) -> APIRouter:
    r = APIRouter()
    for spec in registry().values():
        _register(r, deps, spec)
    return r


def _register(r: APIRouter, deps: Deps, spec: EntitySpec) -> None:
    ctx = deps.context
    name = spec.name
    Read, Create, Patch, PageOut, BatchOut = entity_models(spec)
    hidden = spec.module != "core" and spec.module not in ctx.site.modules
    tags = [name]
    read_roles, write_roles = spec.read_roles, spec.write_roles
    current = deps.current_actor
    filter_params = [
        {
            "name": col,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": f"equal to (see also {col}__gte, __lte, __in, ...)",
        }
        for col in queries.filterable(spec)
    ]

    def scope(actor: Actor) -> Any:
        return auth.row_scope(spec, actor)

    def allow_read(actor: Actor) -> None:
        deps.module_enabled(spec)
        check_role(actor, read_roles, f"read {name}")

    def allow_write(actor: Actor, action: str) -> None:
        deps.module_enabled(spec)
        check_role(actor, write_roles, f"{action} {name}")

    list_kwargs = dict(
        response_model=PageOut,
        tags=tags,
        include_in_schema=not hidden,
        responses=responses(*AUTHED, 422),
        openapi_extra={"parameters": filter_params},
    )

    def list_common(
        request: Request, actor: Actor, q: str | None, sort: str | None, include_deleted: bool
    ) -> dict[str, Any]:
        allow_read(actor)
        return dict(
            filters=filters_from(request, RESERVED),
            q=q,
            sort=sort,
            include_deleted=include_deleted,
            scope=scope(actor),
        )

    def stream_csv(kwargs: dict[str, Any]) -> StreamingResponse:
        columns = queries.read_columns(spec)
        org_id = ctx.site.org_id
        # Validate filters and sort before the first byte goes out: a 422 cannot be sent
        # once streaming has started.
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
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )

    @r.get(f"/api/{name}", summary=f"List {name}", description=FILTER_HELP, **list_kwargs)
    def list_(
        request: Request,
        actor: Annotated[Actor, Depends(current)],
        lq: Annotated[ListQuery, Depends(list_query)],
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Any:
        kwargs = list_common(request, actor, lq.q, lq.sort, lq.include_deleted)
        if format == "csv":
            return stream_csv(kwargs)
        with ctx.store.read() as s:
            page = queries.list_rows(
                s, spec, ctx.site.org_id, limit=lq.limit, offset=lq.offset, cursor=lq.cursor,
                **kwargs,
            )  # fmt: skip
            return page_response(spec, page)

    @r.get(
        f"/api/{name}.csv",
        summary=f"Export {name} as CSV",
        tags=tags,
        include_in_schema=not hidden,
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            **responses(*AUTHED, 422),
        },
        openapi_extra={"parameters": filter_params},
        description=FILTER_HELP,
    )
    def export_csv(
        request: Request,
        actor: Annotated[Actor, Depends(current)],
        q: Annotated[str | None, Query(max_length=200)] = None,
        sort: Annotated[str | None, Query(max_length=200)] = None,
        include_deleted: bool = False,
    ) -> Any:
        return stream_csv(list_common(request, actor, q, sort, include_deleted))

    @r.get(
        f"/api/{name}/{{id}}",
        response_model=Read,
        summary=f"Get one of {name}",
        tags=tags,
        include_in_schema=not hidden,
        responses=responses(*AUTHED, 404, 422),
    )
    def get_(
        id: Annotated[str, RefIdPath],
        actor: Annotated[Actor, Depends(current)],
        include_deleted: bool = False,
    ) -> Any:
        allow_read(actor)
        with ctx.store.read() as s:
            row = queries.get_row(
                s, spec, ctx.site.org_id, id, include_deleted=include_deleted, scope=scope(actor)
            )
            return json_response(queries.row_json(spec, row), headers=_etag(row))

    @r.post(
        f"/api/{name}",
        response_model=Read,
        status_code=201,
        summary=f"Create one of {name}",
        tags=tags,
        include_in_schema=not hidden,
        responses=responses(*AUTHED, 409, 422),
    )
    def create_(body: Create, actor: Annotated[Actor, Depends(current)]) -> Any:
        allow_write(actor, "create")
        data = body.model_dump(exclude_unset=True)
        row_id = data.pop("id", None)
        auth.check_write_scope(spec, actor, data)
        with write_tx(ctx.store) as s:
            row = writes.create(s, actor=actor, entity=name, data=data, id=row_id)
            out = queries.row_json(spec, row)
        headers = {"Location": f"/api/{name}/{row.id}", **_etag(row)}
        return json_response(out, 201, headers)

    @r.patch(
        f"/api/{name}/{{id}}",
        response_model=Read,
        summary=f"Change some fields of {name}",
        tags=tags,
        include_in_schema=not hidden,
        responses=responses(*AUTHED, 404, 409, 422, 428),
    )
    def update_(
        id: Annotated[str, RefIdPath],
        body: Patch,
        actor: Annotated[Actor, Depends(current)],
        if_match: IfMatch = None,
    ) -> Any:
        allow_write(actor, "update")
        data = body.model_dump(exclude_unset=True)
        version = need_version(parse_version(if_match, data.pop("version", None)), "an update")
        with write_tx(ctx.store) as s:
            auth.check_write_scope(spec, actor, data, writes.get_live(s, spec, actor.org_id, id))
            row = writes.update(s, actor=actor, entity=name, id=id, data=data, version=version)
            out = queries.row_json(spec, row)
        return json_response(out, headers=_etag(row))

    @r.delete(
        f"/api/{name}/{{id}}",
        response_model=Read,
        summary=f"Delete one of {name}",
        description="Soft delete: the row becomes a tombstone (returned).",
        tags=tags,
        include_in_schema=not hidden,
        responses=responses(*AUTHED, 404, 409, 422, 428),
    )
    def delete_(
        id: Annotated[str, RefIdPath],
        actor: Annotated[Actor, Depends(current)],
        if_match: IfMatch = None,
        version: Annotated[int | None, Query(ge=1)] = None,
    ) -> Any:
        allow_write(actor, "delete")
        v = need_version(parse_version(if_match, version), "a delete")
        with write_tx(ctx.store) as s:
            auth.check_write_scope(spec, actor, {}, writes.get_live(s, spec, actor.org_id, id))
            row = writes.delete(s, actor=actor, entity=name, id=id, version=v)
            out = queries.row_json(spec, row)
        return json_response(out, headers=_etag(row))

    @r.post(
        f"/api/{name}/batch",
        response_model=BatchOut,
        tags=tags,
        summary=f"Several creates, updates and deletes of {name}",
        description="Each operation runs in its own savepoint and has its own result; "
        "one failing does not undo the others.",
        include_in_schema=not hidden,
        responses=responses(*AUTHED, 422),
    )
    def batch_(body: BatchIn, actor: Annotated[Actor, Depends(current)]) -> Any:
        deps.module_enabled(spec)
        results = []
        with write_tx(ctx.store) as s:
            for i, op in enumerate(body.operations):
                results.append(_run_op(s, spec, actor, i, op))
        return json_response({"results": results})

    def _run_op(s: Any, spec: EntitySpec, actor: Actor, i: int, op: BatchOp) -> dict[str, Any]:
        changes = s.info.setdefault("changes", [])
        mark = len(changes)
        try:
            check_role(actor, write_roles, f"{op.op} {name}")
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
            return {
                "index": i,
                "op": op.op,
                "status": status,
                "id": row.id,
                "row": out,
                "problem": None,
            }
        except DomainError as exc:
            if isinstance(exc, Conflict):
                _freeze_current(exc)
            # The savepoint rolled back; forget the change notices it queued too.
            del changes[mark:]
            resp_body = json.loads(_problem_body(exc, name))
            return {
                "index": i,
                "op": op.op,
                "status": resp_body["status"],
                "id": op.id,
                "row": None,
                "problem": resp_body,
            }


def _problem_body(exc: DomainError, entity: str) -> bytes:
    status = 401 if exc.code == "unauthenticated" else exc.status
    current = exc.current if isinstance(exc, Conflict) else None
    resp = problem_response(
        {"path": f"/api/{entity}/batch"},
        status,
        exc.message,
        code=exc.code,
        errors=exc.details if isinstance(exc.details, list) else None,
        current=current,
    )
    return bytes(resp.body)
