"""Who a sync request comes from, and whether the server can serve its client.

A device's token is checked in two steps: its signature, expiry and kind on every
request (no database), and the device itself — known, not revoked — against the store.
Routes that open a transaction anyway do the second step inside it: a pull through
``check_device``, a push in its first statement (``central.push``); a separate read
transaction was three PostgreSQL round trips and a thread hop per request, a quarter of
a one-op push. The others take ``device``, both steps at once.

(No ``from __future__ import annotations``: FastAPI reads the dependency aliases.)
"""

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from central import enroll as svc
from central.deps import CentralDep
from central.push import DeviceCtx
from core.errors import DomainError, Unauthenticated
from core.sync.wire import MIN_SCHEMA_VERSION, SCHEMA_HEADER, SCHEMA_VERSION


class SchemaMismatch(DomainError):
    code = "schema_version_unsupported"
    status = 426


def check_schema(value: int | str | None) -> int:
    """Guarantee 9: a client we cannot serve is told so before anything is written."""
    supported = f"this server supports schema versions {MIN_SCHEMA_VERSION}..{SCHEMA_VERSION}"
    try:
        version = int(value) if value is not None else None
    except (TypeError, ValueError):
        version = None
    if version is None:
        raise SchemaMismatch(f"missing or malformed {SCHEMA_HEADER} header; {supported}",
                             details=[{"field": SCHEMA_HEADER, "message": supported}])  # fmt: skip
    if not MIN_SCHEMA_VERSION <= version <= SCHEMA_VERSION:
        word = "old" if version < MIN_SCHEMA_VERSION else "new"
        raise SchemaMismatch(
            f"schema version {version} is too {word}; {supported}; update the client",
            details=[{"field": SCHEMA_HEADER, "message": supported}],
        )
    return version


async def schema(
    x_structura_schema: Annotated[str | None, Header(alias=SCHEMA_HEADER)] = None,
) -> int:
    return check_schema(x_structura_schema)


Schema = Annotated[int, Depends(schema)]


async def claimed_device(request: Request, ctx: CentralDep, _schema: Schema) -> DeviceCtx:
    """The device and organisation the request's token names (signed by this server);
    not yet checked against the store. ``async`` like ``schema``: checking a signature
    takes microseconds, and a plain function dependency would cost a thread-pool hop
    (with its GIL hand-offs) on every sync request."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise Unauthenticated("device bearer token required")
    claims = svc.decode_token(ctx.device_key, auth[7:].strip(), "device")
    org_id = claims.get("org")
    if not isinstance(org_id, str) or not org_id:
        raise Unauthenticated("invalid token: no organisation")
    return DeviceCtx(org_id=org_id, device_id=str(claims["sub"]))


def check_device(session: Session, dev: DeviceCtx) -> None:
    """In the request's transaction: the device is known, not revoked (refused at once)
    and still of the organisation its token names."""
    svc.device_org(session, dev.device_id, dev.org_id)


def device(ctx: CentralDep, dev: Annotated[DeviceCtx, Depends(claimed_device)]) -> DeviceCtx:
    """Both steps; the second is one statement, read outside a transaction."""
    with ctx.store.read_one() as s:
        check_device(s, dev)
    return dev


Claimed = Annotated[DeviceCtx, Depends(claimed_device)]
Dev = Annotated[DeviceCtx, Depends(device)]
