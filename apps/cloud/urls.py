"""Console routes of cloud accounts."""

from django.urls import path

from apps.cloud import views

app_name = "cloud"

urlpatterns = [
    path("accounts/", views.AccountListView.as_view(), name="account-list"),
    path("accounts/new/", views.AccountCreateView.as_view(), name="account-create"),
    path("accounts/<int:pk>/", views.AccountDetailView.as_view(), name="account-detail"),
    path("accounts/<int:pk>/edit/", views.AccountEditView.as_view(), name="account-edit"),
    path(
        "accounts/<int:pk>/credentials/",
        views.AccountCredentialsView.as_view(),
        name="account-credentials",
    ),
    path("accounts/<int:pk>/test/", views.AccountTestView.as_view(), name="account-test"),
    path(
        "accounts/<int:pk>/discover-members/",
        views.AccountDiscoverMembersView.as_view(),
        name="account-discover-members",
    ),
    path("accounts/<int:pk>/sync/", views.AccountSyncView.as_view(), name="account-sync"),
    path("accounts/<int:pk>/delete/", views.AccountDeleteView.as_view(), name="account-delete"),
]
