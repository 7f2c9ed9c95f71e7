"""
Who acts, and from where: what every audit event records about its origin.

The request id, organization and actor come from ``cloudpam.context``, bound
by the request middleware, the token authentication, Celery task hooks
(``apps.audit.receivers``) or a caller's own ``context.bound(...)``. The
client address and user agent come from ``AuditContextMiddleware``.
"""

from __future__ import annotations

import contextvars
import sys
from dataclasses import dataclass
from pathlib import Path

from apps.audit.choices import ActorType
from cloudpam import context
from cloudpam.context import Actor, actor_from

__all__ = [
    "Actor",
    "RequestMeta",
    "actor_from",
    "current_actor",
    "get_request_id",
    "get_request_meta",
    "request_meta_var",
]


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from."""

    ip: str | None = None
    user_agent: str = ""


request_meta_var: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar(
    "audit_request_meta", default=None
)

# One id for everything a management command does, so its events can be found together.
_COMMAND_RUN_ID = context.new_request_id()


def get_request_meta() -> RequestMeta:
    """Return the client address and user agent of the current request, if any."""
    return request_meta_var.get() or RequestMeta()


def _command_name() -> str | None:
    """Return the management command this process runs, or None."""
    argv = sys.argv
    if len(argv) > 1 and Path(argv[0]).name in {"manage.py", "django-admin"}:
        return argv[1]
    return None


def get_request_id() -> str | None:
    """Return the current request id; a management command gets one id per run."""
    request_id = context.get_request_id()
    if request_id is None and _command_name() is not None:
        return _COMMAND_RUN_ID
    return request_id


def current_actor() -> Actor:
    """Return the actor of the current request, task or command.

    Without a bound actor, outside a request, the process itself acts: a
    management command is named after itself, anything else is "system".
    Scripts name their actor with ``cloudpam.context.bound(actor={"user": ...})``;
    django-auditlog's ``set_actor()`` is not read, as it never unsets its actor.
    """
    bound = context.get_actor() or {}
    actor = actor_from(
        user=bound.get("user"), token=bound.get("token"), system=bound.get("system") or ""
    )
    if actor.type == ActorType.ANONYMOUS and context.get_request_id() is None:
        command = _command_name()
        return Actor(system=f"command:{command}" if command else "system")
    return actor
