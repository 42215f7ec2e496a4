"""Domain errors. Services raise these; the HTTP layer and the Qt presenters map them.

Each error carries a stable machine-readable ``code`` and optional structured
``details`` so that every front end can show a precise message without parsing text.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    status = 400  # the HTTP status the API maps this to; kept here so there is one table

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        # Values an edge needs to word the problem in the user's language (see RuleBroken).
        self.params: dict[str, Any] = {}


class Invalid(DomainError):
    """Input that fails validation. ``details`` is a list of {field, message}."""

    code = "invalid"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class Conflict(DomainError):
    """A write that clashes with the stored state (stale version, duplicate id, deleted row).

    ``current`` holds the row as it is now, so a client can show it and let the user choose.
    """

    code = "conflict"
    status = 409

    def __init__(self, message: str, *, details: Any = None, current: Any = None) -> None:
        super().__init__(message, details=details)
        self.current = current


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class RuleBroken(DomainError):
    """A rule of the work refused the change. ``code`` names the rule (``machine_busy``,
    ``short_close_reason_required`` ...) and ``params`` carries what a message needs
    (``{"machine": "Conformadora 1", "job": "VLC-OT-0042"}``); each edge words it in the
    user's language from its own table. The core builds no sentence: ``message`` is only
    the code and parameters, for logs."""

    def __init__(
        self,
        code: str,
        params: dict[str, Any] | None = None,
        *,
        status: int = 409,
        field: str | None = None,
    ) -> None:
        params = {k: v for k, v in (params or {}).items()}
        details = [{"field": field, "message": code}] if field else None
        super().__init__(f"{code} {params}" if params else code, details=details)
        self.code = code
        self.status = status
        self.params = params
        self.field = field
