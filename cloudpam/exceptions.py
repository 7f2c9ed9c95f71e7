"""
The application's exception hierarchy.

Services raise these; the API exception handler and the console render them.
Each carries a stable machine ``code`` from SPEC.md's error schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ApplicationError(Exception):
    """An expected failure with a machine code, a message and optional field errors."""

    status_code = 400
    default_code = "validation_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = {key: list(value) for key, value in (fields or {}).items()}
        self.headers = dict(headers or {})


class ValidationError(ApplicationError):
    """Input that breaks a rule (400)."""


class NotFound(ApplicationError):
    """No such object in the caller's organization (404)."""

    status_code = 404
    default_code = "not_found"


class PermissionDenied(ApplicationError):
    """The caller's role, scope or grants do not allow the action (403)."""

    status_code = 403
    default_code = "permission_denied"


class Conflict(ApplicationError):
    """The action conflicts with the current state (409): overlap, no space, live children."""

    status_code = 409
    default_code = "conflict"


class QuotaExceeded(ApplicationError):
    """An organization quota is used up (429)."""

    status_code = 429
    default_code = "quota_exceeded"


class RateLimited(ApplicationError):
    """Too many requests in the current window (429)."""

    status_code = 429
    default_code = "rate_limited"
