"""LLM provider and AI session API routes, mounted under /api/v1/ in the "api" namespace."""

from django.urls import path

from apps.planning.api.ai_views import AISessionViewSet
from apps.planning.api.llm_views import LLMProviderViewSet

urlpatterns = [
    path(
        "ai/providers/",
        LLMProviderViewSet.as_view({"get": "list", "post": "create"}),
        name="ai-provider-list",
    ),
    path(
        "ai/providers/<int:pk>/",
        LLMProviderViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="ai-provider-detail",
    ),
    path(
        "ai/providers/<int:pk>/check/",
        LLMProviderViewSet.as_view({"post": "check"}),
        name="ai-provider-check",
    ),
    path("ai/usage/", LLMProviderViewSet.as_view({"get": "usage"}), name="ai-usage"),
]

urlpatterns += [
    path(
        "ai/sessions/",
        AISessionViewSet.as_view({"get": "list", "post": "create"}),
        name="ai-session-list",
    ),
    path(
        "ai/sessions/<int:pk>/",
        AISessionViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="ai-session-detail",
    ),
    path(
        "ai/sessions/<int:pk>/messages/",
        AISessionViewSet.as_view({"post": "messages"}),
        name="ai-session-messages",
    ),
    path("ai/analytics/", AISessionViewSet.as_view({"get": "analytics"}), name="ai-analytics"),
]
