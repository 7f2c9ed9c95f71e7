"""
Console views of single sign-on: the sign-in flow and the admins' provider pages.

The flow: ``/sso/{org}/{provider}/login/`` stores a state, a nonce and a PKCE
verifier in the session and sends the browser to the provider;
``/sso/callback/`` takes the state back exactly once, lets ``SSOBackend``
exchange the code and check the ID token, and signs the user in to the
organization. Every refusal is a page that says why (and a ``login_failed``
audit event naming the reason), never a 500.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from mozilla_django_oidc.utils import generate_code_challenge

from apps.tenancy.context import SESSION_KEY
from apps.tenancy.mixins import TenantViewMixin
from apps.tenancy.models import Organization
from apps.tenancy.rls import tenant_context
from apps.tenancy.sso import oidc, selectors, services
from apps.tenancy.sso.backends import BACKEND_PATH, SSOBackend
from apps.tenancy.sso.discovery import provider_discovery
from apps.tenancy.sso.forms import GroupMappingForm, IdentityProviderForm
from apps.tenancy.sso.models import IdentityProvider
from apps.tenancy.tables import IdentityProviderTable
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound

logger = logging.getLogger("apps.tenancy.sso")

STATES_SESSION_KEY = "cloudpam_sso_states"
MAX_STATES = 10
STATE_LIFETIME_SECONDS = 600
LOGIN_DETAILS_ATTRIBUTE = "cloudpam_login_details"
# HTTP status of a refusal, by reason: the provider or its configuration failing is a 502.
UPSTREAM_REASONS = frozenset(
    {
        "provider_unreachable",
        "provider_error",
        "discovery_invalid",
        "issuer_mismatch",
        "jwks_invalid",
        "token_exchange_failed",
        "invalid_issuer",
    }
)


def refusal(
    request: HttpRequest,
    *,
    reason: str,
    message: str,
    organization: Organization | None = None,
    provider: IdentityProvider | None = None,
    identity: str = "",
) -> HttpResponse:
    """Render the refusal page and record a ``login_failed`` event with the reason."""
    details = {"method": "sso", "provider": provider.slug if provider else None}
    user_login_failed.send(
        sender=__name__,
        credentials={"username": identity},
        request=request,
        reason=f"sso_{reason}",
        details=details,
    )
    logger.info("sso sign-in refused: %s", reason)
    status = 502 if reason in UPSTREAM_REASONS else 403
    retry_url = (
        reverse(
            "tenancy:sso-login",
            kwargs={"organization_slug": organization.slug, "provider_slug": provider.slug},
        )
        if organization is not None and provider is not None
        else None
    )
    context = {
        "reason": reason,
        "message": message,
        "organization": organization,
        "provider": provider,
        "retry_url": retry_url,
    }
    return render(request, "tenancy/sso_refused.html", context, status=status)


def _safe_next(request: HttpRequest, value: str | None) -> str | None:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return None


def _remember_state(request: HttpRequest, state: str, entry: dict[str, Any]) -> None:
    states = request.session.get(STATES_SESSION_KEY)
    if not isinstance(states, dict):
        states = {}
    now = time.time()
    states = {
        key: value
        for key, value in states.items()
        if isinstance(value, dict) and now - value.get("added_on", 0) < STATE_LIFETIME_SECONDS
    }
    while len(states) >= MAX_STATES:
        oldest = min(states, key=lambda key: states[key].get("added_on", 0))
        del states[oldest]
    states[state] = {**entry, "added_on": now}
    request.session[STATES_SESSION_KEY] = states


def _take_state(request: HttpRequest, state: str) -> dict[str, Any] | None:
    """Return the sign-in started with ``state`` and forget it: a state works once.

    The session entry is removed and saved at once, and the state is marked
    used in the shared cache, so a replay (the same callback URL again, from
    this browser or another, even concurrently) finds nothing.
    """
    states = request.session.get(STATES_SESSION_KEY)
    entry = states.pop(state, None) if isinstance(states, dict) else None
    if entry is not None:
        request.session[STATES_SESSION_KEY] = states
        request.session.save()
    digest = hashlib.sha256(state.encode()).hexdigest()
    first_use = cache.add(f"cloudpam:sso:state:{digest}", 1, STATE_LIFETIME_SECONDS * 2)
    if entry is None or not first_use:
        return None
    if time.time() - entry.get("added_on", 0) > STATE_LIFETIME_SECONDS:
        return None
    return entry


class SSOLoginView(View):
    """Start signing in through one identity provider of an organization."""

    def get(self, request: HttpRequest, organization_slug: str, provider_slug: str) -> HttpResponse:
        organization = Organization.objects.filter(slug=organization_slug).first()
        provider = None
        if organization is not None:
            with tenant_context(organization):
                provider = selectors.identity_provider_for_sign_in(
                    organization=organization, slug=provider_slug
                )
        if provider is None:
            raise Http404("No such single sign-on provider.")
        try:
            with tenant_context(organization):
                document = provider_discovery(provider)
        except oidc.SSOFailure as exc:
            return refusal(
                request,
                reason=exc.reason,
                message=f"{provider.name} cannot be used right now: {exc.message}",
                organization=organization,
                provider=provider,
            )
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        _remember_state(
            request,
            state,
            {
                "organization_id": organization.pk,
                "provider_id": provider.pk,
                "nonce": nonce,
                "code_verifier": verifier,
                "next": _safe_next(request, request.GET.get("next")),
            },
        )
        params = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": request.build_absolute_uri(reverse("tenancy:sso-callback")),
            "scope": provider.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": generate_code_challenge(verifier, "S256"),
            "code_challenge_method": "S256",
        }
        endpoint = str(document["authorization_endpoint"])
        separator = "&" if "?" in endpoint else "?"
        return HttpResponseRedirect(f"{endpoint}{separator}{urlencode(params)}")


class SSOCallbackView(View):
    """Finish a sign-in: check the state, the code and the ID token, then sign the user in."""

    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state", "")
        if not state or len(state) > 200:
            return refusal(
                request,
                reason="missing_state",
                message="This sign-in answer carries no valid state. Start the sign-in again.",
            )
        entry = _take_state(request, state)
        if entry is None:
            return refusal(
                request,
                reason="unknown_state",
                message=(
                    "This sign-in answer was already used, has expired, or was started in "
                    "another browser. Start the sign-in again."
                ),
            )
        organization = Organization.objects.filter(pk=entry.get("organization_id")).first()
        provider = None
        if organization is not None:
            with tenant_context(organization):
                provider = selectors.identity_provider_for_sign_in(
                    organization=organization, pk=entry.get("provider_id")
                )
        if provider is None:
            return refusal(
                request,
                reason="provider_disabled",
                message="This identity provider was removed or disabled meanwhile.",
                organization=organization,
            )
        if request.GET.get("error"):
            error = request.GET.get("error", "")[:100]
            description = request.GET.get("error_description", "")[:300]
            return refusal(
                request,
                reason="provider_denied",
                message=f"{provider.name} did not sign you in ({error}"
                f"{': ' + description if description else ''}).",
                organization=organization,
                provider=provider,
            )
        if not request.GET.get("code"):
            return refusal(
                request,
                reason="missing_code",
                message=f"{provider.name} sent no sign-in code.",
                organization=organization,
                provider=provider,
            )
        backend = SSOBackend()
        try:
            with tenant_context(organization):
                user = backend.authenticate(
                    request,
                    sso_provider=provider,
                    nonce=entry.get("nonce"),
                    code_verifier=entry.get("code_verifier"),
                )
        except oidc.SSOFailure as exc:
            return refusal(
                request,
                reason=exc.reason,
                message=exc.message,
                organization=organization,
                provider=provider,
            )
        except ApplicationError as exc:  # e.g. the client secret cannot be decrypted
            return refusal(
                request,
                reason=exc.code,
                message=f"{provider.name} is not configured correctly: {exc.message}",
                organization=organization,
                provider=provider,
            )
        if user is None:
            return refusal(
                request,
                reason="invalid_token",
                message=f"{provider.name} did not confirm who you are.",
                organization=organization,
                provider=provider,
            )
        setattr(
            request,
            LOGIN_DETAILS_ATTRIBUTE,
            {"method": "sso", "provider": provider.slug, "organization": organization.slug},
        )
        login(request, user, backend=BACKEND_PATH)
        request.session[SESSION_KEY] = organization.pk
        sign_in = backend.sign_in
        if sign_in is not None and sign_in.membership_created:
            messages.success(request, f"Welcome to {organization.name}.")
        return HttpResponseRedirect(entry.get("next") or resolve_url("dashboard"))


class SSOChooseView(View):
    """Find an organization's identity providers from its slug (the login page's SSO form)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        slug = request.GET.get("organization", "").strip().lower()[:63]
        target = reverse("login")
        params = {"organization": slug}
        next_url = _safe_next(request, request.GET.get("next"))
        if next_url:
            params["next"] = next_url
        return HttpResponseRedirect(f"{target}?{urlencode(params)}")


