"""Admin of agents, tokens, batches, resources and sync runs: read-only, decisions by action.

Credentials are never shown (only prefixes); tokens are created in the console or the
API, where the value can be shown once. Approve, reject and revoke go through the same
services as the API and need ``agents.manage`` in the organization, as there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from apps.discovery import services
from apps.discovery.models import (
    Agent,
    AgentProvisioningToken,
    DiscoveredResource,
    DriftFinding,
    IngestBatch,
    SyncRun,
)
from apps.tenancy.admin_mixins import TenantAdminMixin
from cloudpam.admin_actions import confirmed_action
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError


class ReadOnlyTenantAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Show rows of the active organization; nothing is added, edited or deleted here."""

    role_permissions = {"view": "agents.view"}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "agents.manage")

    def act(self, request: HttpRequest, queryset: QuerySet, service: Callable, done: str) -> None:
        """Run ``service`` on each selected row the member may manage; report the others."""
        allowed, denied = self.permitted(request, "agents.manage", queryset)
        self.deny_message(request, "agents.manage", denied)
        count = 0
        for obj in allowed:
            try:
                service(obj, actor_of(request))
            except ApplicationError as exc:
                self.message_user(request, f"{obj}: {exc.message}", messages.WARNING)
            else:
                count += 1
        if count:
            self.message_user(request, f"{done} {count}.", messages.SUCCESS)


