from django.urls import include, path

from apps.tenancy import preference_views, views
from apps.tenancy.sso.urls import urlpatterns as sso_urlpatterns

app_name = "tenancy"

urlpatterns = [
    path(
        "tables/<str:table>/preference/",
        preference_views.TablePreferenceView.as_view(),
        name="table-preference",
    ),
    path(
        "organizations/switch/", views.OrganizationSwitchView.as_view(), name="organization-switch"
    ),
    path("organization/new/", views.OrganizationCreateView.as_view(), name="organization-create"),
    path(
        "organization/settings/",
        views.OrganizationSettingsView.as_view(),
        name="organization-settings",
    ),
    path("organization/usage/", views.OrganizationUsageView.as_view(), name="organization-usage"),
    path("organization/members/", views.MemberListView.as_view(), name="member-list"),
    path("pick/members/", views.MemberPickerView.as_view(), name="member-picker"),
    path(
        "organization/members/<int:member_id>/role/",
        views.MemberRoleView.as_view(),
        name="member-role",
    ),
    path(
        "organization/members/<int:member_id>/remove/",
        views.MemberRemoveView.as_view(),
        name="member-remove",
    ),
    path("organization/tokens/", views.ApiTokenListView.as_view(), name="token-list"),
    path("organization/tokens/bulk/", views.ApiTokenBulkView.as_view(), name="token-bulk"),
    path(
        "organization/tokens/<int:token_id>/revoke/",
        views.ApiTokenRevokeView.as_view(),
        name="token-revoke",
    ),
    path(
        "invitations/<uidb64>/<token>/",
        views.InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
    # MFA and sessions (the account pages and the member buttons).
    path("", include("apps.tenancy.mfa.urls")),
]

urlpatterns += sso_urlpatterns
