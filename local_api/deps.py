"""Request dependencies shared by the routers: who is calling, may they, and are they
going too fast. One ``Deps`` per app (no module globals)."""

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.errors import Forbidden, Unauthenticated
from core.registry import EntitySpec
from core.services import auth
from core.services.writes import Actor
from local_api.context import AppContext
from local_api.ratelimit import Buckets

bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")

DeviceId = Annotated[
    str | None,
    Header(
        alias="X-Device-Id",
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Stable id of this browser or terminal (lockout and limits are "
        "per account and device)",
    ),
]


class Deps:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        lim = context.limits
        self.api_buckets = Buckets(lim.api_rate, lim.api_burst)
        self.login_buckets = Buckets(lim.login_rate, lim.login_burst)
        self.login_global = Buckets(lim.login_global_rate, lim.login_global_burst)

        async def current_claims(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> auth.Claims:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise Unauthenticated("an access token is required")
            claims = context.authenticate(credentials.credentials)
            self.api_buckets.check(f"user:{claims.user_id}:{claims.device_id or '-'}")
            return claims

        async def current_actor(
            claims: Annotated[auth.Claims, Depends(current_claims)],
        ) -> Actor:
            return claims.actor()

        self.current_claims = current_claims
        self.current_actor = current_actor

    def reset_limits(self) -> None:
        """Forget every rate-limit bucket (tests; an operator could expose it later)."""
        for b in (self.api_buckets, self.login_buckets, self.login_global):
            b.reset()

    def require(self, roles: Iterable[str]) -> Callable[..., Any]:
        allowed = frozenset(roles)
        current = self.current_actor

        async def dependency(actor: Annotated[Actor, Depends(current)]) -> Actor:
            if actor.role not in allowed:
                raise Forbidden(f"role '{actor.role}' may not do this")
            return actor

        return dependency

    def module_enabled(self, spec: EntitySpec) -> None:
        if spec.module != "core" and spec.module not in self.context.site.modules:
            raise Forbidden(f"the {spec.module} module is not enabled for this organisation")


def check_role(actor: Actor, roles: Iterable[str], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"role '{actor.role}' may not {what}")
