"""Reads of the audit trail: searches, object histories, summaries, chain verification."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Count

from apps.audit.hashing import GENESIS_HASH, chain_hash
from apps.audit.models import HASHED_FIELDS, AuditChain, AuditEvent, hash_content
from apps.tenancy.models import Organization

VERIFY_CHUNK = 2000


def audit_event_list(*, organization: Organization | None) -> models.QuerySet[AuditEvent]:
    """Return the events of ``organization``, newest first (none without an organization)."""
    return AuditEvent.objects.for_organization(organization).select_related("organization")


def audit_event_get(*, organization: Organization | None, event_id: int) -> AuditEvent | None:
    """Return one event of ``organization``, or None when it has no such event."""
    return audit_event_list(organization=organization).filter(pk=event_id).first()


def audit_events_for_object(
    *, organization: Organization | None, obj: models.Model
) -> models.QuerySet[AuditEvent]:
    """Return the history of one row of ``organization``, newest first."""
    return audit_event_list(organization=organization).filter(
        content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk)
    )


@dataclass(frozen=True)
class AuditSummary:
    """Counts of the events of a period, for the PDF report."""

    organization: Organization
    since: datetime
    until: datetime
    total: int
    by_action: list[tuple[str, int]]
    by_actor: list[tuple[str, int]]
    by_object_type: list[tuple[str, int]]
    top_objects: list[tuple[str, str, str, int]]
    chain_sequence: int
    chain_hash: str


def audit_summary(
    *, organization: Organization, since: datetime, until: datetime, top: int = 20
) -> AuditSummary:
    """Return what happened in ``organization`` between ``since`` and ``until``.

    Every figure is an aggregate computed by the database, so a report over
    millions of events costs a handful of queries and no memory.
    """
    events = AuditEvent.objects.filter(
        organization=organization, timestamp__gte=since, timestamp__lt=until
    ).order_by()

    def counted(*columns: str, limit: int | None = None) -> list[tuple[Any, ...]]:
        rows = events.values(*columns).annotate(n=Count("id")).order_by("-n", *columns)
        if limit is not None:
            rows = rows[:limit]
        return [(*(row[column] for column in columns), row["n"]) for row in rows]

    by_actor = [
        (f"token {token}" if token else email or system or "anonymous", n)
        for email, system, token, n in counted(
            "actor_email", "actor_system", "actor_token_name", limit=top
        )
    ]
    top_objects = [
        (object_type, object_pk, object_repr, n)
        for object_type, object_pk, object_repr, n in counted(
            "object_type", "object_pk", "object_repr", limit=top
        )
        if object_type
    ]
    chain = AuditChain.objects.filter(pk=organization.pk).first()
    return AuditSummary(
        organization=organization,
        since=since,
        until=until,
        total=events.count(),
        by_action=[(action, n) for action, n in counted("action")],
        by_actor=by_actor,
        by_object_type=[(kind or "-", n) for kind, n in counted("object_type")],
        top_objects=top_objects,
        chain_sequence=chain.last_sequence if chain else 0,
        chain_hash=chain.last_hash if chain else GENESIS_HASH,
    )


def audit_chain_keys() -> list[int | None]:
    """Return every chain that has, or should have, events: organizations and the global one."""
    keys: set[int] = set(AuditChain.objects.values_list("pk", flat=True))
    keys.update(Organization.objects.values_list("pk", flat=True))
    keys.update(
        AuditEvent.objects.exclude(organization__isnull=True)
        .order_by()
        .values_list("organization_id", flat=True)
        .distinct()
    )
    keys.discard(AuditChain.GLOBAL)
    return [None, *sorted(keys)]


@dataclass
class ChainVerification:
    """The result of checking one chain."""

    organization_id: int | None
    verified: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None
    broken_event_id: int | None = None
    broken_sequence: int | None = None
    problem: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problem


def _chain_rows(organization_id: int | None) -> Iterator[dict[str, Any]]:
    columns = ("id", *HASHED_FIELDS, "prev_hash", "hash")
    # Ordered by the position in the chain, read in chunks: constant memory for any length.
    return (
        AuditEvent.objects.filter(organization_id=organization_id, sequence__isnull=False)
        .order_by("sequence")
        .values(*columns)
        .iterator(chunk_size=VERIFY_CHUNK)
    )


def audit_chain_verify(*, organization_id: int | None) -> ChainVerification:
    """Check the hash chain of one organization (the global chain for None).

    Every event must follow the previous one (or the retention anchor)
    without a gap, carry the previous hash, and hash to its stored hash; the
    last event must be the chain's recorded head, and the newest retention
    event must name the anchor the chain starts from. Stops at the first
    broken event. Events not chained yet are not part of the chain: they are
    counted in a note.
    """
    result = ChainVerification(organization_id=organization_id)
    key = organization_id if organization_id is not None else AuditChain.GLOBAL
    head = AuditChain.objects.filter(pk=key).first() or AuditChain(pk=key)
    expected_sequence = head.anchor_sequence + 1
    prev_hash = head.anchor_hash
    latest_retention: dict[str, Any] | None = None
    for row in _chain_rows(organization_id):
        problem = ""
        if row["sequence"] != expected_sequence:
            problem = (
                f"expected sequence {expected_sequence}, found {row['sequence']}: "
                "events before it are missing"
            )
        elif row["prev_hash"] != prev_hash:
            problem = "its previous hash does not match the hash of the event before it"
        elif chain_hash(hash_content(row), row["prev_hash"]) != row["hash"]:
            problem = "its content does not match its hash: it was changed"
        if problem:
            result.broken_event_id = row["id"]
            result.broken_sequence = row["sequence"]
            result.problem = problem
            return result
        if result.first_sequence is None:
            result.first_sequence = row["sequence"]
        result.last_sequence = row["sequence"]
        result.verified += 1
        if row["action"] == "retention":
            latest_retention = row["additional_data"] or {}
        expected_sequence += 1
        prev_hash = row["hash"]
    last = expected_sequence - 1
    if (last, prev_hash) != (head.last_sequence, head.last_hash):
        result.problem = (
            f"the chain ends at sequence {last} but its head records sequence "
            f"{head.last_sequence}: events were removed from its end"
        )
        result.broken_sequence = last + 1
        return result
    anchor = (head.anchor_sequence, head.anchor_hash)
    if latest_retention is None:
        if anchor != (0, GENESIS_HASH) and result.verified:
            result.problem = "the chain starts after an anchor that no retention event records"
    elif (latest_retention.get("anchor_sequence"), latest_retention.get("anchor_hash")) != anchor:
        result.problem = "the chain's anchor differs from the one its last retention event set"
    if anchor != (0, GENESIS_HASH):
        result.notes.append(f"anchored at sequence {anchor[0]} by retention")
    pending = AuditEvent.objects.filter(
        organization_id=organization_id, sequence__isnull=True
    ).count()
    if pending:
        result.notes.append(f"{pending} event(s) not chained yet")
    return result
