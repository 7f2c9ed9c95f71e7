"""Console views of MFA: the code step of sign-in, enrolment, re-verification, reset."""

from __future__ import annotations

import base64
from typing import Any

import segno
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.tenancy import selectors
from apps.tenancy.choices import Role
from apps.tenancy.mfa import services
from apps.tenancy.mfa.forms import CodeForm, TotpCodeForm
from apps.tenancy.mfa.selectors import mfa_recovery_codes_left
from apps.tenancy.mfa.state import (
    PENDING_KEY,
    mfa_user_state,
    session_mark_verified,
    session_verified_at,
)
from apps.tenancy.mixins import TenantViewMixin
from apps.tenancy.models import User
from cloudpam.exceptions import ApplicationError, NotFound


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    age = timezone.now().timestamp() - float(pending.get("at", 0))
    if age > settings.CLOUDPAM_MFA_PENDING_SECONDS or age < 0:
        request.session.pop(PENDING_KEY, None)
        return None
    user = User.objects.filter(pk=pending.get("user_id"), is_active=True).first()
    if user is None:
        return None
    return user, pending


def mfa_code_step(request: HttpRequest, user: User, next_url: str) -> HttpResponse | None:
    """Return the redirect to the code step when ``user`` has MFA, else None.

    Called by the sign-in view once the password is right: the session is not
    signed in, it only remembers who is half-way (for a few minutes).
    """
    backend = getattr(user, "backend", None)
    if backend not in settings.CLOUDPAM_MFA_LOCAL_BACKENDS:
        return None
    if not mfa_user_state(user, fresh=True).enrolled:
        return None
    request.session[PENDING_KEY] = {
        "user_id": user.pk,
        "backend": backend,
        "at": timezone.now().timestamp(),
        "next": next_url,
    }
    return redirect("tenancy:mfa-login")


