"""Read-only admin of the audit trail: nobody, not even a superuser, changes or deletes events."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from apps.audit.documents import actor_display
from apps.audit.models import AuditChain, AuditEvent
from apps.tenancy.models import Membership
from apps.tenancy.roles import AUDIT_READERS

# django-auditlog registers its own admin for AUDITLOG_LOGENTRY_MODEL.
if admin.site.is_registered(AuditEvent):
    admin.site.unregister(AuditEvent)


def _readable_organization_ids(request: HttpRequest) -> list[int]:
    return list(
        Membership.objects.filter(user=request.user, role__in=AUDIT_READERS).values_list(
            "organization_id", flat=True
        )
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that shows rows and never adds, changes or deletes them."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    date_hierarchy = "timestamp"
    list_display = [
        "timestamp",
        "organization_id",
        "sequence",
        "action",
        "object_type",
        "object_pk",
        "object_repr",
        "actor_label",
        "cid",
        "remote_addr",
    ]
    list_filter = ["action", "object_type", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["object_repr", "object_pk", "actor_email", "actor_token_name", "cid"]
    show_full_result_count = False
    fields = [
        "timestamp",
        "organization",
        "sequence",
        "action",
        "object_type",
        "object_pk",
        "object_repr",
        "actor_label",
        "actor_system",
        "cid",
        "remote_addr",
        "user_agent",
        "changes_table",
        "details",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    @admin.display(description="actor")
    def actor_label(self, obj: AuditEvent) -> str:
        return actor_display(obj.actor_info)

    @admin.display(description="changes")
    def changes_table(self, obj: AuditEvent) -> str:
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            (
                (field, json.dumps(values[0]), json.dumps(values[-1]))
                for field, values in (obj.changes or {}).items()
            ),
        )
        return format_html(
            "<table><tr><th>field</th><th>before</th><th>after</th></tr>{}</table>", rows
        )

    @admin.display(description="details")
    def details(self, obj: AuditEvent) -> str:
        return json.dumps(obj.additional_data or {}, indent=2, sort_keys=True)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(organization_id__in=_readable_organization_ids(request))


@admin.register(AuditChain)
class AuditChainAdmin(ReadOnlyAdmin):
    list_display = ["id", "last_sequence", "anchor_sequence", "updated_at"]
    search_fields = ["last_hash", "anchor_hash"]
    fields = ["id", "last_sequence", "last_hash", "anchor_sequence", "anchor_hash", "updated_at"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditChain]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=_readable_organization_ids(request))
