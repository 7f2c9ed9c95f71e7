"""Bulk actions on the pools selected in the console's pool table.

The selection is posted to ``BulkPoolView``, which shows what will change and asks for the
action's details (a status, tags); the confirmed form makes the changes through the batch
write path (``pool_bulk_apply``), one batch for the whole selection, and reports how many
pools changed and why each refused one was refused.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from apps.pools import changes as batch
from apps.pools import services
from apps.pools.choices import PoolStatus
from apps.pools.forms import TagsField
from apps.pools.models import Pool
from apps.pools.selectors import describe_pool
from apps.pools.tables import PoolTable
from apps.pools.views import PoolConsoleMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError

# The most pools one bulk action takes: four pages of the largest size.
MAX_SELECTED = 1000
ACTIONS = {action.key: action.label for action in PoolTable.bulk_actions}


class BulkPoolForm(forms.Form):
    """The details of a bulk action, and the pools it applies to."""

    action = forms.ChoiceField(choices=list(ACTIONS.items()))
    status = forms.ChoiceField(choices=PoolStatus.choices, required=False, label="New status")
    set_tags = TagsField(
        required=False,
        label="Set tags",
        help_text="One key=value per line, added to each pool or replacing the same key.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    remove_tags = forms.CharField(
        required=False,
        max_length=2000,
        label="Remove tags",
        help_text="Keys to remove, separated by spaces or commas.",
    )
    recursive = forms.BooleanField(
        required=False, label="Also delete every pool inside them (recursive)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        if action == "status" and not data.get("status"):
            self.add_error("status", "Choose the new status.")
        if action == "tags" and not data.get("set_tags") and not self.removed_keys():
            self.add_error("set_tags", "Set or remove at least one tag.")
        return data

    def removed_keys(self) -> list[str]:
        text = self.cleaned_data.get("remove_tags") or ""
        return [key for key in text.replace(",", " ").split() if key]

    def changes(self, pools: list[Pool]) -> list[batch.PoolChange]:
        """Return the batch that makes the action on ``pools``."""
        data = self.cleaned_data
        action = data["action"]
        if action == "delete":
            # Deepest first, so a selected child goes before its selected parent.
            ordered = sorted(pools, key=lambda pool: (-pool.depth, pool.pk))
            return [
                batch.PoolDelete(ref=f"pool-{pool.pk}", pool=pool.pk, recursive=data["recursive"])
                for pool in ordered
            ]
        if action == "status":
            return [
                batch.PoolUpdate(
                    ref=f"pool-{pool.pk}", pool=pool.pk, fields={"status": data["status"]}
                )
                for pool in pools
                if pool.status != data["status"]
            ]
        removed = set(self.removed_keys())
        updates = []
        for pool in pools:
            tags = {k: v for k, v in (pool.tags or {}).items() if k not in removed}
            tags.update(data.get("set_tags") or {})
            if tags != (pool.tags or {}):
                updates.append(
                    batch.PoolUpdate(ref=f"pool-{pool.pk}", pool=pool.pk, fields={"tags": tags})
                )
        return updates


def _selected_ids(request: HttpRequest) -> list[int]:
    ids = []
    for value in request.POST.getlist("pk")[: MAX_SELECTED + 1]:
        if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**63:
            raise Http404("No such pool here.")
        ids.append(int(value))
    return sorted(set(ids))


class BulkPoolView(PoolConsoleMixin, View):
    """Review, then apply, a bulk delete, status or tags change on selected pools."""

    permission = "pools.change"
    http_method_names = ["post"]

    def _back(self, request: HttpRequest) -> str:
        back = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return back
        return reverse("pools:pool-list")

    def post(self, request: HttpRequest) -> HttpResponse:
        back = self._back(request)
        ids = _selected_ids(request)
        if not ids:
            messages.warning(request, "Select at least one pool first.")
            return HttpResponseRedirect(back)
        if len(ids) > MAX_SELECTED:
            messages.error(request, f"A bulk action takes at most {MAX_SELECTED} pools.")
            return HttpResponseRedirect(back)
        pools = list(
            Pool.objects.for_organization(request.organization)
            .filter(pk__in=ids, deleted_at__isnull=True)
            .order_by("family", "first_key", "prefix_length", "id")
        )
        if len(pools) != len(ids):
            # Another organization's pool, or one already deleted: nothing is changed.
            raise Http404("Some of the selected pools are not live pools of this organization.")
        form = BulkPoolForm(
            request.POST if request.POST.get("confirm") else None,
            initial={"action": request.POST.get("action")},
        )
        if request.POST.get("confirm") and form.is_valid():
            return self._apply(request, form, pools, back)
        action = request.POST.get("action")
        if action not in ACTIONS:
            messages.error(request, "Choose an action for the selected pools.")
            return HttpResponseRedirect(back)
        context = {
            "form": form,
            "action": action,
            "action_label": ACTIONS[action],
            "pools": pools,
            "back": back,
            "breadcrumbs": self.crumbs(None, "All pools", ACTIONS[action]),
        }
        status = 400 if form.is_bound else 200
        return render(request, "pools/pool_bulk_confirm.html", context, status=status)

    def _apply(
        self, request: HttpRequest, form: BulkPoolForm, pools: list[Pool], back: str
    ) -> HttpResponse:
        changes = form.changes(pools)
        action = form.cleaned_data["action"]
        if not changes:
            messages.info(request, "Nothing to change: the selected pools are already so.")
            return HttpResponseRedirect(back)
        try:
            result = services.pool_bulk_apply(
                organization=request.organization,
                actor=actor_of(request),
                changes=changes,
                details={"bulk": action},
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(back)
        by_pk = {pool.pk: pool for pool in pools}
        done = {"delete": "deleted", "status": "changed status", "tags": "changed tags"}[action]
        if result.applied:
            count = len(result.applied)
            messages.success(request, f"{count} pool{'s' if count != 1 else ''} {done}.")
        if result.refused:
            count = len(result.refused)
            lines = "; ".join(
                f"{describe_pool(by_pk[change.pool])}: {reason}"
                for change, reason in result.refused[:20]
            )
            more = f" (and {count - 20} more)" if count > 20 else ""
            messages.error(
                request, f"{count} pool{'s' if count != 1 else ''} not changed: {lines}{more}."
            )
        return HttpResponseRedirect(back)
