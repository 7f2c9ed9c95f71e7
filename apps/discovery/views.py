"""Console pages of discovery: agents, the network view, resources, sync runs and drift."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.cloud.selectors import account_get
from apps.discovery import network, selectors, services
from apps.discovery.choices import DriftKind, DriftStatus
from apps.discovery.drift import drift_apply, drift_ignore, drift_target_pool
from apps.discovery.filters import DriftFilterSet, ResourceFilterSet, RunFilterSet
from apps.discovery.forms import ProvisioningTokenForm
from apps.discovery.models import DiscoveredResource, DriftFinding, SyncRun
from apps.discovery.sync import sync_run_start
from apps.discovery.tables import (
    AgentTable,
    DriftTable,
    ResourceTable,
    SyncRunTable,
    action_label,
)
from apps.pools.access import pool_permission_denial
from apps.pools.models import Pool
from apps.pools.selectors import pool_ancestors, pool_get
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound

PAGE_SIZE = 50


def _filters_given(request: HttpRequest, filterset: Any) -> str:
    """Return the filters of the request that hold a value, as a query string."""
    params = request.GET.copy()
    for name in list(params):
        if name not in filterset.filters or not params.get(name):
            params.pop(name)
    return params.urlencode()


class AgentListView(TenantViewMixin, View):
    """Agents with status, last heartbeat and staleness; admins decide and make tokens."""

    template_name = "discovery/agent_list.html"
    permission = "agents.view"
    method_permissions = {"post": "agents.manage"}

    def _context(self, form: Any = None, created: Any = None) -> dict[str, Any]:
        request = self.request
        organization = request.organization
        manage = self.allowed("agents.manage")
        agents = selectors.agent_list(organization=organization)
        return {
            "table": AgentTable(request, agents, context={"can_manage": manage}),
            "empty_agents": "No agents yet."
            + (" Create a provisioning token below and start one." if manage else ""),
            "can_manage": manage,
            "tokens": (
                selectors.agent_provisioning_token_list(organization=organization) if manage else []
            ),
            "form": form or ProvisioningTokenForm(),
            "created": created,
            "breadcrumbs": [{"label": "Agents", "url": None}],
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        context = self._context()
        if context["table"].export_requested:
            return context["table"].export_response()
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ProvisioningTokenForm(request.POST)
        if form.is_valid():
            days = form.cleaned_data.get("expires_in_days")
            try:
                token, value = services.agent_provisioning_token_create(
                    organization=request.organization,
                    name=form.cleaned_data["name"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                    actor=actor_of(request),
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
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


DECISIONS = {
    "approve": (services.agent_approve, "Approved"),
    "reject": (services.agent_reject, "Rejected"),
    "revoke": (services.agent_revoke, "Revoked"),
}


class AgentDecisionView(TenantViewMixin, View):
    """Approve, reject or revoke an agent."""

    permission = "agents.manage"

    def post(self, request: HttpRequest, agent_id: int, decision: str) -> HttpResponse:
        if decision not in DECISIONS:
            raise Http404("No such decision.")
        try:
            agent = selectors.agent_get(organization=request.organization, pk=agent_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        service, done = DECISIONS[decision]
        try:
            service(agent=agent, actor=actor_of(request))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{done} the agent {agent.name}.")
        return redirect("discovery:agent-list")


class ProvisioningTokenRevokeView(TenantViewMixin, View):
    """Revoke a provisioning token: agents it registered keep working."""

    permission = "agents.manage"

    def post(self, request: HttpRequest, agent_token_id: int) -> HttpResponse:
        try:
            token = selectors.agent_provisioning_token_get(
                organization=request.organization, pk=agent_token_id
            )
        except NotFound as exc:
            raise Http404(exc.message) from None
        services.agent_provisioning_token_revoke(token=token, actor=actor_of(request))
        messages.success(request, f"Revoked the provisioning token {token.name}.")
        return redirect("discovery:agent-list")


# The discovered estate: network view, resources, sync runs, drift.

TREE_BATCH = 100


def _offset(request: HttpRequest, name: str = "offset") -> int:
    """Return a non-negative offset from the query string; anything else is 0."""
    try:
        return min(max(int(request.GET.get(name, "0")), 0), 10**9)
    except ValueError:
        return 0


class DiscoveryConsoleMixin(TenantViewMixin):
    """Require ``discovery.view`` to read; writes need ``discovery.change``."""

    permission = "discovery.view"
    method_permissions = {"post": "discovery.change"}

    def base_context(self, **extra: Any) -> dict[str, Any]:
        return {
            "can_change": self.allowed("discovery.change"),
            "can_apply": self.allowed("discovery.change") and self.allowed("pools.change"),
            **extra,
        }

    def get_pool(self, pk: int) -> Pool:
        try:
            return pool_get(organization=self.request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None


def _crumbs(*tail: tuple[str, str | None]) -> list[dict[str, str | None]]:
    crumbs: list[dict[str, str | None]] = [
        {"label": "Discovery", "url": reverse("discovery:overview")}
    ]
    crumbs.extend({"label": label, "url": url} for label, url in tail)
    crumbs[-1]["url"] = None
    return crumbs


class NetworkView(DiscoveryConsoleMixin, View):
    """The pool tree with the discovered resources under the pools that contain them."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        roots = network.network_pools(
            organization=organization, parent=None, offset=_offset(request), limit=TREE_BATCH
        )
        outside = network.network_resources(
            organization=organization, pool=None, offset=0, limit=TREE_BATCH
        )
        context = self.base_context(
            roots=roots,
            outside=outside,
            summary=network.network_summary(organization=organization),
            breadcrumbs=_crumbs(("Network", None)),
        )
        return render(request, "discovery/network.html", context)


