"""Request dependencies of the site API, as ``Annotated`` aliases the module-level
routers put in their handlers' signatures: the app's context and store, who is calling
(``CurrentClaims``, ``CurrentActor``), whether their role may use a group of routes
(``require``), whether the entity's module is on (``module_on``), and the rate limits.

Everything per app lives on ``app.state`` (the context, the limits), never in module
globals: one process may serve several apps (tests, the desktop's restart).
"""

from collections.abc import Iterable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from apikit.ratelimit import Buckets
from apikit.security import request_origin
from core.db import Store
from core.errors import Forbidden, Unauthenticated
from core.fields import ID_MAX_LENGTH, ID_REGEX
from core.identity import auth
from core.registry import EntitySpec, registry
from core.writes import Actor
from local_api.context import AppContext, Limits

bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")

DeviceId = Annotated[
    str | None,
    Header(
        alias="X-Device-Id",
        max_length=ID_MAX_LENGTH,
        pattern=ID_REGEX,
        description="Stable id of this browser or terminal (lockout and limits are "
        "per account and device)",
    ),
]
DeviceKey = Annotated[
    str | None,
    Header(
        alias="X-Device-Key",
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The key a paired device got at pairing (POST /api/devices/pair). "
        "Logins that prove it are never locked out by guesses made elsewhere.",
    ),
]


class Throttles:
    """The app's token buckets: API calls per user and device, login attempts per
    account, and all logins together."""

    def __init__(self, lim: Limits) -> None:
        self.api_buckets = Buckets(lim.api_rate, lim.api_burst)
        self.login_buckets = Buckets(lim.login_rate, lim.login_burst)
        self.login_global = Buckets(lim.login_global_rate, lim.login_global_burst)
        # Refresh has its own bucket: a login flood must never log a page out.
        self.refresh_buckets = Buckets(lim.refresh_rate, lim.refresh_burst)

    def reset(self) -> None:
        """Forget every bucket (tests; an operator could expose it later)."""
        for b in (self.api_buckets, self.login_buckets, self.login_global, self.refresh_buckets):
            b.reset()


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def get_throttles(request: Request) -> Throttles:
    throttles: Throttles = request.app.state.throttles
    return throttles


def get_store(request: Request) -> Store:
    return get_context(request).store


# The dependencies themselves are coroutines: FastAPI runs a plain ``def`` dependency in
# its thread pool, two thread hops per request for a dictionary lookup.
async def _context(request: Request) -> AppContext:
    return get_context(request)


async def _throttles(request: Request) -> Throttles:
    return get_throttles(request)


async def _store(request: Request) -> Store:
    return get_context(request).store


ContextDep = Annotated[AppContext, Depends(_context)]
ThrottlesDep = Annotated[Throttles, Depends(_throttles)]
StoreDep = Annotated[Store, Depends(_store)]


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def claims_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> auth.Claims:
    """The verified claims of the request's token, after its API rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("an access token is required")
    claims = get_context(request).authenticate(credentials.credentials)
    get_throttles(request).api_buckets.check(f"user:{claims.user_id}:{claims.device_id or '-'}")
    return claims


def actor_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    # The audit log records where each change came from.
    return replace(claims_of(request, credentials).actor(), **request_origin(request))


# The dependencies below call the functions above rather than each other: FastAPI's cost
# per request grows with the number of dependencies it resolves (tens of microseconds
# each), and these sit on every authenticated call.
async def current_claims(request: Request, credentials: Bearer) -> auth.Claims:
    return claims_of(request, credentials)


CurrentClaims = Annotated[auth.Claims, Depends(current_claims)]


def require(roles: Iterable[str], what: str = "do this") -> Any:
    """The dependency of ``Annotated[Actor, require(...)]``, for routes only some roles
    may use: the one role check of the request at the edge (the write path checks its
    own rules again). The caller spells the ``Annotated`` so that mypy sees a type alias."""
    return gate(None, roles, what)


def gate(entity: str | None, roles: Iterable[str] | None, what: str) -> Any:
    """The route's one check at the edge, as one dependency over the token: the caller is
    logged in, the module of ``entity`` (a registry name) is on, when given, and the
    role may ``what``, when ``roles`` is given. The write path checks its own rules on
    top, whoever calls it."""
    allowed = None if roles is None else frozenset(roles)

    # async: a plain ``def`` dependency costs a thread-pool hop per request.
    async def dependency(request: Request, credentials: Bearer) -> Actor:
        actor = actor_of(request, credentials)
        if entity is not None:
            module_on(get_context(request), registry()[entity])
        if allowed is not None:
            check_role(actor, allowed, what)
        return actor

    return Depends(dependency)


# Any logged-in caller (the routes that check the role themselves, or need none).
CurrentActor = Annotated[Actor, gate(None, None, "")]


def module_on(context: AppContext, spec: EntitySpec) -> None:
    if spec.module != "core" and spec.module not in context.site.modules:
        raise Forbidden(f"the {spec.module} module is not enabled for this organisation")


def check_role(actor: Actor, roles: Iterable[str], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role '{actor.role}' may not {what}")
