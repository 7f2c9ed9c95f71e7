"""Console views of tenancy: switcher, organization, members, tokens, invitations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.tenancy import selectors, services
from apps.tenancy.choices import Role
from apps.tenancy.context import SESSION_KEY, memberships_of
from apps.tenancy.filters import ApiTokenFilterSet, MembershipFilterSet
from apps.tenancy.forms import (
    ApiTokenForm,
    MemberInviteForm,
    MemberRoleForm,
    OrganizationForm,
    OrganizationSettingsForm,
    QuotaForm,
)
from apps.tenancy.mixins import TenantViewMixin
from apps.tenancy.models import DEFAULT_QUOTAS, ApiToken
from apps.tenancy.quotas import QUOTA_LABELS, quota_details, quota_usage
from apps.tenancy.tables import ApiTokenTable, MemberTable
from apps.tenancy.throttling import api_calls_this_minute, api_calls_today
from cloudpam.bulk import BulkRowsView
from cloudpam.exceptions import ApplicationError, NotFound
from cloudpam.forms import picker_query


def _show_error(request: HttpRequest, form: Any, exc: ApplicationError) -> None:
    """Put a service error on the form (by field when it names one the form has)."""
    placed = False
    for name, errors in exc.fields.items():
        # ``compliance.NAMING`` belongs to the form's ``compliance`` field.
        field = name if form is None or name in form.fields else name.split(".")[0]
        if form is not None and field in form.fields:
            within = name[len(field) + 1 :]
            for error in errors:
                form.add_error(field, f"{within}: {error}" if within else error)
            placed = True
    if not placed:
        if form is not None:
            form.add_error(None, exc.message)
        else:
            messages.error(request, exc.message)


class OrganizationSwitchView(LoginRequiredMixin, View):
    """Make one of the user's organizations the active one for this session."""

    def post(self, request: HttpRequest) -> HttpResponse:
        slug = request.POST.get("organization", "")
        membership = next(
            (m for m in memberships_of(request.user) if m.organization.slug == slug), None
        )
        if membership is None:
            messages.error(request, "You are not a member of that organization.")
        else:
            request.session[SESSION_KEY] = membership.organization_id
            messages.success(request, f"Now working in {membership.organization.name}.")
        target = request.POST.get("next") or request.headers.get("Referer") or ""
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = resolve_url("dashboard")
        return HttpResponseRedirect(target)


