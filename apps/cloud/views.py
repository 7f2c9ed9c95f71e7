"""Console pages of cloud accounts: the list, the per-provider forms, the account page.

Views parse the request, call one selector or service and render; a service error is
shown on the form with the API's message. The connectivity test answers an htmx partial.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from apps.cloud import selectors, services
from apps.cloud.choices import Provider
from apps.cloud.filters import AccountFilterSet
from apps.cloud.forms import AccountForm, ConfirmForm, CredentialsForm
from apps.cloud.models import CloudAccount
from apps.cloud.services import SECRET_FIELDS
from apps.cloud.tables import AccountTable
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound


class AccountConsoleMixin(TenantViewMixin):
    """Require ``accounts.view``; changes need ``accounts.change``, credentials an admin."""

    permission = "accounts.view"

    def get_account(self, pk: int) -> CloudAccount:
        try:
            return selectors.account_get(organization=self.request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None

    def base_context(self, account: CloudAccount | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "account": account,
            "can_change": self.allowed("accounts.change"),
            "can_write_credentials": self.allowed("accounts.credentials"),
            **extra,
        }

    def crumbs(self, account: CloudAccount | None = None, *tail: str) -> list[dict[str, Any]]:
        crumbs: list[dict[str, Any]] = [
            {"label": "Cloud accounts", "url": reverse("cloud:account-list")}
        ]
        if account is not None:
            crumbs.append(
                {"label": account.name, "url": reverse("cloud:account-detail", args=[account.pk])}
            )
        crumbs.extend({"label": label, "url": None} for label in tail)
        if not tail:
            crumbs[-1]["url"] = None
        return crumbs


class AccountListView(AccountConsoleMixin, View):
    """Accounts with provider, status badge, last check and the last collection's count."""

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = AccountFilterSet(
            request.GET, queryset=selectors.account_list(organization=request.organization)
        )
        queryset = filterset.qs if filterset.is_valid() else CloudAccount.objects.none()
        table = AccountTable(request, queryset)
        if table.export_requested:
            return table.export_response()
        context = self.base_context(
            filterset=filterset,
            table=table,
            filtered=any(value for name, value in request.GET.items() if name in filterset.filters),
            providers=Provider.choices,
            status_counts=selectors.account_status_counts(organization=request.organization),
            breadcrumbs=None,
        )
        return render(request, "cloud/account_list.html", context)


