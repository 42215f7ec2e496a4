"""Attachments over HTTP: the multipart upload and the bytes. Listing, reading one row,
changing its caption and deleting it are the generic entity routes
(``local_api.routes.entities``); the generic create is not offered, since a row comes
only with its bytes.

The upload is streamed: the multipart body is parsed as it arrives (``python-multipart``)
and the file part goes straight into the blob store's temporary file, with the size
limit counted on the way, so a 2 GB upload is refused after the limit, not after 2 GB,
and never held in memory. The name, the owner and the role are checked as soon as their
fields have arrived (send them before the file); the write transaction opens only once
the bytes are stored, so a slow upload never holds the store's write lock.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from python_multipart.multipart import MultipartParser, parse_options_header

from apikit.problems import AUTHED, problem_response, responses
from apikit.rows import IdPath, json_response, write_tx
from core import queries
from core.attachments import service, wanted
from core.attachments.blobs import BlobWriter
from core.attachments.service import StoredBlob
from core.errors import Invalid
from core.identity import auth
from core.registry import spec_for
from core.writes import Actor
from local_api.deps import ContextDep, CurrentActor

router = APIRouter(tags=["attachments"])

UPLOAD_PATH = "/api/attachments"
# The multipart envelope around the file (boundaries, part headers, small fields).
ENVELOPE = 64 * 1024
FIELDS = ("owner_entity", "owner_id", "caption")
MAX_FIELD = 2000
# The bytes of an attachment are shown, never run: no script, no plugin, no form; a PDF
# keeps the browser's viewer (it does not run in a sandboxed document).
CONTENT_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
)
SANDBOX = "; sandbox"


def _spec() -> Any:
    return spec_for("attachments")


class _Upload:
    """State of one multipart upload being parsed."""

    def __init__(self, ctx: Any, actor: Actor, limits: service.Limits) -> None:
        self.ctx, self.actor, self.limits = ctx, actor, limits
        self.fields: dict[str, str] = {}
        self.headers: dict[str, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.part: str | None = None  # field name of the current part
        self.value = bytearray()
        self.filename: str | None = None
        self.declared: str | None = None
        self.writer: BlobWriter | None = None
        self.files = 0
        self.checked = False

    # python-multipart callbacks ------------------------------------------------------

    def on_part_begin(self) -> None:
        self.headers, self.part, self.value = {}, None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        # Raw bytes: browsers send a UTF-8 file name as is in the part's header.
        self.headers[self.header_field.decode("latin-1").lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get("content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self.part = name
        if name == "file":
            self.files += 1
            if self.files > 1:
                raise _bad("one file per upload", "file")
            raw = params.get(b"filename*") or params.get(b"filename") or b""
            self.filename = _filename_param(raw)
            self.declared = self.headers.get("content-type", b"").decode("latin-1")
            self._precheck(self.filename)
            self.writer = self.ctx.blobs.writer(max_bytes=self.limits.max_bytes)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part == "file" and self.writer is not None:
            self.writer.write(data[start:end])
        elif self.part in FIELDS:
            self.value += data[start:end]
            if len(self.value) > MAX_FIELD:
                raise _bad(f"field {self.part} is too long", self.part or "body")

    def on_part_end(self) -> None:
        if self.part in FIELDS:
            self.fields[self.part] = self.value.decode("utf-8", "replace")

    # checks --------------------------------------------------------------------------

    def _precheck(self, filename: str) -> None:
        """Refuse before reading the file's bytes what can be refused without them."""
        missing = [f for f in ("owner_entity", "owner_id") if f not in self.fields]
        if missing:
            raise Invalid(
                "send owner_entity and owner_id before the file",
                details=[{"field": f, "message": "required before file"} for f in missing],
            )
        with self.ctx.store.read() as s:
            service.precheck(s, self.actor, owner_entity=self.fields["owner_entity"],
                             owner_id=self.fields["owner_id"], filename=filename)  # fmt: skip
        self.checked = True

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def _filename_param(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if text.lower().startswith("utf-8''"):  # RFC 5987 form
        from urllib.parse import unquote

        text = unquote(text[7:], encoding="utf-8", errors="replace")
    return text


def _bad(message: str, field: str) -> Invalid:
    return Invalid(message, details=[{"field": field, "message": message}])


@router.post(
    UPLOAD_PATH,
    status_code=201,
    summary="Attach a file (multipart/form-data: owner_entity, owner_id, caption, file)",
    description=(
        "Streams the file into the site's blob store; the media type is sniffed from "
        "the bytes (JPEG, PNG, WebP, PDF, plain text) and must agree with the part's "
        "declared Content-Type. Send the fields before the file. Answers the row as "
        "GET /api/attachments/{id} does."
    ),
    responses=responses(*AUTHED, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["owner_entity", "owner_id", "file"],
                        "properties": {
                            "owner_entity": {
                                "type": "string",
                                "enum": ["jobs", "downtimes", "machines", "shows", "travel"],
                            },
                            "owner_id": {"type": "string"},
                            "caption": {"type": "string", "maxLength": 500},
                            "file": {"type": "string", "format": "binary"},
                        },
                    }
                }
            },
        }
    },
)
async def upload(request: Request, actor: CurrentActor, ctx: ContextDep) -> Any:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        return problem_response(request, 415, "send multipart/form-data", code="multipart_required")
    with ctx.store.read() as s:
        limits = service.limits_for(s, actor.org_id, ctx.attachment_limits())
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limits.max_bytes + ENVELOPE:
        raise service.TooLarge(limits.max_bytes)
    state = _Upload(ctx, actor, limits)
    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": state.on_part_begin,
            "on_part_data": state.on_part_data,
            "on_part_end": state.on_part_end,
            "on_header_field": state.on_header_field,
            "on_header_value": state.on_header_value,
            "on_header_end": state.on_header_end,
            "on_headers_finished": state.on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if state.writer is None:
            raise _bad("a file part is required", "file")
        writer = state.writer
        blob: StoredBlob = await anyio.to_thread.run_sync(
            lambda: service.finish_upload(writer, limits, state.declared)
        )
    except BaseException:
        state.abort()
        raise
    fields = state.fields
    with write_tx(ctx.store) as s:
        row = service.add_stored(
            s, actor, owner_entity=fields["owner_entity"], owner_id=fields["owner_id"],
            filename=state.filename or "", blob=blob, caption=fields.get("caption") or None,
        )  # fmt: skip
    return json_response(row, 201, {"Location": f"/api/attachments/{row['id']}",
                                    "ETag": f'"{row["version"]}"'})  # fmt: skip