class OrganizationCreateView(LoginRequiredMixin, View):
    """Create an organization; its creator becomes owner and works in it."""

    template_name = "tenancy/organization_create.html"

    def _render(self, form: OrganizationForm, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "may_create": services.organization_create_allowed(self.request.user),
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(OrganizationForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OrganizationForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                organization = services.organization_create(
                    name=form.cleaned_data["name"], creator=request.user, request=request
                )
            except ApplicationError as exc:
                _show_error(request, form, exc)
                status = exc.status_code
            else:
                request.session[SESSION_KEY] = organization.pk
                messages.success(request, f"Created {organization.name}; you are its owner.")
                return redirect("tenancy:organization-settings")
        return self._render(form, status=status)


class OrganizationSettingsView(TenantViewMixin, View):
    """The organization page: name, settings, quotas with usage, and deletion."""

    template_name = "tenancy/organization_settings.html"
    permission = "settings.view"
    # Each form posts its ``action``; the permission each needs is checked in post().
    ACTIONS = {
        "rename": "organization.change",
        "settings": "settings.change",
        "quotas": "quotas.change",
        "delete": "organization.delete",
    }

    def _context(self, **forms: Any) -> dict[str, Any]:
        organization = self.request.organization
        return {
            "organization": organization,
            "rename_form": forms.get("rename")
            or OrganizationForm(initial={"name": organization.name}),
            "settings_form": forms.get("settings")
            or OrganizationSettingsForm(initial=organization.effective_settings),
            "quota_form": forms.get("quotas") or QuotaForm(initial=organization.effective_quotas),
            "usage": {
                name: {"label": QUOTA_LABELS.get(name, name), "limit_text": f"{limit:,}"}
                for name, limit in organization.effective_quotas.items()
            },
            "can": {
                action: self.allowed(permission) for action, permission in self.ACTIONS.items()
            },
            "breadcrumbs": [{"label": organization.name, "url": None}],
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, self._context())

    def post(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action", "")
        if action not in self.ACTIONS:
            raise Http404("Unknown action.")
        self.require(self.ACTIONS[action])
        organization = request.organization
        form: Any
        if action == "delete":
            if request.POST.get("confirm_slug") != organization.slug:
                messages.error(request, "Type the organization's slug to confirm the deletion.")
                return redirect("tenancy:organization-settings")
            name = organization.name
            services.organization_delete(organization=organization)
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"Deleted {name} and everything it held.")
            return redirect("dashboard")
        if action == "rename":
            form = OrganizationForm(request.POST)
        elif action == "settings":
            form = OrganizationSettingsForm(request.POST)
        else:
            form = QuotaForm(request.POST)
        if form.is_valid():
            try:
                if action == "rename":
                    services.organization_update(
                        organization=organization, name=form.cleaned_data["name"]
                    )
                elif action == "settings":
                    services.organization_settings_update(
                        organization=organization,
                        settings={k: form.cleaned_data[k] for k in form.fields},
                    )
                else:
                    services.organization_settings_update(
                        organization=organization,
                        quotas={k: form.cleaned_data[k] for k in DEFAULT_QUOTAS},
                    )
            except ApplicationError as exc:
                _show_error(request, form, exc)
            else:
                messages.success(request, "Saved.")
                return redirect("tenancy:organization-settings")
        return render(request, self.template_name, self._context(**{action: form}), status=400)


def usage_rows(request: HttpRequest) -> list[dict[str, Any]]:
    """Return each quota of the active organization with its use, share and detail line."""
    organization = request.organization
    usage = quota_usage(organization=organization)
    details = quota_details(organization=organization)
    usage["max_api_calls_per_minute"]["used"] = api_calls_this_minute(
        request=request, organization=organization
    )
    details["max_api_calls_per_minute"] = (
        f"{api_calls_today(organization=organization):,} calls today (UTC)"
    )
    rows = []
    for name, quota in usage.items():
        used, limit = quota["used"], quota["limit"]
        if used is None:
            percent = None
        elif limit:
            percent = min(used * 100 / limit, 100.0)
        else:
            percent = 100.0 if used else 0.0
        level = ""
        if percent is not None and percent >= 75:
            level = "err" if percent >= 90 else "warn"
        rows.append(
            {
                "name": name,
                "label": quota["label"],
                "used": used,
                "limit": limit,
                "used_text": "—" if used is None else f"{used:,}",
                "limit_text": f"{limit:,}",
                "percent": percent,
                "level": level,
                "detail": details.get(name, ""),
            }
        )
    return rows


class OrganizationUsageView(TenantViewMixin, View):
    """What the organization uses against each quota, as bars."""

    template_name = "tenancy/organization_usage.html"
    permission = "organization.view"

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        context = {
            "organization": organization,
            "rows": usage_rows(request),
            "can_change_quotas": self.allowed("quotas.change"),
            "breadcrumbs": [
                {
                    "label": organization.name,
                    "url": reverse("tenancy:organization-settings"),
                },
                {"label": "Usage", "url": None},
            ],
        }
        return render(request, self.template_name, context)


MEMBER_PICKER_LIMIT = 20


class MemberPickerView(TenantViewMixin, View):
    """Matches for a member picker: members of the organization by e-mail or name."""

    permission = "members.view"

    def get(self, request: HttpRequest) -> HttpResponse:
        text = picker_query(request, max_length=254)
        options: list[dict[str, str]] = []
        more = False
        if text:
            found = list(
                selectors.membership_search(organization=request.organization, text=text)[
                    : MEMBER_PICKER_LIMIT + 1
                ]
            )
            more = len(found) > MEMBER_PICKER_LIMIT
            options = [
                {
                    "value": membership.user.email,
                    "label": membership.user.email,
                    "detail": " · ".join(
                        filter(None, [membership.user.full_name, membership.role])
                    ),
                }
                for membership in found[:MEMBER_PICKER_LIMIT]
            ]
        context = {
            "options": options,
            "more": more,
            "message": "No member matches." if text and not options else "",
        }
        return render(request, "includes/picker_results.html", context)


class MemberListView(TenantViewMixin, View):
    """Members of the active organization: filter, invite, change roles, remove."""

    template_name = "tenancy/membership_list.html"
    permission = "members.view"
    method_permissions = {"post": "members.manage"}

    def _context(self, invite_form: Any = None) -> dict[str, Any]:
        request = self.request
        filterset = MembershipFilterSet(
            request.GET, queryset=selectors.membership_list(organization=request.organization)
        )
        can_manage = self.allowed("members.manage")
        can_manage_owners = self.allowed("owners.manage")
        return {
            "filterset": filterset,
            "table": MemberTable(
                request,
                filterset.qs,
                context={
                    "can_manage": can_manage,
                    "can_manage_owners": can_manage_owners,
                    "roles": Role.choices,
                },
            ),
            "invite_form": invite_form or MemberInviteForm(),
            "roles": Role.choices,
            "can_manage": can_manage,
            "can_manage_owners": can_manage_owners,
            "breadcrumbs": [
                {
                    "label": request.organization.name,
                    "url": reverse("tenancy:organization-settings"),
                },
                {"label": "Members", "url": None},
            ],
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        context = self._context()
        if context["table"].export_requested:
            return context["table"].export_response()
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = MemberInviteForm(request.POST)
        if form.is_valid():
            if form.cleaned_data["role"] == Role.OWNER:
                self.require("owners.manage")
            try:
                membership = services.membership_invite(
                    organization=request.organization,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor=request.user,
                    request=request,
                )
            except ApplicationError as exc:
                _show_error(request, form, exc)
            else:
                messages.success(request, f"Added {membership.user.email} as {membership.role}.")
                _report_invitation(request, membership.invitation)
                return redirect("tenancy:member-list")
        return render(request, self.template_name, self._context(invite_form=form), status=400)


def _report_invitation(request: HttpRequest, invitation: services.Invitation | None) -> None:
    """Tell the inviter an invitation email failed, and give them its link, this once."""
    if invitation is None or invitation.sent is not False:
        return
    messages.warning(
        request,
        f"The invitation email to {invitation.email} was not sent. {invitation.error} "
        f"Pass this link on yourself; it is shown only now: {invitation.link}",
    )


class MemberRoleView(TenantViewMixin, View):
    """Change one member's role (owners only for the owner role)."""

    permission = "members.manage"

    def post(self, request: HttpRequest, member_id: int) -> HttpResponse:
        try:
            membership = selectors.membership_get(organization=request.organization, pk=member_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        form = MemberRoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose one of the roles.")
            return redirect("tenancy:member-list")
        role = form.cleaned_data["role"]
        if Role.OWNER in (membership.role, role):
            self.require("owners.manage")
        try:
            services.membership_change_role(
                membership=membership, role=role, actor=request.user, request=request
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{membership.user.email} is now {role}.")
        return redirect("tenancy:member-list")


class MemberRemoveView(TenantViewMixin, View):
    """Remove a member from the organization (and revoke their tokens)."""

    permission = "members.manage"

    def post(self, request: HttpRequest, member_id: int) -> HttpResponse:
        try:
            membership = selectors.membership_get(organization=request.organization, pk=member_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        if membership.role == Role.OWNER:
            self.require("owners.manage")
        try:
            services.membership_remove(membership=membership, actor=request.user, request=request)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Removed {membership.user.email}.")
        return redirect("tenancy:member-list")


class ApiTokenListView(TenantViewMixin, View):
    """API tokens: yours (everyone's for admins), create one (shown once), revoke."""

    template_name = "tenancy/apitoken_list.html"
    permission = "tokens.view"
    method_permissions = {"post": "tokens.create"}

    def _context(self, form: Any = None, created: Any = None) -> dict[str, Any]:
        request = self.request
        manage = self.allowed("tokens.manage")
        filterset = ApiTokenFilterSet(
            request.GET,
            queryset=selectors.api_token_list(
                organization=request.organization,
                membership=None if manage else request.membership,
            ),
        )
        return {
            "filterset": filterset,
            "table": ApiTokenTable(request, filterset.qs, exclude=() if manage else ("member",)),
            "form": form or ApiTokenForm(),
            "created": created,
            "show_members": manage,
            "can_create": self.allowed("tokens.create"),
            "default_days": request.organization.setting("token_default_lifetime_days"),
            "breadcrumbs": [
                {
                    "label": request.organization.name,
                    "url": reverse("tenancy:organization-settings"),
                },
                {"label": "API tokens", "url": None},
            ],
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        context = self._context()
        if context["table"].export_requested:
            return context["table"].export_response()
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            days = form.cleaned_data.get("expires_in_days")
            try:
                token, value = services.api_token_create(
                    membership=request.membership,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                    actor=request.user,
                    request=request,
                )
            except ApplicationError as exc:
                _show_error(request, form, exc)
            else:
                # Rendered, not redirected: the value must not travel through the
                # session or a message, which would store it.
                response = render(
                    request,
                    self.template_name,
                    self._context(created={"token": token, "value": value}),
                    status=201,
                )
                response["Cache-Control"] = "no-store"
                return response
        return render(request, self.template_name, self._context(form=form), status=400)


class ApiTokenRevokeView(TenantViewMixin, View):
    """Revoke a token: your own, or anyone's with ``tokens.manage``."""

    permission = "tokens.create"

    def post(self, request: HttpRequest, token_id: int) -> HttpResponse:
        try:
            token = selectors.api_token_get(
                organization=request.organization,
                pk=token_id,
                membership=None if self.allowed("tokens.manage") else request.membership,
            )
        except NotFound as exc:
            raise Http404(exc.message) from None
        services.api_token_revoke(token=token, actor=request.user, request=request)
        messages.success(request, f"Revoked the token {token.name}.")
        return redirect("tenancy:token-list")


class ApiTokenBulkView(BulkRowsView):
    """Revoke the selected tokens: your own, or anyone's with ``tokens.manage``."""

    permission = "tokens.create"
    table = ApiTokenTable
    done: ClassVar[dict[str, str]] = {"revoke": "revoked"}
    noun = ("token", "tokens")
    default_back = "/organization/tokens/"

    def get_queryset(self) -> QuerySet[ApiToken]:
        return selectors.api_token_list(
            organization=self.request.organization,
            membership=None if self.allowed("tokens.manage") else self.request.membership,
        ).filter(revoked_at__isnull=True)

    def apply(self, action: str, row: ApiToken, data: dict[str, Any]) -> None:
        services.api_token_revoke(token=row, actor=self.request.user, request=self.request)


class InvitationAcceptView(auth_views.PasswordResetConfirmView):
    """Set a password from an invitation link, then sign in."""

    template_name = "tenancy/invitation_accept.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password is set. Sign in to continue.")
        return response