# ---------------------------------------------------------------- admin pages


def _breadcrumbs(request: HttpRequest, *trail: tuple[str, str | None]) -> list[dict[str, Any]]:
    crumbs = [
        {"label": request.organization.name, "url": reverse("tenancy:organization-settings")},
        {"label": "Single sign-on", "url": reverse("tenancy:sso-provider-list")},
    ]
    crumbs.extend({"label": label, "url": url} for label, url in trail)
    crumbs[-1]["url"] = None
    return crumbs


def _show_error(form: Any, exc: ApplicationError) -> None:
    placed = False
    for name, errors in exc.fields.items():
        if name in form.fields:
            for error in errors:
                form.add_error(name, error)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


class ProviderObjectMixin(TenantViewMixin):
    permission = "sso.manage"

    def provider(self, pk: int) -> IdentityProvider:
        try:
            return selectors.identity_provider_get(organization=self.request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None


class IdentityProviderListView(TenantViewMixin, View):
    """The organization's identity providers (admins), with a create form."""

    permission = "sso.manage"
    template_name = "tenancy/sso_provider_list.html"

    def _render(self, form: Any = None, status: int = 200) -> HttpResponse:
        request = self.request
        providers = selectors.identity_provider_list(organization=request.organization)
        context = {
            "table": IdentityProviderTable(request, providers),
            "form": form or IdentityProviderForm(creating=True),
            "callback_url": request.build_absolute_uri(reverse("tenancy:sso-callback")),
            "enforce_sso": request.organization.setting("enforce_sso") is True,
            "breadcrumbs": _breadcrumbs(request),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        providers = selectors.identity_provider_list(organization=request.organization)
        table = IdentityProviderTable(request, providers)
        if table.export_requested:
            return table.export_response()
        return self._render()

    def post(self, request: HttpRequest) -> HttpResponse:
        form = IdentityProviderForm(request.POST, creating=True)
        if form.is_valid():
            try:
                provider = services.identity_provider_create(
                    organization=request.organization, actor=actor_of(request), **form.values()
                )
            except ApplicationError as exc:
                _show_error(form, exc)
            else:
                messages.success(request, f"Added the identity provider {provider.name}.")
                return redirect("tenancy:sso-provider-detail", pk=provider.pk)
        return self._render(form, status=400)


class IdentityProviderDetailView(ProviderObjectMixin, View):
    """One provider: edit it, check its discovery document, manage its group mappings."""

    template_name = "tenancy/sso_provider_detail.html"

    def _render(
        self,
        provider: IdentityProvider,
        *,
        form: Any = None,
        mapping_form: Any = None,
        check: Any = None,
        status: int = 200,
    ) -> HttpResponse:
        request = self.request
        context = {
            "provider": provider,
            "form": form or IdentityProviderForm(instance=provider),
            "mapping_form": mapping_form or GroupMappingForm(),
            "mappings": selectors.group_mapping_list(provider=provider),
            "check": check,
            "login_url": request.build_absolute_uri(
                reverse(
                    "tenancy:sso-login",
                    kwargs={
                        "organization_slug": request.organization.slug,
                        "provider_slug": provider.slug,
                    },
                )
            ),
            "callback_url": request.build_absolute_uri(reverse("tenancy:sso-callback")),
            "breadcrumbs": _breadcrumbs(request, (provider.name, None)),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(self.provider(pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        provider = self.provider(pk)
        action = request.POST.get("action", "update")
        actor = actor_of(request)
        if action == "check":
            result = services.identity_provider_check(provider=provider, actor=actor)
            provider.refresh_from_db()
            return self._render(provider, check=result.as_dict())
        if action == "delete":
            name = provider.name
            services.identity_provider_delete(provider=provider, actor=actor)
            messages.success(request, f"Removed the identity provider {name}.")
            return redirect("tenancy:sso-provider-list")
        if action == "add_mapping":
            mapping_form = GroupMappingForm(request.POST)
            if mapping_form.is_valid():
                try:
                    services.group_mapping_create(
                        provider=provider, actor=actor, **mapping_form.cleaned_data
                    )
                except ApplicationError as exc:
                    _show_error(mapping_form, exc)
                else:
                    messages.success(request, "Mapping added.")
                    return redirect("tenancy:sso-provider-detail", pk=provider.pk)
            return self._render(provider, mapping_form=mapping_form, status=400)
        if action == "delete_mapping":
            raw = str(request.POST.get("mapping", ""))
            try:
                if not raw.isdigit() or len(raw) > 18:
                    raise NotFound("No such mapping.")
                mapping = selectors.group_mapping_get(provider=provider, pk=int(raw))
            except NotFound as exc:
                raise Http404(exc.message) from None
            services.group_mapping_delete(mapping=mapping, actor=actor)
            messages.success(request, f"Removed the mapping of {mapping.group}.")
            return redirect("tenancy:sso-provider-detail", pk=provider.pk)
        if action != "update":
            raise Http404("Unknown action.")
        form = IdentityProviderForm(request.POST, instance=provider)
        if form.is_valid():
            try:
                services.identity_provider_update(provider=provider, actor=actor, **form.values())
            except ApplicationError as exc:
                _show_error(form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("tenancy:sso-provider-detail", pk=provider.pk)
        return self._render(provider, form=form, status=400)


def sso_login_context(request: HttpRequest) -> dict[str, Any]:
    """Return the login page's single sign-on part for ``?organization=<slug>``.

    The page lists the enabled providers of the organization named in the
    query (a link or bookmark per organization), never those of every
    organization: which organizations an instance serves is not public. An
    unknown slug and an organization without providers look the same.
    """
    slug = request.GET.get("organization", "").strip().lower()[:63]
    context: dict[str, Any] = {"sso_organization_slug": slug, "sso_providers": None}
    if not slug:
        return context
    organization = Organization.objects.filter(slug=slug).first()
    providers: list[IdentityProvider] = []
    if organization is not None:
        with tenant_context(organization):
            providers = selectors.sign_in_providers(organization=organization)
    next_url = _safe_next(request, request.GET.get("next"))
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    context["sso_providers"] = [
        {
            "name": provider.name,
            "url": reverse(
                "tenancy:sso-login",
                kwargs={"organization_slug": slug, "provider_slug": provider.slug},
            )
            + query,
        }
        for provider in providers
    ]
    return context
