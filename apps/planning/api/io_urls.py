"""Import and export API routes (SPEC.md section 7.2)."""

from django.urls import path

from apps.planning.api.io_views import ImportViewSet, PoolExportViewSet

urlpatterns = [
    path(
        "plans/imports/",
        ImportViewSet.as_view({"get": "list", "post": "create"}),
        name="plan-import-list",
    ),
    path(
        "plans/imports/<int:pk>/",
        ImportViewSet.as_view({"get": "retrieve"}),
        name="plan-import-detail",
    ),
    path(
        "pools/export/",
        PoolExportViewSet.as_view({"get": "export"}, pagination_class=None),
        name="pool-export",
    ),
]
