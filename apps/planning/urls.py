"""Console routes of planning."""

from django.urls import path

from apps.planning import ai_views, io_views, llm_views, views
from apps.planning.wizard_urls import urlpatterns as wizard_urlpatterns

app_name = "planning"

urlpatterns = [
    path("plans/", views.PlanListView.as_view(), name="overview"),
    path("plans/imports/", io_views.ImportListView.as_view(), name="import-list"),
    path("plans/imports/<int:pk>/", io_views.ImportDetailView.as_view(), name="import-detail"),
    # The wizard's routes come before "plans/<int:pk>/...": none of them is a plan id.
    *wizard_urlpatterns,
    path("plans/<int:pk>/", views.PlanDetailView.as_view(), name="plan-detail"),
    path(
        "plans/<int:pk>/<slug:action>/",
        views.PlanActionView.as_view(),
        name="plan-action",
    ),
    path("ai/", ai_views.AISessionListView.as_view(), name="ai-session-list"),
    path("ai/analytics/", ai_views.AIAnalyticsView.as_view(), name="ai-analytics"),
    path("ai/sessions/<int:pk>/", ai_views.AISessionChatView.as_view(), name="ai-session-chat"),
    path(
        "ai/sessions/<int:pk>/messages/<int:message_pk>/",
        ai_views.AIMessageView.as_view(),
        name="ai-message",
    ),
    path(
        "ai/sessions/<int:pk>/delete/",
        ai_views.AISessionDeleteView.as_view(),
        name="ai-session-delete",
    ),
    path("ai/providers/", llm_views.LLMProviderListView.as_view(), name="llm-provider-list"),
    path("ai/providers/new/", llm_views.LLMProviderFormView.as_view(), name="llm-provider-create"),
    path(
        "ai/providers/<int:pk>/edit/",
        llm_views.LLMProviderFormView.as_view(),
        name="llm-provider-edit",
    ),
    path(
        "ai/providers/<int:pk>/delete/",
        llm_views.LLMProviderDeleteView.as_view(),
        name="llm-provider-delete",
    ),
    path(
        "ai/providers/<int:pk>/test/",
        llm_views.LLMProviderTestView.as_view(),
        name="llm-provider-test",
    ),
]
