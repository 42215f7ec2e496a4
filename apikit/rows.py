"""Rows over HTTP, for the entity routes of both servers: JSON answers, row versions
(If-Match), the list options (search, sort, limit, offset, cursor), filters from the
query string, pages, and the request and response models of each registry entity.

(No ``from __future__ import annotations``: FastAPI reads the annotations of
``list_query``.)
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import GenericAlias
from typing import Annotated, Any

import orjson
from fastapi import Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, create_model

from apikit.problems import Problem
from core import queries
from core.errors import Conflict, DomainError, Invalid
from core.fields import ID_CONSTRAINTS, RefId
from core.registry import EntitySpec, spec_for_model
from core.serial import to_json

RESERVED = frozenset({"q", "sort", "limit", "offset", "cursor", "include_deleted", "format"})
RefIdPath = Path(**ID_CONSTRAINTS)
IdPath = Annotated[str, RefIdPath]
FILTER_HELP = (
    "Filters: `?field=value` on any column listed as a parameter, or `field__op=value` "
    "with op one of eq, ne, gt, gte, lt, lte, in (comma-separated), isnull (true/false)."
)


def dumps(data: Any) -> bytes:
    # orjson: compact UTF-8 like json.dumps(separators=(",", ":"), ensure_ascii=False),
    # several times faster on the hot lists; anything it does not know goes through
    # core.serial, as before.
    return orjson.dumps(data, default=to_json)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Rows are already JSON-ready (core.serial); skipping a second validation through the
    # response model keeps list pages cheap. The schema test checks they still conform.
    return Response(dumps(data), status_code=status, headers=headers, media_type="application/json")


def etag(row: Any) -> dict[str, str]:
    return {"ETag": f'"{row.version}"'}


@contextmanager
def write_tx(store: Any, done: Any = None) -> Iterator[Any]:
    """A write transaction whose Conflict carries the current row as JSON: the row object
    is expired by the rollback and its session closed by the time the handler runs.
    With ``done`` (a ``core.db.Committed``), one that starts at once or raises
    ``core.db.WriteBusy`` (``Store.write_now``)."""
    with store.write() if done is None else store.write_now(done) as s:
        try:
            yield s
        except Conflict as exc:
            freeze_current(exc)
            raise


def freeze_current(exc: Conflict) -> None:
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


@dataclass(frozen=True)
class ListQuery:
    """The list options of every entity list, on the site and the central server."""

    q: str | None
    sort: str | None
    limit: int
    offset: int
    cursor: str | None
    include_deleted: bool


# async although it awaits nothing: FastAPI runs a plain ``def`` dependency in its thread
# pool, a hop there and back per list request.
async def list_query(
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


def filter_params(spec: EntitySpec) -> list[dict[str, Any]]:
    """The filterable columns as OpenAPI query parameters (read from the query string by
    ``filters_from``, so FastAPI does not declare them itself)."""
    return [
        {
            "name": col,
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": f"equal to (see also {col}__gte, __lte, __in, ...)",
        }
        for col in queries.filterable(spec)
    ]


@dataclass(frozen=True)
class EntityModels:
    read: type[BaseModel]
    create: type[BaseModel]
    patch: type[BaseModel]
    page: type[BaseModel]
    batch: type[BaseModel]


_MODELS: dict[tuple[str, type], EntityModels] = {}


def entity_models(spec: EntitySpec) -> EntityModels:
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
    # The models are made at run time from the registry, so their field types are values
    # that mypy cannot read as type expressions (hence Any): list[Read] is spelt as the
    # alias it stands for.
    ReadList: Any = GenericAlias(list, (Read,))
    ReadOrNone: Any = Read | None
    PageOut = create_model(
        f"{base}Page",
        items=(ReadList, ...),
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
        row=(ReadOrNone, None),
        problem=(Problem | None, None),
    )
    BatchList: Any = GenericAlias(list, (BatchResult,))
    BatchOut = create_model(f"{base}BatchOut", results=(BatchList, ...))
    _MODELS[key] = EntityModels(Read, Create, Patch, PageOut, BatchOut)
    return _MODELS[key]
