"""Discovery API routes, mounted under /api/v1/ in the "api" namespace."""

from django.urls import path

from apps.discovery.api import views
from apps.discovery.api.drift import DriftViewSet

urlpatterns = [
    path("discovery/agents/", views.AgentListView.as_view(), name="agent-list"),
    path("discovery/agents/register/", views.AgentRegisterView.as_view(), name="agent-register"),
    path("discovery/agents/<int:agent_id>/", views.AgentDetailView.as_view(), name="agent-detail"),
    path(
        "discovery/agents/<int:agent_id>/approve/",
        views.AgentApproveView.as_view(),
        name="agent-approve",
    ),
    path(
        "discovery/agents/<int:agent_id>/reject/",
        views.AgentRejectView.as_view(),
        name="agent-reject",
    ),
    path(
        "discovery/agents/<int:agent_id>/revoke/",
        views.AgentRevokeView.as_view(),
        name="agent-revoke",
    ),
    path(
        "discovery/agents/<int:agent_id>/heartbeat/",
        views.AgentHeartbeatView.as_view(),
        name="agent-heartbeat",
    ),
    path("accounts/<int:pk>/sync/", views.AccountSyncView.as_view(), name="account-sync"),
    path("discovery/resources/", views.ResourceListView.as_view(), name="resource-list"),
    path(
        "discovery/resources/<int:resource_id>/",
        views.ResourceDetailView.as_view(),
        name="resource-detail",
    ),
    path("discovery/runs/", views.SyncRunListView.as_view(), name="sync-run-list"),
    path("discovery/runs/<int:run_id>/", views.SyncRunDetailView.as_view(), name="sync-run-detail"),
    path(
        "discovery/runs/<int:run_id>/cancel/",
        views.SyncRunCancelView.as_view(),
        name="sync-run-cancel",
    ),
    path("discovery/ingest/", views.IngestView.as_view(), name="discovery-ingest"),
    path(
        "discovery/agent-tokens/",
        views.ProvisioningTokenListView.as_view(),
        name="agent-token-list",
    ),
    path(
        "discovery/agent-tokens/<int:agent_token_id>/",
        views.ProvisioningTokenDetailView.as_view(),
        name="agent-token-detail",
    ),
    path("discovery/drift/", DriftViewSet.as_view({"get": "list"}), name="drift-list"),
    path(
        "discovery/drift/summary/",
        DriftViewSet.as_view({"get": "summary"}),
        name="drift-summary",
    ),
    path(
        "discovery/drift/<int:pk>/",
        DriftViewSet.as_view({"get": "retrieve"}),
        name="drift-detail",
    ),
    path(
        "discovery/drift/<int:pk>/apply/",
        DriftViewSet.as_view({"post": "apply"}),
        name="drift-apply",
    ),
    path(
        "discovery/drift/<int:pk>/ignore/",
        DriftViewSet.as_view({"post": "ignore"}),
        name="drift-ignore",
    ),
]
