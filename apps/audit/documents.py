"""
The one shape of an audit event outside the database.

The API, the JSON-lines export and the ``cloudpam.audit`` log lines all use
``event_document``, so a SIEM, a script and a person see the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from apps.audit.choices import ActorType
from apps.audit.context import Actor

# The columns an event document needs, for ``QuerySet.values()``.
DOCUMENT_COLUMNS = (
    "id",
    "timestamp",
    "organization_id",
    "sequence",
    "action",
    "object_type",
    "object_pk",
    "object_repr",
    "changes",
    "additional_data",
    "actor_id",
    "actor_email",
    "actor_token_id",
    "actor_token_name",
    "actor_system",
    "cid",
    "remote_addr",
    "user_agent",
    "hash",
    "prev_hash",
)


def iso_timestamp(value: datetime) -> str:
    """Return ``value`` as ISO 8601 UTC with a ``Z``, as the API writes timestamps."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def actor_of(values: Mapping[str, Any]) -> Actor:
    """Return the actor recorded in an event's column values."""
    return Actor(
        user_id=values["actor_id"],
        email=values["actor_email"],
        token_id=values["actor_token_id"],
        token_name=values["actor_token_name"] or "",
        system=values["actor_system"] or "",
    )


def actor_display(actor: Actor) -> str:
    """Return a one-line description of an actor, for tables and exports."""
    if actor.type == ActorType.TOKEN:
        owner = f" ({actor.email})" if actor.email else ""
        return f"token {actor.token_name}{owner}"
    if actor.type == ActorType.USER:
        return f"{actor.email} ({actor.system})" if actor.system else str(actor.email)
    if actor.type == ActorType.SYSTEM:
        return actor.system
    return actor.email or "anonymous"


def actor_document(actor: Actor) -> dict[str, Any]:
    """Return the ``actor`` object of an event document."""
    return {
        "type": str(actor.type),
        "id": actor.user_id,
        "email": actor.email,
        "token_id": actor.token_id,
        "token_name": actor.token_name or None,
        "system": actor.system or None,
        "display": actor_display(actor),
    }


def event_document(values: Mapping[str, Any], organization_slug: str | None) -> dict[str, Any]:
    """Return an event as the API, the exports and the log lines show it."""
    return {
        "id": values["id"],
        "timestamp": iso_timestamp(values["timestamp"]),
        "organization": organization_slug,
        "sequence": values["sequence"],
        "actor": actor_document(actor_of(values)),
        "action": values["action"],
        "object_type": values["object_type"] or None,
        "object_id": values["object_pk"] or None,
        "object_repr": values["object_repr"] or None,
        "changes": values["changes"] or {},
        "details": values["additional_data"] or {},
        "request_id": values["cid"],
        "ip": values["remote_addr"],
        "user_agent": values["user_agent"] or None,
        "hash": values["hash"],
        "prev_hash": values["prev_hash"],
    }


def instance_values(event: Any) -> dict[str, Any]:
    """Return the document columns of a model instance."""
    return {name: getattr(event, name) for name in DOCUMENT_COLUMNS}
