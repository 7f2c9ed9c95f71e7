"""Console routes of the address plan."""

from django.urls import path

from apps.pools import bulk_views, views

app_name = "pools"

urlpatterns = [
    path("pools/", views.PoolTreeView.as_view(), name="pool-tree"),
    path("pools/list/", views.PoolListView.as_view(), name="pool-list"),
    path("pools/bulk/", bulk_views.BulkPoolView.as_view(), name="pool-bulk"),
    path("pools/new/", views.PoolCreateView.as_view(), name="pool-create"),
    path("pick/pools/", views.PoolPickerView.as_view(), name="pool-picker"),
    path("pools/<int:pk>/", views.PoolDetailView.as_view(), name="pool-detail"),
    path(
        "pools/<int:pk>/tree-children/",
        views.PoolTreeChildrenView.as_view(),
        name="pool-tree-children",
    ),
    path("pools/<int:pk>/edit/", views.PoolEditView.as_view(), name="pool-edit"),
    path("pools/<int:pk>/move/", views.PoolMoveView.as_view(), name="pool-move"),
    path("pools/<int:pk>/delete/", views.PoolDeleteView.as_view(), name="pool-delete"),
    path("pools/<int:pk>/restore/", views.PoolRestoreView.as_view(), name="pool-restore"),
    path("pools/<int:pk>/allocate/", views.PoolAllocateView.as_view(), name="pool-allocate"),
    path(
        "pools/<int:pk>/allocate/preview/",
        views.PoolAllocatePreviewView.as_view(),
        name="pool-allocate-preview",
    ),
]