@router.get(
    "/api/attachments/{id}/content",
    summary="The bytes of an attachment",
    description=(
        "Inline (or, with download=1, as a download) under the file's original name. "
        "When the row has arrived by sync and its bytes have not: 404 with code "
        "blob_not_here, and the site's sync agent is asked to fetch them."
    ),
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                   "format": "binary"}}}},
        **responses(*AUTHED, 404),
    },
)  # fmt: skip
def content(
    id: IdPath,
    request: Request,
    actor: CurrentActor,
    ctx: ContextDep,
    download: Annotated[bool, Query()] = False,
) -> Any:
    spec = _spec()
    with ctx.store.read() as s:
        row = queries.get_row(s, spec, ctx.site.org_id, id, scope=auth.row_scope(spec, actor))
        sha, media, name = row.sha256, row.media_type, row.filename
    blobs = ctx.blobs
    if not blobs.has(sha):
        wanted.ask_for(ctx.store, sha)
        return problem_response(
            request, 404, "the bytes of this attachment have not reached this site yet",
            code="blob_not_here", params={"sha256": sha},
        )  # fmt: skip
    tag = f'"{sha}"'
    headers = {
        "ETag": tag,
        "Content-Disposition": disposition(name, download=download),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CONTENT_CSP + ("" if media == "application/pdf" else SANDBOX),
        "X-Frame-Options": "SAMEORIGIN",
        # The bytes under a hash never change; the row's permission is checked each time.
        "Cache-Control": "private, max-age=86400",
        # Sent as stored: a Range answer must count the stored bytes (and photos and
        # PDFs are compressed already), so the gzip layer leaves it alone.
        "Content-Encoding": "identity",
    }
    if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    media_type = "text/plain; charset=utf-8" if media == "text/plain" else media
    return FileResponse(blobs.path(sha), media_type=media_type, headers=headers)


def disposition(filename: str, *, download: bool) -> str:
    """``inline``/``attachment`` with the name in RFC 6266 form: an ASCII fallback and
    the UTF-8 name (``filename*``), both quoted so nothing in a name can break out."""
    kind = "attachment" if download else "inline"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
