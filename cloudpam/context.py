"""
Request-scoped context: request id, organization and actor, and the operation under way.

Context variables rather than thread locals, so the values follow the request
through sync and async code, and Celery tasks can set them the same way.

Services take their actor explicitly (an ``Actor``) and name what they do with
``operation(...)``; the audit trail, which observes every model change through
signals, reads both from here. The bound actor of a request or task is only the
fallback for changes made outside any service.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class Actor:
    """Who acts: a user, possibly through an API token, or the system (a task, a command).

    ``scopes`` are the scopes of the token acted through (None: not through a token),
    which narrow what the user's role allows. ``superuser`` marks a superuser working
    in the Django admin, the one place where the role matrix does not bind them.
    """

    user_id: int | None = None
    email: str | None = None
    token_id: int | None = None
    token_name: str = ""
    system: str = ""
    scopes: tuple[str, ...] | None = None
    superuser: bool = False

    @property
    def type(self) -> str:
        """Return ``token``, ``user``, ``system`` or ``anonymous`` (the audit's actor types)."""
        if self.token_id is not None:
            return "token"
        if self.user_id is not None:
            return "user"
        if self.system:
            return "system"
        return "anonymous"

    @property
    def is_person(self) -> bool:
        """Return whether a signed-in user acts (directly or through a token)."""
        return self.user_id is not None


def actor_from(*, user: Any | None = None, token: Any | None = None, system: str = "") -> Actor:
    """Return the actor for a user, an API token and/or a system task name."""
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if user is None and token is not None:
        # A token belongs to a user directly or through its membership.
        user = getattr(token, "user", None) or getattr(
            getattr(token, "membership", None), "user", None
        )
    scopes = getattr(token, "scopes", None) if token is not None else None
    return Actor(
        user_id=getattr(user, "pk", None),
        email=getattr(user, "email", None),
        token_id=getattr(token, "pk", None),
        token_name=str(getattr(token, "name", "") or "") if token is not None else "",
        system=system,
        scopes=tuple(scopes) if scopes is not None else None,
    )


def actor_of(request: Any) -> Actor:
    """Return the actor of a request: its user, and the API token it came with, if any."""
    token = getattr(request, "auth", None)
    if token is not None and not hasattr(token, "scopes"):
        token = None  # Another authentication's credential object, not an API token.
    actor = actor_from(user=getattr(request, "user", None), token=token)
    if getattr(request, "admin_superuser", False):
        # Set by ActiveOrganizationMiddleware with the admin's row-level security bypass.
        actor = replace(actor, superuser=True)
    return actor


def system_actor(name: str = "system") -> Actor:
    """Return the actor for work the system does by itself (a task, a command, seeding)."""
    return Actor(system=name)


@dataclass(frozen=True)
class Operation:
    """What a service is doing, for the audit events of the rows it changes.

    ``action`` names the event of the row the operation is about (``allocate``,
    ``move``, ``resize``) instead of a generic create or update; ``details``
    (e.g. the plan an operation belongs to) go on every event it causes.
    """

    action: str
    actor: Actor
    details: Mapping[str, Any] = field(default_factory=dict)
    target: tuple[str, Any] | None = None

    def names(self, label: str, pk: Any) -> bool:
        """Return whether the change of row ``pk`` of model ``label`` is the one named."""
        return self.target is None or self.target == (label, pk)


operation_var: contextvars.ContextVar[Operation | None] = contextvars.ContextVar(
    "operation", default=None
)


def get_operation() -> Operation | None:
    """Return the operation under way, if a service declared one."""
    return operation_var.get()


@contextmanager
def operation(
    action: str,
    *,
    actor: Actor,
    details: Mapping[str, Any] | None = None,
    target: tuple[str, Any] | None = None,
) -> Iterator[Operation]:
    """Declare the operation a service carries out, for the audit events it causes.

    ``target`` (``("pools.pool", pk)``) limits the named action to that row;
    without it, every create or update inside the block is named ``action``.
    """
    outer = operation_var.get()
    merged = {**(outer.details if outer else {}), **(details or {})}
    current = Operation(action=action, actor=actor, details=merged, target=target)
    token = operation_var.set(current)
    try:
        yield current
    finally:
        operation_var.reset(token)


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
