from django.urls import path

from apps.tenancy.sso import views

urlpatterns = [
    path("sso/", views.SSOChooseView.as_view(), name="sso-choose"),
    path("sso/callback/", views.SSOCallbackView.as_view(), name="sso-callback"),
    path(
        "sso/<slug:organization_slug>/<slug:provider_slug>/login/",
        views.SSOLoginView.as_view(),
        name="sso-login",
    ),
    path(
        "organization/sso/",
        views.IdentityProviderListView.as_view(),
        name="sso-provider-list",
    ),
    path(
        "organization/sso/<int:pk>/",
        views.IdentityProviderDetailView.as_view(),
        name="sso-provider-detail",
    ),
]
