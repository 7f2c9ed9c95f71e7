"""Pool API routes, mounted under /api/v1/ in the "api" namespace.

Detail routes take ``<int:pk>`` so that every pool URL can be walked by the tenant
isolation tests with another organization's ids.
"""

from django.urls import path

from apps.pools.api.views import AddressLookupView, PoolViewSet

urlpatterns = [
    path("pools/", PoolViewSet.as_view({"get": "list", "post": "create"}), name="pool-list"),
    path("pools/tree/", PoolViewSet.as_view({"get": "tree"}), name="pool-tree"),
    path(
        "pools/<int:pk>/",
        PoolViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="pool-detail",
    ),
    path(
        "pools/<int:pk>/restore/",
        PoolViewSet.as_view({"post": "restore"}),
        name="pool-restore",
    ),
    path(
        "pools/<int:pk>/children/",
        PoolViewSet.as_view({"get": "children"}),
        name="pool-children",
    ),
    path(
        "pools/<int:pk>/available/",
        PoolViewSet.as_view({"get": "available"}),
        name="pool-available",
    ),
    path(
        "pools/<int:pk>/allocate/",
        PoolViewSet.as_view({"post": "allocate"}),
        name="pool-allocate",
    ),
    path(
        "pools/<int:pk>/utilization/",
        PoolViewSet.as_view({"get": "utilization"}),
        name="pool-utilization",
    ),
    path("ip/<path:address>/", AddressLookupView.as_view(), name="ip-lookup"),
]
