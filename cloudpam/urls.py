"""
Root URL configuration.

Each app plugs in by providing ``apps/<app>/api/urls.py`` (mounted under
``/api/v1/``) and/or ``apps/<app>/urls.py`` (console pages); nothing here needs
to change when an app grows an endpoint.
"""

from importlib import import_module
from importlib.util import find_spec

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cloudpam import health, views

admin.site.site_header = settings.ADMIN_SITE_HEADER
admin.site.site_title = "CloudPAM admin"
admin.site.index_title = "CloudPAM"

DOMAIN_APPS = ["tenancy", "pools", "cloud", "discovery", "analysis", "planning", "audit"]


def _app_urls(module: str) -> list:
    patterns = []
    for app in DOMAIN_APPS:
        name = f"apps.{app}.{module}"
        if find_spec(f"apps.{app}") and _module_exists(name):
            patterns.append(path("", include(import_module(name))))
    return patterns


def _module_exists(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ModuleNotFoundError:
        return False


api_v1 = _app_urls("api.urls")

urlpatterns = [
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("health", health.healthz, name="health"),
    path("ready", health.readyz, name="ready"),
    path("metrics", health.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("admin/", admin.site.urls),
    path(
        "login/",
        views.LoginView.as_view(),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.DashboardView.as_view(), name="dashboard"),
    *_app_urls("urls"),
]

handler400 = "cloudpam.api.exceptions.json_or_html_400"
handler403 = "cloudpam.api.exceptions.json_or_html_403"
handler404 = "cloudpam.api.exceptions.json_or_html_404"
handler500 = "cloudpam.api.exceptions.json_or_html_500"
