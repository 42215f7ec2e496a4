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


def field_error(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", details=[{"field": field, "message": message}])
