"""Admin of the pool tree: treebeard's tree change list, every write through the services.

The admin form calls ``pool_create``/``pool_update`` from ``clean()``, inside the admin's
own transaction, so a broken rule shows as a form error with the API's message; the save
step then has nothing left to do. Drag-and-drop moves call ``pool_move``. Deletion is a
soft delete through admin actions (with restore and purge), never a raw row delete.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.utils.html import format_html
from treebeard.admin import TreeAdmin

from apps.pools import selectors, services
from apps.pools.models import Pool
from apps.tenancy.admin_mixins import TenantAdminMixin
from apps.tenancy.permissions import check_permission
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError


class PoolAdminForm(forms.ModelForm):
    """Pool fields plus its parent by id; saving runs the pool services."""

    parent_id = forms.IntegerField(
        required=False,
        min_value=1,
        label="Parent pool id",
        help_text="Empty for a root pool. Changing it moves the pool with its subtree.",
    )

    request: HttpRequest
    model_admin: PoolAdmin

    class Meta:
        model = Pool
        fields = ["organization", "name", "cidr", "type", "status", "description", "tags"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["parent_id"].initial = self.instance.parent_id

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        parent = data.get("parent_id")
        moving = self.instance.pk is None or parent != self.instance.parent_id
        if moving and not self.model_admin.may_write_under(self.request, parent):
            self.add_error("parent_id", "You may not add pools under this parent.")
            return data
        try:
            if self.instance.pk is None:
                self.instance = services.pool_create(
                    organization=data["organization"],
                    actor=actor_of(self.request),
                    name=data["name"],
                    cidr=data["cidr"],
                    parent=parent,
                    type=data["type"],
                    status=data["status"],
                    description=data.get("description", ""),
                    tags=data.get("tags") or {},
                )
            else:
                self.instance = services.pool_update(
                    pool=Pool.objects.get(pk=self.instance.pk),
                    actor=actor_of(self.request),
                    parent=parent,
                    name=data["name"],
                    cidr=data["cidr"],
                    type=data["type"],
                    status=data["status"],
                    description=data.get("description", ""),
                    tags=data.get("tags") or {},
                )
        except ApplicationError as exc:
            placed = False
            for field, errors in exc.fields.items():
                name = "parent_id" if field == "parent" else field
                if name in self.fields:
                    self.add_error(name, errors)
                    placed = True
            if not placed:
                self.add_error(None, exc.message)
        return data

    def _post_clean(self) -> None:
        # The services have validated and saved the instance; the model's own
        # full_clean would only re-check what they enforce.
        return


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Live"), ("yes", "Deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(Pool)
class PoolAdmin(TenantAdminMixin, TreeAdmin):
    """The pool tree of the active organization (every organization for superusers)."""

    form = PoolAdminForm
    list_display = [
        "cidr",
        "name",
        "organization",
        "type",
        "status",
        "parent_name",
        "utilization_column",
        "family",
        "source",
        "is_live",
        "updated_at",
    ]
    list_filter = [DeletedFilter, "organization", "family", "type", "status", "source"]
    # An address or a prefix also finds the pools containing it (see get_search_results).
    search_fields = ["name", "cidr", "description"]
    search_help_text = "A name, a CIDR, or an address: the pools containing it."
    readonly_fields = [
        "family",
        "prefix_length",
        "parent_link",
        "depth",
        "path",
        "utilization",
        "source",
        "separate_routing_domain",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
    ]
    actions = ["soft_delete_recursive", "restore", "purge"]
    role_permissions = {"view": "pools.view", "add": "pools.change", "change": "pools.change"}

    def get_form(self, request: HttpRequest, obj: Pool | None = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request": request, "model_admin": self})

    def may_write_under(self, request: HttpRequest, parent: Pool | int | None) -> bool:
        """Return whether the request may place a pool under ``parent`` (a root: None).

        As in the API, a grant on a subtree lets its holder write inside it,
        while a root needs the role's ``pools.change``.
        """
        if self._unrestricted(request):
            return True
        if parent is None:
            return check_permission(request, "pools.change") is None
        if not isinstance(parent, Pool):
            parent = self.get_queryset(request).filter(pk=parent).first()
            if parent is None:
                # The service answers an unknown parent with its own message.
                return True
        return self.role_allows(request, "pools.change", parent)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        # Treebeard sets the level shown only for GET; a POST that renders the list
        # again (an action the user may not run) would fail on the missing level.
        request._treebeard_parent = None  # type: ignore[attr-defined]
        return super().changelist_view(request, extra_context)

    def has_purge_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "pools.purge")

    def get_fields(self, request: HttpRequest, obj: Pool | None = None) -> list[str]:
        editable = ["organization", "name", "cidr", "parent_id", "type", "status"]
        editable += ["description", "tags"]
        if obj is not None:
            editable.remove("organization")
        return editable + self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Pool | None = None) -> list[str]:
        return list(self.readonly_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("organization", "parent")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Search names and CIDRs; an address or prefix also finds the pools containing it.

        Containment is a lookup on the indexed address keys, never an expansion.
        """
        results, may_duplicate = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term or not (":" in term or term[0].isdigit()):
            return results, may_duplicate
        try:
            prefix = selectors.parse_lookup(term)
        except ApplicationError:
            return results, may_duplicate
        return results | queryset.filter(**selectors.containing_filter(prefix)), may_duplicate

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # The utilization of the listed pools in one grouped query, not one per row.
        changelist = super().get_changelist_instance(request)
        usage = selectors.pool_utilization_map(changelist.result_list)
        for pool in changelist.result_list:
            pool.admin_usage = usage.get(pool.pk)
        return changelist

    def has_delete_permission(self, request: HttpRequest, obj: Pool | None = None) -> bool:
        # Rows are never deleted directly: the actions soft-delete, restore and purge.
        return False

    def save_model(self, request: HttpRequest, obj: Pool, form: Any, change: bool) -> None:
        # PoolAdminForm.clean() has already saved through the services.
        return

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    @admin.display(boolean=True, description="live")
    def is_live(self, obj: Pool) -> bool:
        return obj.deleted_at is None

    @admin.display(description="parent")
    def parent_link(self, obj: Pool) -> str:
        if obj.parent_id is None:
            return "(root)"
        url = reverse("admin:pools_pool_change", args=[obj.parent_id])
        return format_html('<a href="{}">{}</a>', url, obj.parent)

    @admin.display(description="parent", ordering="parent__first_key")
    def parent_name(self, obj: Pool) -> str:
        return "(root)" if obj.parent_id is None else str(obj.parent)

    @admin.display(description="used")
    def utilization_column(self, obj: Pool) -> str:
        usage = getattr(obj, "admin_usage", None)
        if usage is None:
            return "-"
        return f"{usage.percent}% ({usage.children} children)"

    @admin.display(description="utilization")
    def utilization(self, obj: Pool) -> str:
        if obj.pk is None:
            return "-"
        usage = selectors.pool_utilization_map([obj])[obj.pk]
        return (
            f"{usage.percent}% ({usage.used} of {usage.total} addresses, {usage.children} children)"
        )

    def _run(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        action: Any,
        verb: str,
        permission: str = "pools.change",
    ) -> None:
        done = 0
        allowed, denied = self.permitted(request, permission, queryset)
        self.deny_message(request, permission, denied)
        for pool in allowed:
            try:
                action(pool)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{verb} {done} pool(s).", messages.SUCCESS)

    @admin.action(
        description="Soft-delete selected pools with their subtrees", permissions=["change"]
    )
    def soft_delete_recursive(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(
            request,
            queryset.order_by("-depth"),
            lambda pool: services.pool_delete(pool=pool, recursive=True, actor=actor_of(request)),
            "Deleted",
        )

    @admin.action(description="Restore selected deleted pools", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(
            request,
            queryset.order_by("depth"),
            lambda pool: services.pool_restore(pool=pool, actor=actor_of(request)),
            "Restored",
        )

    @admin.action(description="Purge selected deleted pools for good", permissions=["purge"])
    def purge(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._run(
            request,
            queryset.order_by("-depth"),
            lambda pool: services.pool_purge(pool=pool, actor=actor_of(request)),
            "Purged",
            permission="pools.purge",
        )

    def move_node(self, request: HttpRequest) -> HttpResponse:
        """Handle a drag-and-drop move through ``pool_move``."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        visible = self.get_queryset(request)
        try:
            node = visible.get(pk=int(request.POST.get("node", "")))
            target = visible.get(pk=int(request.POST.get("target", "")))
        except (ValueError, Pool.DoesNotExist):
            messages.error(request, "Invalid form data provided")
            return HttpResponseBadRequest("Invalid form data provided")
        relation = request.POST.get("relation")
        if relation not in {"child", "sibling"}:
            return HttpResponseBadRequest("Invalid form data provided")
        new_parent = target if relation == "child" else target.parent
        if not (
            self.role_allows(request, "pools.change", node)
            and self.may_write_under(request, new_parent)
        ):
            raise PermissionDenied
        try:
            services.pool_move(pool=node, parent=new_parent, actor=actor_of(request))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseBadRequest(exc.message)
        messages.info(
            request, f"Moved {node.cidr} under {new_parent.cidr if new_parent else 'the roots'}."
        )
        return HttpResponse("OK")
