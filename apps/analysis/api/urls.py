"""Analysis API routes, mounted under /api/v1/ in the "api" namespace."""

from django.urls import path

from apps.analysis.api.views import (
    AnalysisRunViewSet,
    ComplianceView,
    PoolAnalysisView,
    RecommendationViewSet,
)

urlpatterns = [
    path("analysis/pools/<int:pk>/", PoolAnalysisView.as_view(), name="analysis-pool"),
    path("analysis/compliance/", ComplianceView.as_view(), name="analysis-compliance"),
    path(
        "analysis/runs/",
        AnalysisRunViewSet.as_view({"get": "list", "post": "create"}),
        name="analysis-run-list",
    ),
    path(
        "analysis/runs/<int:pk>/",
        AnalysisRunViewSet.as_view({"get": "retrieve"}),
        name="analysis-run-detail",
    ),
    path(
        "recommendations/",
        RecommendationViewSet.as_view({"get": "list"}),
        name="recommendation-list",
    ),
    path(
        "recommendations/generate/",
        RecommendationViewSet.as_view({"post": "generate"}),
        name="recommendation-generate",
    ),
    path(
        "recommendations/<int:pk>/",
        RecommendationViewSet.as_view({"get": "retrieve"}),
        name="recommendation-detail",
    ),
    path(
        "recommendations/<int:pk>/apply/",
        RecommendationViewSet.as_view({"post": "apply"}),
        name="recommendation-apply",
    ),
    path(
        "recommendations/<int:pk>/dismiss/",
        RecommendationViewSet.as_view({"post": "dismiss"}),
        name="recommendation-dismiss",
    ),
]
