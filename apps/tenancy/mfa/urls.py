from django.urls import path

from apps.tenancy.mfa import views
from apps.tenancy.sessions import views as session_views

urlpatterns = [
    path("login/code/", views.MfaLoginView.as_view(), name="mfa-login"),
    path("account/mfa/", views.MfaSetupView.as_view(), name="mfa-setup"),
    path("account/mfa/verify/", views.MfaVerifyView.as_view(), name="mfa-verify"),
    path("account/sessions/", session_views.SessionListView.as_view(), name="session-list"),
    path(
        "account/sessions/<int:session_id>/revoke/",
        session_views.SessionRevokeView.as_view(),
        name="session-revoke",
    ),
    path(
        "account/sessions/revoke-others/",
        session_views.SessionRevokeOthersView.as_view(),
        name="session-revoke-others",
    ),
    path(
        "organization/members/<int:member_id>/mfa/reset/",
        views.MemberMfaResetView.as_view(),
        name="member-mfa-reset",
    ),
    path(
        "organization/members/<int:member_id>/sessions/revoke/",
        session_views.MemberSessionsRevokeView.as_view(),
        name="member-sessions-revoke",
    ),
]
