"""Console routes of discovery."""

from django.urls import path

from apps.discovery import views

app_name = "discovery"

urlpatterns = [
    path("discovery/", views.DiscoveryOverviewView.as_view(), name="overview"),
    path("discovery/network/", views.NetworkView.as_view(), name="network"),
    path("discovery/network/pools/<int:pk>/", views.NetworkPoolView.as_view(), name="network-pool"),
    path(
        "discovery/network/pools/<int:pk>/children/",
        views.NetworkChildrenView.as_view(),
        name="network-children",
    ),
    path("discovery/resources/", views.ResourceListView.as_view(), name="resource-list"),
    path(
        "discovery/resources/<int:pk>/",
        views.ResourceDetailView.as_view(),
        name="resource-detail",
    ),
    path("discovery/runs/", views.SyncRunListView.as_view(), name="run-list"),
    path("discovery/runs/<int:pk>/", views.SyncRunDetailView.as_view(), name="run-detail"),
    path("discovery/accounts/<int:pk>/runs/", views.AccountRunsView.as_view(), name="account-runs"),
    path("discovery/accounts/<int:pk>/sync/", views.AccountSyncView.as_view(), name="account-sync"),
    path("discovery/drift/", views.DriftListView.as_view(), name="drift"),
    path(
        "discovery/drift/<int:pk>/<slug:decision>/",
        views.DriftDecisionView.as_view(),
        name="drift-decide",
    ),
    path("discovery/agents/", views.AgentListView.as_view(), name="agent-list"),
    path(
        "discovery/agents/<int:agent_id>/<slug:decision>/",
        views.AgentDecisionView.as_view(),
        name="agent-decide",
    ),
    path(
        "discovery/agent-tokens/<int:agent_token_id>/revoke/",
        views.ProvisioningTokenRevokeView.as_view(),
        name="agent-token-revoke",
    ),
]
