"""Request dependencies of the central server's admin and data routes, as ``Annotated``
aliases: the app's context (from ``app.state``, never a module global) and the central
admin making the request."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central import enroll as svc
from central.context import CentralContext
from core.errors import Unauthenticated

bearer = HTTPBearer(auto_error=False, description="Central admin token from /api/admin/login")


async def get_central(request: Request) -> CentralContext:
    # ``async``: a plain function dependency is run on the thread pool, a thread hop
    # (and GIL hand-offs) per request for reading an attribute.
    ctx: CentralContext = request.app.state.context
    return ctx


CentralDep = Annotated[CentralContext, Depends(get_central)]


def admin_id(
    ctx: CentralDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The central admin's user id. The admin key's issuer differs from the device
    key's, so a site's device token is refused here."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("central admin bearer token required")
    claims = svc.decode_token(ctx.admin_key, credentials.credentials, "admin")
    with ctx.store.read_one() as s:  # one primary-key read: no transaction needed
        return svc.admin_for_request(s, claims["sub"]).id


AdminId = Annotated[str, Depends(admin_id)]
