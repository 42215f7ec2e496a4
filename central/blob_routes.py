"""Attachment bytes between sites and the central server, by SHA-256.

- ``HEAD /api/sync/blobs/{sha}``: 200 (with Content-Length) when the device's
  organisation holds the blob; else 404 with ``Upload-Offset``: how much of its upload
  has arrived, where to resume.
- ``PUT /api/sync/blobs/{sha}?offset=N&total=T``: the next chunk (raw bytes). A chunk
  at another offset than what has arrived is refused (409 ``blob_offset_mismatch``,
  with ``have``); ``held: true`` in the answer: the organisation had the blob already
  and the chunk was not needed; the last chunk completes the upload, verified by hash (422
  ``blob_hash_mismatch``: the partial upload is discarded). Past the organisation's
  quota: 507 ``blob_quota_exceeded``.
- ``GET /api/sync/blobs/{sha}``: the bytes, with ``Range`` for a resumed download.

The organisation must hold the blob to read it (one of its sites uploaded those bytes):
a hash alone opens nothing, even though bytes are stored once for everyone.

(No ``from __future__ import annotations``: FastAPI reads the dependency aliases.)
"""

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from apikit.problems import AUTHED, problem_response, responses
from central.blobs import MAX_CHUNK
from central.deps import CentralDep
from central.device_auth import Dev

PREFIX = "/api/sync/blobs/"
Sha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 in hex")]
router = APIRouter(prefix="/api/sync/blobs", tags=["sync"],
                   responses=responses(*AUTHED, 404, 409, 422, 426))  # fmt: skip


@router.head("/{sha}", summary="Whether the organisation holds a blob; where to resume")
def head_blob(sha: Sha, dev: Dev, ctx: CentralDep) -> Response:
    with ctx.store.read() as s:
        size = ctx.blobs.held(s, dev.org_id, sha)
    if size is not None:
        return Response(status_code=200, headers={"Content-Length": str(size)},
                        media_type="application/octet-stream")  # fmt: skip
    have = ctx.blobs.received(dev.org_id, sha)
    # A HEAD answer has no body; its type is the one a GET's 404 would carry.
    return Response(status_code=404, headers={"Upload-Offset": str(have)},
                    media_type="application/problem+json")  # fmt: skip


@router.put("/{sha}", summary="One chunk of a blob's upload (resumable; verified by hash)",
            responses=responses(413, 507))  # fmt: skip
async def put_chunk(
    sha: Sha,
    request: Request,
    dev: Dev,
    ctx: CentralDep,
    offset: Annotated[int, Query(ge=0)],
    total: Annotated[int, Query(ge=1, le=2**40)],
) -> Response:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_CHUNK:
        return problem_response(request, 413, f"send chunks of at most {MAX_CHUNK} bytes "
                                "with a Content-Length", code="blob_chunk_too_large")  # fmt: skip
    # The chunk is at most MAX_CHUNK: read it, then write it off the event loop.
    data = await request.body()
    got, complete, held = await run_in_threadpool(
        ctx.blobs.receive, ctx.store, dev.org_id, sha, offset, total, [data]
    )
    flag = {True: "true", False: "false"}
    return Response(
        f'{{"received":{got},"complete":{flag[complete]},"held":{flag[held]}}}',
        media_type="application/json",
        headers={"Upload-Offset": str(got)},
    )


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@router.get("/{sha}", summary="A blob's bytes (Range for resuming)",
            response_class=StreamingResponse, responses=responses(416))  # fmt: skip
def get_blob(sha: Sha, request: Request, dev: Dev, ctx: CentralDep) -> Response:
    with ctx.store.read() as s:
        size = ctx.blobs.held(s, dev.org_id, sha)
    if size is None or not ctx.blobs.backend.has(sha):
        return problem_response(request, 404, "this organisation holds no such blob",
                                code="blob_not_found")  # fmt: skip
    headers = {"ETag": f'"{sha}"', "Accept-Ranges": "bytes"}
    match = _RANGE.match(request.headers.get("range", ""))
    if match:
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else size - 1
        if start >= size or end < start:
            return problem_response(request, 416, "range outside the blob",
                                    code="range_not_satisfiable",
                                    headers={"Content-Range": f"bytes */{size}"})  # fmt: skip
        end = min(end, size - 1)
        headers |= {"Content-Range": f"bytes {start}-{end}/{size}",
                    "Content-Length": str(end - start + 1)}  # fmt: skip
        return StreamingResponse(ctx.blobs.backend.read(sha, start, end), 206, headers,
                                 media_type="application/octet-stream")  # fmt: skip
    headers["Content-Length"] = str(size)
    return StreamingResponse(ctx.blobs.backend.read(sha), 200, headers,
                             media_type="application/octet-stream")  # fmt: skip
