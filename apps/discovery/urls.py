"""Console routes of discovery."""

from django.urls import path

from apps.discovery import views

app_name = "discovery"

urlpatterns = [
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
