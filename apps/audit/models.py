"""The audit trail: one append-only, hash-chained table of events, and the chain heads."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.audit.choices import AuditAction
from apps.audit.context import Actor
from apps.audit.hashing import GENESIS_HASH, chain_hash

# The columns each event's hash covers, by attribute name.
HASHED_FIELDS = (
    "organization_id",
    "sequence",
    "timestamp",
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
)


def canonical_timestamp(value: datetime) -> str:
    """Return ``value`` as ISO 8601 in UTC with microseconds, as the hash covers it."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_ip(value: str | None) -> str | None:
    """Return an address in one spelling, whatever the database hands back."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def hash_content(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return the content an event's hash covers, from its column values."""
    content = {name: values[name] for name in HASHED_FIELDS}
    content["timestamp"] = canonical_timestamp(values["timestamp"])
    content["remote_addr"] = canonical_ip(values["remote_addr"])
    return content


class AuditEventQuerySet(models.QuerySet):
    """Audit events, narrowed to one organization like every tenant row."""

    def for_organization(self, organization: Any) -> AuditEventQuerySet:
        """Return the events of ``organization`` only (none when it is None)."""
        if organization is None:
            return self.none()
        return self.filter(organization=organization)


class AuditEventManager(LogEntryManager.from_queryset(AuditEventQuerySet)):  # type: ignore[misc]
    """django-auditlog's entry points, routed to the audit service.

    django-auditlog calls ``log_create`` from its model signal receivers, and
    services call it for writes that bypass signals (``QuerySet.update``,
    ``bulk_create``): every change reaches the same writer, which adds the
    organization, the actor and the hash chain.
    """

    def log_create(self, instance: models.Model, force_log: bool = False, **kwargs: Any) -> Any:
        """Record a change of ``instance``; return the (first) event, or None without changes."""
        from apps.audit.services import audit_record_model_change

        changes = kwargs.get("changes")
        if not changes and not force_log:
            return None
        return audit_record_model_change(
            instance=instance,
            action=kwargs.get("action", AbstractLogEntry.Action.UPDATE),
            changes=changes or {},
        )

    def log_create_many(
        self,
        entries: Sequence[tuple[models.Model, str]],
        *,
        return_events: bool = True,
        chain_now: bool = False,
    ) -> list[Any]:
        """Record the creation of many rows written by ``bulk_create``, in order.

        ``entries`` pairs each new row with the operation that created it (``create``,
        ``allocate``). Each gets the event its ``post_save`` would have caused, and
        nothing is recorded while django-auditlog is disabled (e.g. in a dry run).
        ``return_events`` and ``chain_now`` are those of ``audit_events_record``.
        """
        from apps.audit.diff import row_diff, row_values

        return self._log_many(
            (
                (
                    instance,
                    AbstractLogEntry.Action.CREATE,
                    row_diff(type(instance), None, row_values(instance)),
                    operation,
                )
                for instance, operation in entries
            ),
            return_events=return_events,
            chain_now=chain_now,
        )

    def log_update_many(
        self,
        entries: Sequence[tuple[models.Model, Mapping[str, Any], Mapping[str, Any]]],
        *,
        return_events: bool = True,
        chain_now: bool = False,
    ) -> list[Any]:
        """Record the updates of many rows written by ``QuerySet.update``, in order.

        Each entry is a row with the values of the updated fields before and after, by
        field name: the event is the one ``save(update_fields=...)`` would have caused.
        Without ``return_events`` the events are written but not returned (no instances);
        ``chain_now`` inserts them chained (see ``audit_events_record``).
        """
        from apps.audit.diff import row_diff

        return self._log_many(
            (
                (
                    instance,
                    AbstractLogEntry.Action.UPDATE,
                    row_diff(type(instance), before, after, after),
                    None,
                )
                for instance, before, after in entries
            ),
            return_events=return_events,
            chain_now=chain_now,
        )

    def log_delete_many(
        self,
        instances: Sequence[models.Model],
        *,
        return_events: bool = True,
        chain_now: bool = False,
    ) -> list[Any]:
        """Record the deletion of many rows removed by one ``DELETE``, in order.

        ``instances`` hold the rows' values as they were: each gets the event its
        ``post_delete`` would have caused. Without ``return_events`` none is returned;
        ``chain_now`` inserts them chained (see ``audit_events_record``).
        """
        from apps.audit.diff import row_diff, row_values

        return self._log_many(
            (
                (
                    instance,
                    AbstractLogEntry.Action.DELETE,
                    row_diff(type(instance), row_values(instance), None),
                    None,
                )
                for instance in instances
            ),
            return_events=return_events,
            chain_now=chain_now,
        )

    def _log_many(
        self,
        entries: Iterable[tuple[models.Model, int, dict[str, Any], str | None]],
        *,
        return_events: bool = True,
        chain_now: bool = False,
    ) -> list[Any]:
        from auditlog.context import auditlog_disabled

        from apps.audit.services import ModelChange, audit_model_changes_record

        if auditlog_disabled.get(False):
            return []
        return audit_model_changes_record(
            entries=[
                ModelChange(instance=instance, action=action, changes=changes, operation=operation)
                for instance, action, changes, operation in entries
            ],
            return_events=return_events,
            chain_now=chain_now,
        )

    def log_m2m_changes(self, *args: Any, **kwargs: Any) -> None:
        """Refuse django-auditlog's many-to-many logging: ``apps.audit`` records those itself.

        Its ``post_clear`` handling would list every row of the related
        table; ``apps.audit.receivers`` records before and after instead.
        """
        raise NotImplementedError("Many-to-many changes are recorded by apps.audit.receivers.")