class AccountDetailView(AccountConsoleMixin, View):
    """An account: its settings, status, members and the last collection's counts."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        members = selectors.account_list(organization=request.organization).filter(parent=account)
        context = self.base_context(
            account,
            members=members,
            collection=account.last_collection or None,
            takes_credentials=account.auth_method in SECRET_FIELDS,
            breadcrumbs=self.crumbs(account),
        )
        return render(request, "cloud/account_detail.html", context)


class AccountCreateView(AccountConsoleMixin, View):
    """A new account of the provider chosen with ``?provider=``."""

    permission = "accounts.change"

    def _provider(self, request: HttpRequest) -> str | None:
        provider = request.GET.get("provider") or request.POST.get("provider")
        return provider if provider in Provider.values else None

    def get(self, request: HttpRequest) -> HttpResponse:
        provider = self._provider(request)
        form = AccountForm(provider=provider) if provider else None
        return self._render(provider, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        provider = self._provider(request)
        if provider is None:
            return self._render(None, None, status=400)
        form = AccountForm(request.POST, provider=provider)
        if form.is_valid():
            try:
                account = services.account_create(
                    organization=request.organization,
                    actor=actor_of(request),
                    provider=provider,
                    **form.cleaned_data,
                )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                messages.success(request, f"Added {account.name}.")
                target = "cloud:account-detail"
                if account.auth_method in SECRET_FIELDS and self.allowed("accounts.credentials"):
                    target = "cloud:account-credentials"
                return HttpResponseRedirect(reverse(target, args=[account.pk]))
        return self._render(provider, form, status=400)

    def _render(self, provider: str | None, form: Any, status: int = 200) -> HttpResponse:
        context = self.base_context(
            form=form,
            provider=provider,
            provider_label=Provider(provider).label if provider else "",
            providers=Provider.choices,
            title="Add a cloud account",
            submit="Add account",
            breadcrumbs=self.crumbs(None, "Add"),
        )
        return render(self.request, "cloud/account_form.html", context, status=status)


class AccountEditView(AccountConsoleMixin, View):
    """Change an account (its provider never changes)."""

    permission = "accounts.change"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        form = AccountForm(provider=account.provider, initial=AccountForm.initial_of(account))
        return self._render(account, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        form = AccountForm(request.POST, provider=account.provider)
        if form.is_valid():
            try:
                services.account_update(
                    account=account, actor=actor_of(request), **form.cleaned_data
                )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                messages.success(request, f"Saved {account.name}.")
                return HttpResponseRedirect(reverse("cloud:account-detail", args=[account.pk]))
        return self._render(account, form, status=400)

    def _render(self, account: CloudAccount, form: AccountForm, status: int = 200) -> HttpResponse:
        context = self.base_context(
            account,
            form=form,
            provider=account.provider,
            provider_label=account.get_provider_display(),
            title=f"Edit {account.name}",
            submit="Save",
            breadcrumbs=self.crumbs(account, "Edit"),
        )
        return render(self.request, "cloud/account_form.html", context, status=status)


class AccountCredentialsView(AccountConsoleMixin, View):
    """Write an account's credentials (admins); what is stored is never shown."""

    permission = "accounts.credentials"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        return self._render(account, CredentialsForm(account=account))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        form = CredentialsForm(request.POST, account=account)
        if form.is_valid():
            try:
                services.account_credentials_set(
                    account=account, actor=actor_of(request), credentials=form.cleaned_data
                )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                messages.success(request, f"Credentials of {account.name} saved.")
                return HttpResponseRedirect(reverse("cloud:account-detail", args=[account.pk]))
        return self._render(account, form, status=400)

    def _render(
        self, account: CloudAccount, form: CredentialsForm, status: int = 200
    ) -> HttpResponse:
        context = self.base_context(
            account,
            form=form,
            takes_credentials=account.auth_method in SECRET_FIELDS,
            breadcrumbs=self.crumbs(account, "Credentials"),
        )
        return render(self.request, "cloud/account_credentials.html", context, status=status)


class AccountTestView(AccountConsoleMixin, View):
    """Run the connectivity test; htmx gets the result partial, a plain POST the page."""

    permission = "accounts.change"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        try:
            result = services.account_check(account=account, actor=actor_of(request))
        except ApplicationError as exc:
            context = {"account": account, "failure": exc.message}
        else:
            context = {"account": account, "result": result}
        if request.headers.get("HX-Request"):
            return render(request, "cloud/account_test_result.html", context)
        if "failure" in context:
            messages.error(request, context["failure"])
        elif result.ok:
            messages.success(request, f"Connected as {result.identity}.")
        else:
            messages.error(request, f"{result.error['code']}: {result.error['message']}")
        return HttpResponseRedirect(reverse("cloud:account-detail", args=[account.pk]))


class AccountActionView(AccountConsoleMixin, View):
    """A POST from the account page that runs one service and reports in a message."""

    permission = "accounts.change"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        try:
            text = self.run(account)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, text)
        return HttpResponseRedirect(reverse("cloud:account-detail", args=[account.pk]))

    def run(self, account: CloudAccount) -> str:
        raise NotImplementedError


class AccountDiscoverMembersView(AccountActionView):
    """Discover the members of the account's AWS Organization."""

    def run(self, account: CloudAccount) -> str:
        result = services.account_discover_members(account=account, actor=actor_of(self.request))
        return (
            f"{len(result.members)} member account(s): {len(result.created)} new, "
            f"{len(result.updated)} updated."
        )


class AccountSyncView(AccountActionView):
    """Queue a sync run of the account now."""

    def run(self, account: CloudAccount) -> str:
        from apps.discovery.sync import sync_run_start

        run = sync_run_start(account=account, actor=actor_of(self.request))
        run.refresh_from_db()
        return f"Sync run {run.pk} {run.get_status_display().lower()}."


class AccountDeleteView(AccountConsoleMixin, View):
    """Confirm and soft-delete an account."""

    permission = "accounts.change"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        context = self.base_context(
            account, form=ConfirmForm(), breadcrumbs=self.crumbs(account, "Delete")
        )
        return render(request, "cloud/account_delete.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = self.get_account(pk)
        services.account_delete(account=account, actor=actor_of(request))
        messages.success(request, f"Deleted {account.name}.")
        return HttpResponseRedirect(reverse("cloud:account-list"))
