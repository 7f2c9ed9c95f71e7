from django.urls import path

from apps.tenancy.sso.api import views

providers = views.IdentityProviderViewSet
mappings = views.GroupMappingViewSet

urlpatterns = [
    path(
        "sso/providers/",
        providers.as_view({"get": "list", "post": "create"}),
        name="sso-provider-list",
    ),
    path(
        "sso/providers/<int:pk>/",
        providers.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="sso-provider-detail",
    ),
    path(
        "sso/providers/<int:pk>/check/",
        providers.as_view({"post": "check"}),
        name="sso-provider-check",
    ),
    path(
        "sso/providers/<int:provider_id>/mappings/",
        mappings.as_view({"get": "list", "post": "create"}),
        name="sso-mapping-list",
    ),
    path(
        "sso/providers/<int:provider_id>/mappings/<int:pk>/",
        mappings.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="sso-mapping-detail",
    ),
]