class NetworkChildrenView(DiscoveryConsoleMixin, View):
    """One tree node's level (an htmx partial): its child pools and its own resources.

    ``?part=pools`` or ``?part=resources`` with ``offset`` answers the next batch of one
    of the two ("show more"); ``pk`` 0 stands for "in no pool".
    """

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        organization = request.organization
        pool = self.get_pool(pk) if pk else None
        part = request.GET.get("part", "")
        offset = _offset(request)
        context: dict[str, Any] = {"parent": pool, "parent_pk": pk}
        if pool is not None and part in ("", "pools"):
            context["pools"] = network.network_pools(
                organization=organization,
                parent=pool,
                offset=offset if part else 0,
                limit=TREE_BATCH,
            )
        if part in ("", "resources"):
            context["resources"] = network.network_resources(
                organization=organization,
                pool=pool,
                offset=offset if part else 0,
                limit=TREE_BATCH,
            )
        return render(request, "discovery/network_children.html", context)


class NetworkPoolView(DiscoveryConsoleMixin, View):
    """One pool in the network view: the two-lane picture and its level of the tree."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        organization = request.organization
        pool = self.get_pool(pk)
        if pool.is_deleted:
            raise Http404("The pool is deleted.")
        crumbs = [("Network", reverse("discovery:network"))]
        crumbs.extend(
            (ancestor.cidr, reverse("discovery:network-pool", args=[ancestor.pk]))
            for ancestor in [*pool_ancestors(pool), pool]
        )
        context = self.base_context(
            pool=pool,
            picture=network.pool_picture(organization=organization, pool=pool),
            pools=network.network_pools(
                organization=organization, parent=pool, offset=0, limit=TREE_BATCH
            ),
            resources=network.network_resources(
                organization=organization, pool=pool, offset=0, limit=TREE_BATCH
            ),
            parent=pool,
            parent_pk=pool.pk,
            breadcrumbs=_crumbs(*crumbs),
        )
        return render(request, "discovery/network_pool.html", context)


class DiscoveryOverviewView(DiscoveryConsoleMixin, View):
    """Discovery at a glance: the estate by mark, the drift by kind, the last runs."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        drift_by_kind = selectors.drift_summary(organization=organization)["by_kind"]
        context = self.base_context(
            summary=network.network_summary(organization=organization),
            drift={kind: count for kind, count in drift_by_kind.items() if count},
            runs=list(selectors.sync_run_list(organization=organization)[:10]),
            tab="overview",
            breadcrumbs=_crumbs(("Overview", None)),
        )
        return render(request, "discovery/overview.html", context)