class MfaLoginView(View):
    """The second step of signing in: a code after the password.

    The session is not signed in until the code is accepted; the password
    step left only a pending marker (user, backend, time) in it, good for
    ``CLOUDPAM_MFA_PENDING_SECONDS``.
    """

    template_name = "tenancy/mfa_login.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        if _pending_user(request) is None:
            messages.info(request, "Sign in with your password first.")
            return redirect("login")
        return render(request, self.template_name, {"form": CodeForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        found = _pending_user(request)
        if found is None:
            messages.info(request, "That sign-in took too long; start again.")
            return redirect("login")
        user, pending = found
        form = CodeForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                device = services.mfa_verify(
                    user=user, code=form.cleaned_data["code"], request=request
                )
            except ApplicationError as exc:
                form.add_error("code", exc.message.removeprefix("code: "))
                status = exc.status_code
            else:
                request.session.pop(PENDING_KEY, None)
                auth.login(request, user, backend=pending.get("backend"))
                session_mark_verified(request, device)
                if device.persistent_id.startswith("otp_static"):
                    left = mfa_recovery_codes_left(user=user)
                    messages.warning(
                        request,
                        f"You signed in with a recovery code; {left} left. "
                        "Reset MFA in your account to set up a new authenticator.",
                    )
                return redirect(_safe_next(request, pending.get("next")))
        return render(request, self.template_name, {"form": form}, status=status)


def _qr_svg(device: Any) -> str:
    return segno.make(device.config_url, error="m").svg_inline(scale=4, border=2)


def _secret_text(device: Any) -> str:
    raw = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


class MfaSetupView(LoginRequiredMixin, View):
    """Your MFA: enrol (QR code, secret, confirm), recovery codes, reset with a code."""

    template_name = "tenancy/mfa_setup.html"

    def _context(self, **extra: Any) -> dict[str, Any]:
        user = self.request.user
        state = mfa_user_state(user, fresh=True)
        context: dict[str, Any] = {
            "enrolled": state.enrolled,
            "required": state.required,
            "form": TotpCodeForm(),
            "code_form": CodeForm(),
            "breadcrumbs": [{"label": "Your account", "url": None}, {"label": "MFA", "url": None}],
        }
        if state.enrolled:
            context["codes_left"] = mfa_recovery_codes_left(user=user)
            context["verified_at"] = session_verified_at(self.request)
        else:
            device = services.mfa_enrolment_start(user=user)
            context["qr_svg"] = _qr_svg(device)
            context["secret"] = _secret_text(device)
        context.update(extra)
        return context

    def get(self, request: HttpRequest) -> HttpResponse:
        return _no_store(render(request, self.template_name, self._context()))

    def post(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action", "")
        if action == "confirm":
            return self._confirm(request)
        if action in ("regenerate", "reset"):
            return self._with_code(request, action)
        raise Http404("Unknown action.")

    def _confirm(self, request: HttpRequest) -> HttpResponse:
        form = TotpCodeForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                enrolment = services.mfa_enrolment_confirm(
                    user=request.user, code=form.cleaned_data["code"], request=request
                )
            except ApplicationError as exc:
                form.add_error("code", exc.message.removeprefix("code: "))
                status = exc.status_code
            else:
                session_mark_verified(request, enrolment.device)
                return self._show_codes(request, enrolment.recovery_codes, status=201)
        return _no_store(
            render(request, self.template_name, self._context(form=form), status=status)
        )

    def _with_code(self, request: HttpRequest, action: str) -> HttpResponse:
        form = CodeForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                device = services.mfa_verify(
                    user=request.user, code=form.cleaned_data["code"], request=request
                )
            except ApplicationError as exc:
                form.add_error("code", exc.message.removeprefix("code: "))
                status = exc.status_code
            else:
                if action == "regenerate":
                    session_mark_verified(request, device)
                    codes = services.mfa_recovery_codes_regenerate(
                        user=request.user, request=request
                    )
                    return self._show_codes(request, codes, status=200)
                services.mfa_reset(user=request.user, actor=request.user, request=request)
                messages.success(request, "MFA is off. Set up a new authenticator below.")
                return redirect("tenancy:mfa-setup")
        context = self._context(code_form=form)
        return _no_store(render(request, self.template_name, context, status=status))

    def _show_codes(self, request: HttpRequest, codes: list[str], *, status: int) -> HttpResponse:
        # Rendered, not redirected: the codes must not travel through the session.
        context = {"codes": codes, "breadcrumbs": [{"label": "Recovery codes", "url": None}]}
        return _no_store(render(request, "tenancy/mfa_recovery_codes.html", context, status=status))


class MfaVerifyView(LoginRequiredMixin, View):
    """Confirm your second factor again before a sensitive action, then go back to it."""

    template_name = "tenancy/mfa_verify.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        context = {"form": CodeForm(), "next": request.GET.get("next", "")}
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CodeForm(request.POST)
        target = request.POST.get("next", "")
        status = 400
        if form.is_valid():
            try:
                device = services.mfa_verify(
                    user=request.user, code=form.cleaned_data["code"], request=request
                )
            except ApplicationError as exc:
                form.add_error("code", exc.message.removeprefix("code: "))
                status = exc.status_code
            else:
                session_mark_verified(request, device)
                messages.success(request, "Confirmed. You can go on.")
                return redirect(_safe_next(request, target))
        context = {"form": form, "next": target}
        return render(request, self.template_name, context, status=status)


class MemberMfaResetView(TenantViewMixin, View):
    """An admin turns a member's MFA off (a lost phone and no recovery code left)."""

    permission = "members.manage"

    def post(self, request: HttpRequest, member_id: int) -> HttpResponse:
        try:
            membership = selectors.membership_get(organization=request.organization, pk=member_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        if membership.role == Role.OWNER:
            self.require("owners.manage")
        services.mfa_reset(user=membership.user, actor=request.user, request=request)
        messages.success(request, f"MFA of {membership.user.email} is reset.")
        return redirect("tenancy:member-list")
