"""Template API routes (SPEC 7.1), included by ``apps/planning/api/urls.py``."""

from django.urls import path

from apps.planning.api.template_views import TemplateViewSet

urlpatterns = [
    path(
        "plans/templates/",
        TemplateViewSet.as_view({"get": "list", "post": "create"}),
        name="plan-template-list",
    ),
    path(
        "plans/templates/<str:key>/",
        TemplateViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
        ),
        name="plan-template-detail",
    ),
    path(
        "plans/templates/<str:key>/preview/",
        TemplateViewSet.as_view({"post": "preview"}),
        name="plan-template-preview",
    ),
    path(
        "plans/templates/<str:key>/generate/",
        TemplateViewSet.as_view({"post": "generate"}),
        name="plan-template-generate",
    ),
]
