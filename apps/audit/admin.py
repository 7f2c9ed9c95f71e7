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
from apps.tenancy.admin_mixins import TenantAdminMixin

# django-auditlog registers its own admin for AUDITLOG_LOGENTRY_MODEL.
if admin.site.is_registered(AuditEvent):
    admin.site.unregister(AuditEvent)


class ReadOnlyAdmin(TenantAdminMixin, admin.ModelAdmin):
    """The active organization's audit rows, shown to audit readers, never changed."""

    actions = None
    role_permissions = {"view": "audit.view"}

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


@admin.register(AuditChain)
class AuditChainAdmin(ReadOnlyAdmin):
    list_display = ["id", "last_sequence", "anchor_sequence", "updated_at"]
    search_fields = ["last_hash", "anchor_hash"]
    fields = ["id", "last_sequence", "last_hash", "anchor_sequence", "anchor_hash", "updated_at"]
    readonly_fields = fields

    def scope_queryset(self, queryset: QuerySet, organization: Any) -> QuerySet[AuditChain]:
        # A chain's primary key is its organization's id.
        return queryset.filter(pk=organization.pk)

    def object_organization_id(self, obj: AuditChain) -> int | None:
        return obj.pk
