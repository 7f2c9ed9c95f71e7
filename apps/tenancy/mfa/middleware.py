"""Hold signed-in sessions to the organization's MFA rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from apps.tenancy.mfa.state import (
    PENDING_KEY,
    is_local_session,
    mfa_user_state,
    session_reverification_due,
)
from cloudpam.api.exceptions import error_body

# Routes whose writes need a second factor verified in the last 12 hours
# (CLOUDPAM_MFA_REVERIFY_HOURS): URL name -> methods.
SENSITIVE_ROUTES: dict[str, frozenset[str]] = {
    "api:token-list": frozenset({"POST"}),
    "api:account-credentials": frozenset({"PUT", "PATCH"}),
    "tenancy:token-list": frozenset({"POST"}),
    "cloud:account-credentials": frozenset({"POST"}),
}

# Pages a session may reach before it has enrolled (where enrolment is required).
ENROLMENT_ROUTES = frozenset(
    {"tenancy:mfa-setup", "tenancy:mfa-login", "logout", "login", "api:me-mfa"}
)
OPEN_PREFIXES = ("/static/", "/healthz", "/readyz", "/health", "/ready", "/metrics")

MFA_REQUIRED = "mfa_required"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _mfa_required(message: str) -> JsonResponse:
    return JsonResponse(error_body(MFA_REQUIRED, message), status=403)


class MfaMiddleware:
    """Enforce MFA on sessions signed in with a password.

    - A user with an authenticator whose session skipped the code step (the
      admin's own sign-in form) is sent back to the code step (console) or
      signed out (API, 401).
    - A member of an organization that requires MFA (``require_mfa``) and has
      none is sent to enrolment before anything else (API: 403 ``mfa_required``).
    - Writes in ``SENSITIVE_ROUTES`` need the second factor verified in the
      last 12 hours: the console asks for it again and returns, the API
      answers 403 ``mfa_required``. Bearer tokens are a credential of their
      own and are not asked (they are created under this rule).

    Runs after ``OTPMiddleware``; sessions of a single sign-on backend are left
    to the identity provider.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._check(request)
        if refused is not None:
            return refused
        return self.get_response(request)

    def _applies(self, request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        if "HTTP_AUTHORIZATION" in request.META:
            return False
        return not request.path.startswith(OPEN_PREFIXES) and is_local_session(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        if not self._applies(request):
            return None
        user = request.user
        state = mfa_user_state(user)
        if state.enrolled and not user.is_verified():  # type: ignore[attr-defined]
            return self._back_to_code_step(request, user)
        if state.required and not state.enrolled and not self._route_in(request, ENROLMENT_ROUTES):
            message = (
                "An organization you belong to requires multi-factor authentication; "
                "set it up in the console first."
            )
            if _is_api(request):
                return _mfa_required(message)
            return redirect(f"{reverse('tenancy:mfa-setup')}?{urlencode({'required': '1'})}")
        return None

    @staticmethod
    def _route_in(request: HttpRequest, names: frozenset[str]) -> bool:
        from django.urls import Resolver404, resolve

        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.view_name in names

    def _back_to_code_step(self, request: HttpRequest, user: Any) -> HttpResponse:
        backend = request.session.get("_auth_user_backend")
        request.session.flush()
        request.user = AnonymousUser()
        if _is_api(request):
            return JsonResponse(
                error_body("not_authenticated", "Sign in again with your second factor."),
                status=401,
            )
        request.session[PENDING_KEY] = {
            "user_id": user.pk,
            "backend": backend,
            "at": timezone.now().timestamp(),
            "next": request.get_full_path(),
        }
        return redirect("tenancy:mfa-login")

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        methods = SENSITIVE_ROUTES.get(match.view_name) if match else None
        if not methods or request.method not in methods or not self._applies(request):
            return None
        if not session_reverification_due(request):
            return None
        message = (
            "This action needs your second factor again (last verified more than "
            "12 hours ago): confirm a code, then retry."
        )
        if _is_api(request):
            return _mfa_required(message)
        target = request.get_full_path()
        return redirect(f"{reverse('tenancy:mfa-verify')}?{urlencode({'next': target})}")
