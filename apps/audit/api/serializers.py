"""Audit API serializers: read-only, in the one event document shape."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.audit.choices import ActorType, AuditAction
from apps.audit.documents import event_document, instance_values


class AuditActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ActorType.choices)
    id = serializers.IntegerField(allow_null=True, help_text="The user's id.")
    email = serializers.CharField(
        allow_null=True, help_text="The user's email; for a failed login, the attempted one."
    )
    token_id = serializers.IntegerField(allow_null=True)
    token_name = serializers.CharField(allow_null=True)
    system = serializers.CharField(allow_null=True, help_text="The task or command that acted.")
    display = serializers.CharField()


class AuditEventSerializer(serializers.Serializer):
    """One audit event, as the API, the exports and the log lines show it."""

    id = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    organization = serializers.CharField(allow_null=True, help_text="The organization's slug.")
    sequence = serializers.IntegerField(
        allow_null=True,
        help_text="Position in the organization's hash chain; null for a moment after the "
        "change commits, until the event is chained.",
    )
    actor = AuditActorSerializer()
    action = serializers.ChoiceField(choices=AuditAction.choices)
    object_type = serializers.CharField(allow_null=True)
    object_id = serializers.CharField(allow_null=True)
    object_repr = serializers.CharField(allow_null=True)
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(), min_length=2, max_length=2),
        help_text="{field: [before, after]}",
    )
    details = serializers.DictField(child=serializers.JSONField())
    request_id = serializers.CharField(allow_null=True)
    ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField(allow_null=True)
    hash = serializers.CharField(allow_null=True, help_text="Null until the event is chained.")
    prev_hash = serializers.CharField(allow_null=True, help_text="Null until the event is chained.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return event_document(instance_values(instance), self.context.get("organization_slug"))