class ResourceListView(DiscoveryConsoleMixin, View):
    """Discovered resources, filtered like the API and paginated, with state badges."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        filterset = ResourceFilterSet(
            request.GET,
            queryset=selectors.resource_list(organization=organization),
            request=request,
        )
        queryset = (
            filterset.qs if filterset.is_valid() else DiscoveredResource.objects.none()
        ).select_related("account", "pool")
        table = ResourceTable(request, queryset)
        if table.export_requested:
            return table.export_response()
        context = self.base_context(
            filterset=filterset,
            table=table,
            querystring=_filters_given(request, filterset),
            tab="resources",
            breadcrumbs=_crumbs(("Resources", None)),
        )
        return render(request, "discovery/resource_list.html", context)


class ResourceDetailView(DiscoveryConsoleMixin, View):
    """One resource: its fields, its reconciliation, its pool and the runs that saw it."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        organization = request.organization
        try:
            resource = selectors.resource_get(organization=organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        linked = list(
            Pool.objects.for_organization(organization).live().filter(cloud_resource=resource)
        )
        context = self.base_context(
            resource=resource,
            mark=network.resource_mark(resource),
            linked_pools=linked,
            ancestors=[*pool_ancestors(resource.pool), resource.pool] if resource.pool else [],
            findings=list(
                selectors.drift_list(organization=organization).filter(
                    resource=resource, status=DriftStatus.OPEN
                )[:PAGE_SIZE]
            ),
            runs=list(
                selectors.sync_run_list(organization=organization).filter(
                    account=resource.account_id,
                    created_at__gte=resource.first_seen_at,
                )[:10]
            ),
            tab="resources",
            breadcrumbs=_crumbs(
                ("Resources", reverse("discovery:resource-list")), (resource.cidr, None)
            ),
        )
        return render(request, "discovery/resource_detail.html", context)


class SyncRunListView(DiscoveryConsoleMixin, View):
    """Sync runs, newest first, filtered by account, status and trigger."""

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        filterset = RunFilterSet(
            request.GET,
            queryset=selectors.sync_run_list(organization=organization),
            request=request,
        )
        queryset = (
            filterset.qs if filterset.is_valid() else SyncRun.objects.none()
        ).select_related("account", "agent", "created_by")
        table = SyncRunTable(request, queryset)
        if table.export_requested:
            return table.export_response()
        context = self.base_context(
            filterset=filterset,
            table=table,
            querystring=_filters_given(request, filterset),
            tab="runs",
            breadcrumbs=_crumbs(("Sync runs", None)),
        )
        return render(request, "discovery/syncrun_list.html", context)


class SyncRunDetailView(DiscoveryConsoleMixin, View):
    """One sync run; its progress refreshes itself (htmx, every 2 s) until it finishes."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            run = selectors.sync_run_get(organization=request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        context = self.base_context(
            run=run,
            tab="runs",
            breadcrumbs=_crumbs(
                ("Sync runs", reverse("discovery:run-list")), (f"Run {run.pk}", None)
            ),
        )
        if request.headers.get("HX-Request"):
            return render(request, "discovery/syncrun_progress.html", context)
        return render(request, "discovery/syncrun_detail.html", context)


DRIFT_GROUP_SIZE = 20


class DriftListView(DiscoveryConsoleMixin, View):
    """Open drift findings grouped by kind, each with one-click apply and ignore.

    Without ``kind`` each kind shows its first findings and how many there are; with
    ``kind`` the page lists that kind alone, paginated. ``status`` shows applied or
    ignored findings instead of the open ones.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        organization = request.organization
        data = request.GET.copy()
        if "status" not in data:
            data["status"] = DriftStatus.OPEN
        filterset = DriftFilterSet(
            data, queryset=selectors.drift_list(organization=organization), request=request
        )
        valid = filterset.is_valid()
        findings = filterset.qs if valid else DriftFinding.objects.none()
        kind = filterset.form.cleaned_data.get("kind") if valid else None
        params = request.GET.copy()
        params.pop("page", None)
        groups = []
        table = None
        if kind:
            table = DriftTable(
                request,
                findings,
                context={
                    "can_change": self.allowed("discovery.change"),
                    "can_apply": self.allowed("discovery.change") and self.allowed("pools.change"),
                    "next": request.get_full_path(),
                },
            )
            if table.export_requested:
                return table.export_response()
            groups.append({"kind": kind, "findings": [], "count": None})
        elif valid:
            counts = dict(findings.order_by().values_list("kind").annotate(n=Count("pk")))
            groups.extend(
                {
                    "kind": value,
                    "findings": list(findings.filter(kind=value)[:DRIFT_GROUP_SIZE]),
                    "count": counts[value],
                }
                for value in DriftKind.values
                if counts.get(value)
            )
        for group in groups:
            for finding in group["findings"]:
                finding.action_label = action_label(finding.action)
        others = params.copy()
        others.pop("kind", None)
        context = self.base_context(
            filterset=filterset,
            groups=groups,
            table=table,
            querystring=params.urlencode(),
            kind_querystring=others.urlencode(),
            next=request.get_full_path(),
            tab="drift",
            breadcrumbs=_crumbs(("Drift", None)),
        )
        return render(request, "discovery/drift_list.html", context)


class DriftDecisionView(DiscoveryConsoleMixin, View):
    """Apply a finding's suggestion, or ignore the finding with a reason.

    Applying changes the plan, so it also needs ``pools.change`` on the pool the change
    lands in (a grant on that pool or an ancestor counts; the role for a new root).
    """

    def post(self, request: HttpRequest, pk: int, decision: str) -> HttpResponse:
        if decision not in ("apply", "ignore"):
            raise Http404("No such decision.")
        organization = request.organization
        try:
            finding = selectors.drift_get(organization=organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        try:
            if decision == "apply":
                target = drift_target_pool(finding)
                pool = (
                    Pool.objects.for_organization(organization).filter(pk=target).first()
                    if target is not None
                    else None
                )
                reason = pool_permission_denial(request, "pools.change", pool)
                if reason:
                    raise PermissionDenied(reason)
                drift_apply(finding=finding, actor=actor_of(request))
                messages.success(request, f"Applied: {finding.message}")
            else:
                drift_ignore(
                    finding=finding,
                    reason=request.POST.get("reason", ""),
                    actor=actor_of(request),
                )
                messages.success(request, f"Ignored: {finding.message}")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return self._back()

    def _back(self) -> HttpResponseRedirect:
        target = self.request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=False
        ):
            target = reverse("discovery:drift")
        return HttpResponseRedirect(target)


ACCOUNT_RUNS_SHOWN = 10


class AccountRunsView(DiscoveryConsoleMixin, View):
    """The sync runs and resource counts of one cloud account (an htmx partial of its page)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        organization = request.organization
        try:
            account = account_get(organization=organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        runs = selectors.sync_run_list(organization=organization).filter(account=account)
        counts = (
            selectors.resource_list(organization=organization)
            .filter(account=account)
            .order_by()
            .values_list("state")
            .annotate(count=Count("pk"))
        )
        context = self.base_context(
            account=account,
            runs=list(runs[:ACCOUNT_RUNS_SHOWN]),
            resource_counts=dict(counts),
        )
        return render(request, "discovery/account_runs.html", context)


class AccountSyncView(DiscoveryConsoleMixin, View):
    """Sync now: queue a run of the account and open its page, which follows its progress.

    A run already queued or running (409) or the daily quota (429) is a message on the
    account's page.
    """

    permission = "discovery.change"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            account = account_get(organization=request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None
        try:
            run = sync_run_start(account=account, actor=actor_of(request))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("cloud:account-detail", args=[account.pk]))
        messages.success(request, f"Sync run {run.pk} of {account.name} started.")
        return HttpResponseRedirect(reverse("discovery:run-detail", args=[run.pk]))
