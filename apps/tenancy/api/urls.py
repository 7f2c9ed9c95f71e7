from django.urls import path

from apps.tenancy.api import views
from apps.tenancy.mfa import api as mfa_api
from apps.tenancy.sessions import api as session_api

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
    # MFA and sessions.
    path("me/mfa/", mfa_api.MyMfaView.as_view(), name="me-mfa"),
    path("me/mfa/verify/", mfa_api.MyMfaVerifyView.as_view(), name="me-mfa-verify"),
    path("me/sessions/", session_api.MySessionListView.as_view(), name="me-session-list"),
    path(
        "me/sessions/revoke-others/",
        session_api.MySessionRevokeOthersView.as_view(),
        name="me-session-revoke-others",
    ),
    path(
        "me/sessions/<int:session_id>/",
        session_api.MySessionDetailView.as_view(),
        name="me-session-detail",
    ),
    path(
        "organizations/<slug:organization_slug>/members/<int:member_id>/mfa/",
        mfa_api.MemberMfaView.as_view(),
        name="organization-member-mfa",
    ),
    path(
        "organizations/<slug:organization_slug>/members/<int:member_id>/mfa/reset/",
        mfa_api.MemberMfaResetView.as_view(),
        name="organization-member-mfa-reset",
    ),
    path(
        "organizations/<slug:organization_slug>/members/<int:member_id>/sessions/",
        session_api.MemberSessionListView.as_view(),
        name="organization-member-session-list",
    ),
    path(
        "organizations/<slug:organization_slug>/members/<int:member_id>/sessions/revoke/",
        session_api.MemberSessionRevokeView.as_view(),
        name="organization-member-session-revoke",
    ),
]
