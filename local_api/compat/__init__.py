"""HTTP of the compatibility APIs: the old browser apps talk to the site unchanged.

Each app picks its API by base URL (``/compat/factory``, ``/compat/tour/api``); the
routes only parse, call ``core.compat`` and present. Shared here: who is calling, and
the app's context and login limits (the same ``local_api.deps`` the native routes use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from apikit.ratelimit import Buckets
from core.registry import EntitySpec
from local_api.context import AppContext
from local_api.deps import (
    ContextDep,
    CurrentActor,
    ThrottlesDep,
    current_claims,
    module_on,
)

__all__ = ["AppDeps", "Context", "CurrentActor", "current_claims"]


@dataclass(frozen=True)
class CompatDeps:
    """What a compatibility route needs of the app: its context, the login limits the
    keypad login uses too, and the module check."""

    context: AppContext
    login_buckets: Buckets
    login_global: Buckets

    def module_enabled(self, spec: EntitySpec) -> None:
        module_on(self.context, spec)


async def compat_deps(context: ContextDep, throttles: ThrottlesDep) -> CompatDeps:
    return CompatDeps(context, throttles.login_buckets, throttles.login_global)


Context = ContextDep
AppDeps = Annotated[CompatDeps, Depends(compat_deps)]