@admin.register(Agent)
class AgentAdmin(ReadOnlyTenantAdmin):
    """Agents and their status; the credential is never shown, not even its hash."""

    list_display = [
        "name",
        "hostname",
        "version",
        "status",
        "stale",
        "last_heartbeat_at",
        "organization",
        "registered_at",
    ]
    list_filter = ["organization", "status"]
    search_fields = ["name", "hostname", "credential_prefix"]
    list_select_related = ["organization"]
    fields = [
        "name",
        "organization",
        "hostname",
        "version",
        "status",
        "stale",
        "credential_prefix",
        "provisioning_token",
        "registered_at",
        "registered_ip",
        "decided_at",
        "decided_by",
        "last_heartbeat_at",
        "last_seen_ip",
    ]
    readonly_fields = fields
    actions = ["approve_agents", "reject_agents", "revoke_agents"]

    @admin.display(boolean=True, description="stale")
    def stale(self, obj: Agent) -> bool:
        return obj.is_stale()

    @admin.action(description="Approve the selected pending agents", permissions=["manage"])
    def approve_agents(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        def approve(agent: Agent, data: dict[str, Any]) -> str:
            services.agent_approve(agent=agent, actor=actor_of(request))
            return f"Agent {agent.name} approved."

        return confirmed_action(
            self,
            request,
            queryset.order_by("pk"),
            name="approve_agents",
            title="Approve agents",
            permission="agents.manage",
            button="Yes, approve them",
            note="An approved agent may push the networks it discovers into this organization.",
            run=approve,
        )

    @admin.action(description="Reject the selected pending agents", permissions=["manage"])
    def reject_agents(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.act(
            request,
            queryset,
            lambda agent, actor: services.agent_reject(agent=agent, actor=actor),
            "Agents rejected:",
        )

    @admin.action(description="Revoke the selected agents", permissions=["manage"])
    def revoke_agents(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.act(
            request,
            queryset,
            lambda agent, actor: services.agent_revoke(agent=agent, actor=actor),
            "Agents revoked:",
        )


@admin.register(AgentProvisioningToken)
class AgentProvisioningTokenAdmin(ReadOnlyTenantAdmin):
    """Provisioning tokens, read-only but for revocation; the secret hash is never shown."""

    list_display = ["name", "display_prefix", "status", "organization", "expires_at", "created_at"]
    list_filter = ["organization", "created_at"]
    search_fields = ["name", "prefix"]
    list_select_related = ["organization"]
    fields = [
        "name",
        "display_prefix",
        "organization",
        "status",
        "expires_at",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields
    actions = ["revoke_provisioning_tokens"]
    # Provisioning tokens are an admin's business, as in the API and the console.
    role_permissions = {"view": "agents.manage"}

    @admin.action(description="Revoke the selected provisioning tokens", permissions=["manage"])
    def revoke_provisioning_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.act(
            request,
            queryset,
            lambda token, actor: services.agent_provisioning_token_revoke(token=token, actor=actor),
            "Provisioning tokens revoked:",
        )


@admin.register(IngestBatch)
class IngestBatchAdmin(ReadOnlyTenantAdmin):
    """Batches as received, waiting for the sync engine; the records stay compressed."""

    list_display = [
        "batch_id",
        "agent",
        "provider",
        "account_external_id",
        "record_count",
        "received_at",
        "consumed_at",
        "organization",
    ]
    list_filter = ["organization", "provider", "received_at"]
    search_fields = ["batch_id", "account_external_id", "agent__name"]
    list_select_related = ["agent", "organization"]
    fields = [
        "batch_id",
        "agent",
        "organization",
        "provider",
        "account_external_id",
        "record_count",
        "regions",
        "received_at",
        "consumed_at",
    ]
    readonly_fields = fields


@admin.register(DiscoveredResource)
class DiscoveredResourceAdmin(ReadOnlyTenantAdmin):
    """Resources as the sync runs stored them; only sync runs and reconciliation write them."""

    role_permissions = {"view": "discovery.view"}
    list_display = [
        "cidr",
        "resource_type",
        "resource_id",
        "name",
        "account",
        "region",
        "state",
        "management_state",
        "overlap_status",
        "last_seen_at",
        "organization",
    ]
    list_filter = [
        "organization",
        "provider",
        "resource_type",
        "state",
        "management_state",
        "overlap_status",
    ]
    search_fields = ["cidr", "resource_id", "name", "network_id", "region"]
    list_select_related = ["account", "organization"]
    readonly_fields = [
        "organization",
        "account",
        "provider",
        "resource_type",
        "resource_id",
        "cidr",
        "family",
        "prefix_length",
        "name",
        "region",
        "network_id",
        "parent_resource_id",
        "account_external_id",
        "provider_state",
        "tags",
        "attributes",
        "fingerprint",
        "state",
        "first_seen_at",
        "last_seen_at",
        "last_seen_run",
        "missing_runs",
        "missing_since",
        "gone_at",
        "pool",
        "management_state",
        "overlap_status",
        "overlaps_with",
        "compliance",
        "reconciled_at",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyTenantAdmin):
    """Sync runs with their progress, region outcomes and counts."""

    role_permissions = {"view": "discovery.view"}
    list_display = [
        "id",
        "account",
        "trigger",
        "status",
        "progress_percent",
        "created_at",
        "finished_at",
        "organization",
    ]
    list_filter = ["organization", "status", "trigger", "created_at"]
    search_fields = ["account__name", "account__external_id", "agent__name", "task_id"]
    list_select_related = ["account", "organization"]
    readonly_fields = [
        "organization",
        "account",
        "agent",
        "batch",
        "trigger",
        "status",
        "progress_percent",
        "progress_message",
        "regions",
        "counts",
        "error",
        "created_by",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    ]
    fields = readonly_fields


@admin.register(DriftFinding)
class DriftFindingAdmin(ReadOnlyTenantAdmin):
    """Drift findings; reconciliation writes them, the drift API and console apply or ignore."""

    role_permissions = {"view": "discovery.view"}
    list_display = ["id", "kind", "severity", "status", "account", "message", "detected_at"]
    list_filter = ["organization", "kind", "severity", "status"]
    search_fields = ["message", "key", "resource__cidr", "pool__cidr"]
    list_select_related = ["account", "organization"]
    readonly_fields = [
        "organization",
        "account",
        "kind",
        "severity",
        "key",
        "resource",
        "pool",
        "message",
        "suggestion",
        "status",
        "ignored_reason",
        "ignored_by",
        "ignored_at",
        "applied_by",
        "applied_at",
        "result",
        "detected_at",
        "updated_at",
    ]
    fields = readonly_fields
