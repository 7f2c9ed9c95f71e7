"""Console routes of the analysis."""

from django.urls import path

from apps.analysis import views

app_name = "analysis"

urlpatterns = [
    path("analysis/", views.AnalysisDashboardView.as_view(), name="dashboard"),
    path("analysis/runs/new/", views.AnalysisRunStartView.as_view(), name="run-start"),
    path("analysis/runs/<int:pk>/", views.AnalysisRunDetailView.as_view(), name="run-detail"),
    path("analysis/pools/<int:pk>/", views.PoolAnalysisView.as_view(), name="pool-analysis"),
    path("analysis/compliance/", views.FindingListView.as_view(), name="finding-list"),
    path(
        "analysis/compliance/settings/",
        views.ComplianceSettingsView.as_view(),
        name="compliance-settings",
    ),
    path(
        "recommendations/",
        views.RecommendationListView.as_view(),
        name="recommendation-list",
    ),
    path(
        "recommendations/bulk/",
        views.RecommendationBulkView.as_view(),
        name="recommendation-bulk",
    ),
    path(
        "recommendations/generate/",
        views.RecommendationGenerateView.as_view(),
        name="recommendation-generate",
    ),
    path(
        "recommendations/<int:pk>/apply/",
        views.RecommendationApplyView.as_view(),
        name="recommendation-apply",
    ),
    path(
        "recommendations/<int:pk>/dismiss/",
        views.RecommendationDismissView.as_view(),
        name="recommendation-dismiss",
    ),
]
