"""Serializers of the template API: strict input shapes and the read shapes of SPEC 7.1."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.planning.engine.templates import TEMPLATES
from apps.planning.template_models import NAME_MAX_LENGTH
from apps.planning.template_selectors import TemplateEntry
from apps.pools.api.serializers import StrictCharField


class StrictJSONObjectField(serializers.JSONField):
    """A JSON field that takes an object only; the services check what is inside."""

    default_error_messages = {"invalid": "A JSON object is required."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("invalid")
        return data


class TemplateSerializer(serializers.Serializer):
    """A template: built-in (key = its name) or the organization's own (key = ``org-<id>``)."""

    key = serializers.CharField()
    name = serializers.CharField()
    template = serializers.CharField(help_text="The built-in template it is based on.")
    version = serializers.IntegerField()
    builtin = serializers.BooleanField()
    description = serializers.CharField()
    levels = serializers.ListField(child=serializers.CharField())
    params = serializers.JSONField(help_text="The parameters (for a built-in: an example).")
    naming = serializers.DictField(child=serializers.CharField())
    id = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.SerializerMethodField()
    updated_at = serializers.SerializerMethodField()

    def get_id(self, entry: TemplateEntry) -> int | None:
        return entry.saved.pk if entry.saved is not None else None

    def get_created_by(self, entry: TemplateEntry) -> str | None:
        user = entry.saved.created_by if entry.saved is not None else None
        return user.email if user is not None else None

    def get_created_at(self, entry: TemplateEntry) -> str | None:
        return entry.saved.created_at.isoformat() if entry.saved is not None else None

    def get_updated_at(self, entry: TemplateEntry) -> str | None:
        return entry.saved.updated_at.isoformat() if entry.saved is not None else None


class TemplateCreateSerializer(serializers.Serializer):
    """Save an organization template from a built-in one and parameters."""

    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    template = serializers.ChoiceField(choices=list(TEMPLATES))
    description = StrictCharField(required=False, allow_blank=True, max_length=2000)
    params = StrictJSONObjectField(required=False)
    naming = StrictJSONObjectField(required=False)


class TemplateUpdateSerializer(serializers.Serializer):
    """Change a saved template; params, when given, replace the saved ones whole."""

    name = StrictCharField(required=False, max_length=NAME_MAX_LENGTH)
    description = StrictCharField(required=False, allow_blank=True, max_length=2000)
    params = StrictJSONObjectField(required=False)
    naming = StrictJSONObjectField(required=False)


class GenerateSerializer(serializers.Serializer):
    """Parameters merged over the template's own; an optional plan title."""

    params = StrictJSONObjectField(required=False)
    title = StrictCharField(required=False, max_length=255)


class PreviewSerializer(serializers.Serializer):
    """What a template would generate: counts, the tree and the operations."""

    template = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.CharField()
    supernet = serializers.CharField()
    ipv6_supernet = serializers.CharField(allow_null=True)
    used_percent = serializers.CharField(help_text="Share of the supernet the top level uses.")
    counts = serializers.DictField(child=serializers.IntegerField())
    operation_count = serializers.IntegerField()
    tree = serializers.CharField(help_text="ASCII tree of the pools (first 400 lines).")
    operations = serializers.ListField(child=serializers.JSONField())
