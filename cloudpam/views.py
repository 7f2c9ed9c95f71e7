"""Console pages of the platform: sign-in and the dashboard."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import FileResponse, HttpRequest
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from apps.tenancy.forms import LoginForm


class LoginView(auth_views.LoginView):
    """Sign in with email and password (attempts limited per account and IP)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm

    def form_valid(self, form: Any) -> Any:
        """Sign in, or, for a user with MFA, go to the code step first (not signed in yet)."""
        from apps.tenancy.mfa.views import mfa_code_step

        step = mfa_code_step(self.request, form.get_user(), self.get_success_url())
        return step or super().form_valid(form)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from apps.tenancy.sso.views import sso_login_context

        return {**super().get_context_data(**kwargs), **sso_login_context(self.request)}

    def form_invalid(self, form: Any) -> Any:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "rate_limited"):
            response.status_code = 429
        return response


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> FileResponse:
    """Serve the icon browsers ask for at ``/favicon.ico`` whatever the page links."""
    path = settings.BASE_DIR / "static" / "favicon.ico"
    return FileResponse(path.open("rb"), content_type="image/vnd.microsoft.icon")


class DashboardView(LoginRequiredMixin, TemplateView):
    """The landing page of the console: the active organization at a glance."""

    template_name = "dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        data["widgets"] = _dashboard_widgets(self.request)
        data["panels"] = _dashboard_panels(self.request)
        return data


def _dashboard_widgets(request: Any) -> list[dict[str, Any]]:
    """Return the summary tiles that installed apps contribute.

    An app contributes by defining ``dashboard_widgets(request)`` in its
    ``apps/<app>/dashboard.py``.
    """
    widgets: list[dict[str, Any]] = []
    for module in _dashboard_modules():
        widgets.extend(module.dashboard_widgets(request))
    return widgets


def _dashboard_modules() -> list[Any]:
    """Return the ``apps/<app>/dashboard.py`` modules of the installed apps, in order."""
    from importlib import import_module
    from importlib.util import find_spec

    return [
        import_module(f"apps.{app}.dashboard")
        for app in ("pools", "cloud", "discovery", "analysis", "planning", "audit")
        if find_spec(f"apps.{app}.dashboard") is not None
    ]


def _dashboard_panels(request: Any) -> list[dict[str, Any]]:
    """Return the dashboard's panels (charts and short lists), in their ``order``.

    An app contributes by defining ``dashboard_panels(request)`` beside its tiles; each
    panel names the ``template`` that renders it and carries that template's context.
    """
    panels: list[dict[str, Any]] = []
    for module in _dashboard_modules():
        contribute = getattr(module, "dashboard_panels", None)
        if contribute is not None:
            panels.extend(contribute(request))
    return sorted(panels, key=lambda panel: panel.get("order", 100))
