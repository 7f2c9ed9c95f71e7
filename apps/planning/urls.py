"""Console routes of planning."""

from django.urls import path

from apps.planning import io_views

app_name = "planning"

urlpatterns = [
    path("planning/imports/", io_views.ImportListView.as_view(), name="import-list"),
    path("planning/imports/<int:pk>/", io_views.ImportDetailView.as_view(), name="import-detail"),
]
