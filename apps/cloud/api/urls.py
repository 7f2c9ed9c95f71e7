"""Cloud account API routes, mounted under /api/v1/ in the "api" namespace."""

from django.urls import path

from apps.cloud.api.views import AccountViewSet

urlpatterns = [
    path(
        "accounts/",
        AccountViewSet.as_view({"get": "list", "post": "create"}),
        name="account-list",
    ),
    path(
        "accounts/<int:pk>/",
        AccountViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="account-detail",
    ),
    path(
        "accounts/<int:pk>/credentials/",
        AccountViewSet.as_view({"put": "credentials"}),
        name="account-credentials",
    ),
    path("accounts/<int:pk>/test/", AccountViewSet.as_view({"post": "test"}), name="account-test"),
    path(
        "accounts/<int:pk>/discover-members/",
        AccountViewSet.as_view({"post": "discover_members"}),
        name="account-discover-members",
    ),
    # POST accounts/<pk>/sync/ is discovery's (apps.discovery.api.urls): it starts a sync run.
]
