"""Console routes of planning."""

from django.urls import path

from apps.planning import io_views, llm_views, views
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
