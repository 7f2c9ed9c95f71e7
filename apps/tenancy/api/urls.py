from django.urls import path

from apps.tenancy.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("organizations/", views.OrganizationListView.as_view(), name="organization-list"),
    path(
        "organizations/<slug:organization_slug>/",
        views.OrganizationDetailView.as_view(),
        name="organization-detail",
    ),
    path(
        "organizations/<slug:organization_slug>/members/",
        views.MemberListView.as_view(),
        name="organization-member-list",
    ),
    path(
        "organizations/<slug:organization_slug>/members/<int:member_id>/",
        views.MemberDetailView.as_view(),
        name="organization-member-detail",
    ),
    path(
        "organizations/<slug:organization_slug>/settings/",
        views.OrganizationSettingsView.as_view(),
        name="organization-settings",
    ),
    path("tokens/", views.TokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="token-detail"),
]
