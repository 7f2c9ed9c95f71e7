"""
Request-scoped context: request id, organization and actor.

Context variables rather than thread locals, so the values follow the request
through sync and async code, and Celery tasks can set them the same way.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
organization_var: contextvars.ContextVar[Any | None] = contextvars.ContextVar(
    "organization", default=None
)
actor_var: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "actor", default=None
)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def new_request_id() -> str:
    """Return a fresh request id."""
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str:
    """Return ``value`` when it is a safe request id, else a new one.

    A caller-supplied id ends up in logs and headers, so anything that could
    forge a log line or a header is replaced.
    """
    if value and _REQUEST_ID_RE.match(value):
        return value
    return new_request_id()


def get_request_id() -> str | None:
    """Return the current request id (django-auditlog's correlation id getter)."""
    return request_id_var.get()


def get_organization() -> Any | None:
    """Return the organization the current request or task acts in."""
    return organization_var.get()


def get_actor() -> dict[str, Any] | None:
    """Return the current actor: ``{"user": ..., "token": ..., "system": ...}``."""
    return actor_var.get()


@contextmanager
def bound(
    *,
    request_id: str | None = None,
    organization: Any | None = None,
    actor: dict[str, Any] | None = None,
) -> Iterator[None]:
    """Bind request id, organization and actor for the duration of a block."""
    tokens = [
        request_id_var.set(request_id or request_id_var.get() or new_request_id()),
        organization_var.set(organization),
        actor_var.set(actor),
    ]
    try:
        yield
    finally:
        actor_var.reset(tokens[2])
        organization_var.reset(tokens[1])
        request_id_var.reset(tokens[0])