class AuditEvent(AbstractLogEntry):
    """One event of the audit trail: a change of a row or an access event.

    Append-only: nothing updates an event but the chainer, once, to give it
    its place in the chain (``sequence``, ``prev_hash`` and ``hash`` go from
    empty to set), nothing deletes one but the retention task, and on
    PostgreSQL a trigger refuses anything else. Events of an organization form
    a hash chain ordered by ``sequence``; events without an
    organization (e.g. a failed login for an unknown email) form the global
    chain. References to users, organizations and content types are kept
    without database constraints, so that deleting those rows never touches
    (or is blocked by) the trail.
    """

    # Every event is written into each of this table's indexes, and chaining it writes it
    # into them again (``sequence`` is indexed, so the update cannot be HOT): only the
    # indexes that a query of the trail uses are kept (see ``Meta.indexes``). None of them
    # is a ``varchar_pattern_ops`` twin, which serves only case-sensitive prefix searches;
    # the trail's searches are exact or case-insensitive.
    # Text actions instead of django-auditlog's integers: SPEC.md's vocabulary.
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    content_type = models.ForeignKey(
        "contenttypes.ContentType",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # a row's history is found by object_pk, then narrowed
        null=True,
        blank=True,
        related_name="+",
    )
    object_pk = models.CharField(max_length=255, verbose_name="object pk")
    # Nothing looks events up by it: object_pk holds every key, whatever its type.
    object_id = models.BigIntegerField(blank=True, null=True, verbose_name="object id")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the actor filter matches the email, token or system name
        null=True,
        blank=True,
        related_name="+",
    )
    cid = models.CharField(max_length=255, null=True, blank=True, verbose_name="Correlation ID")
    organization = models.ForeignKey(
        "tenancy.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the leading column of the composite indexes below
        null=True,
        blank=True,
        related_name="+",
    )
    sequence = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Position in the organization's chain; empty until the event is chained.",
    )
    object_type = models.CharField(max_length=100, blank=True)
    actor_token_id = models.BigIntegerField(null=True, blank=True)
    actor_token_name = models.CharField(max_length=255, blank=True)
    actor_system = models.CharField(
        max_length=255, blank=True, help_text="The task or command that acted, if any."
    )
    user_agent = models.CharField(max_length=512, blank=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)

    objects = AuditEventManager()

    class Meta(AbstractLogEntry.Meta):
        ordering = ["-timestamp", "-id"]
        verbose_name = "audit event"
        verbose_name_plural = "audit events"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sequence"],
                condition=Q(organization__isnull=False),
                name="audit_event_unique_org_sequence",
            ),
            models.UniqueConstraint(
                fields=["sequence"],
                condition=Q(organization__isnull=True),
                name="audit_event_unique_global_sequence",
            ),
        ]
        indexes = [
            # Plain b-trees of the columns the filters match exactly (action, object type,
            # object id, request id). Each field had ``db_index`` before; migration 0010
            # renames those indexes rather than building them again.
            models.Index(fields=["action"], name="audit_event_action"),
            models.Index(fields=["object_type"], name="audit_event_object_type"),
            models.Index(fields=["object_pk"], name="audit_event_object_pk"),
            models.Index(fields=["cid"], name="audit_event_cid"),
            models.Index(fields=["organization", "timestamp"], name="audit_event_org_time"),
            models.Index(
                fields=["organization", "object_type", "object_pk"], name="audit_event_org_object"
            ),
            models.Index(fields=["organization", "actor_email"], name="audit_event_org_actor"),
            # The chainer's work list: small, as events wait only until their commit.
            models.Index(
                fields=["organization", "id"],
                condition=Q(sequence__isnull=True),
                name="audit_event_unchained",
            ),
        ]

    def __str__(self) -> str:
        subject = f"{self.object_type} {self.object_repr}".strip()
        return f"{self.get_action_display()} {subject}".strip()

    @property
    def chained(self) -> bool:
        return self.sequence is not None

    @property
    def request_id(self) -> str | None:
        return self.cid

    @property
    def ip(self) -> str | None:
        return self.remote_addr

    @property
    def actor_info(self) -> Actor:
        return Actor(
            user_id=self.actor_id,
            email=self.actor_email,
            token_id=self.actor_token_id,
            token_name=self.actor_token_name,
            system=self.actor_system,
        )

    def compute_hash(self) -> str:
        """Return the hash this event's content and ``prev_hash`` give."""
        values = {name: getattr(self, name) for name in HASHED_FIELDS}
        return chain_hash(hash_content(values), self.prev_hash)


class AuditChain(models.Model):
    """The head of one hash chain, and where it starts after retention.

    The primary key is the organization's id (0 for the global chain). The
    chainer locks this row, so two events can never take the same place in a
    chain; writers of events do not touch it. ``anchor_*`` is the last event
    removed by retention: the first retained event must follow it.
    """

    id = models.BigIntegerField(primary_key=True)
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    anchor_sequence = models.PositiveBigIntegerField(default=0)
    anchor_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(auto_now=True)

    GLOBAL = 0

    class Meta:
        ordering = ["id"]
        verbose_name = "audit chain"

    def __str__(self) -> str:
        name = "global" if self.pk == self.GLOBAL else f"organization {self.pk}"
        return f"Audit chain of {name} (at {self.last_sequence})"

    @property
    def organization_id(self) -> int | None:
        return None if self.pk == self.GLOBAL else self.pk
