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
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.utils.html import format_html
from treebeard.admin import TreeAdmin

from apps.analysis import services as analysis_services
from apps.pools import selectors, services
from apps.pools.forms import PoolAllocateForm, TagsField, tags_to_text
from apps.pools.models import Pool
from apps.tenancy.admin_mixins import TenantAdminMixin
from apps.tenancy.permissions import check_permission
from cloudpam.admin_actions import confirmed_action
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError

# The pool change page lists this many children (a pool may have tens of thousands);
# the rest are one link away, in the changelist filtered on the parent.
CHILDREN_SHOWN = 50
FREE_BLOCKS_SHOWN = 20


class PoolAdminForm(forms.ModelForm):
    """Pool fields plus its parent, picked by name, CIDR or address; saving runs the services."""

    parent = forms.ModelChoiceField(
        queryset=Pool.objects.all(),
        required=False,
        label="Parent pool",
        help_text="Empty for a root pool. Changing it moves the pool with its subtree.",
        # The admin's searchable picker: its answers come from PoolAdmin's own queryset
        # and search (the active organization's pools, by name, CIDR or address).
        widget=AutocompleteSelect(Pool._meta.get_field("parent"), admin.site),
    )
    tags = TagsField(required=False, help_text="One key=value per line.")

    request: HttpRequest
    model_admin: PoolAdmin

    class Meta:
        model = Pool
        fields = ["organization", "name", "cidr", "type", "status", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A member chooses among their organization's pools only, as the picker offers.
        self.fields["parent"].queryset = self.model_admin.get_queryset(self.request)
        if self.instance.pk:
            self.initial["parent"] = self.instance.parent_id
            self.initial["tags"] = tags_to_text(self.instance.tags or {})

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        parent = data.get("parent")
        moving = self.instance.pk is None or getattr(parent, "pk", None) != self.instance.parent_id
        if moving and not self.model_admin.may_write_under(self.request, parent):
            self.add_error("parent", "You may not add pools under this parent.")
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
            for name, errors in exc.fields.items():
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


class ParentFilter(admin.SimpleListFilter):
    """The children of one pool (``?parent=<id>``): the change page's "all children" link.

    The sidebar offers it only while it is in use (a choice of every parent would
    be the whole tree); the change page links to it.
    """

    title = "parent"
    parameter_name = "parent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        if not value or not value.isdigit():
            return []
        parent = model_admin.get_queryset(request).filter(pk=int(value)).first()
        return [(value, f"Children of {parent}")] if parent is not None else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(parent_id=int(value))


class AllocateChildForm(PoolAllocateForm):
    """The console's allocate form, on the admin's confirmation page (free-text tags)."""


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
    list_filter = [DeletedFilter, ParentFilter, "organization", "family", "type", "status"]
    list_filter += ["source"]
    autocomplete_fields = ["organization"]
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
    actions = ["allocate_child", "run_analysis", "soft_delete_recursive", "restore", "purge"]
    role_permissions = {"view": "pools.view", "add": "pools.change", "change": "pools.change"}

    def get_form(self, request: HttpRequest, obj: Pool | None = None, **kwargs: Any) -> Any:
        # The parent is the form's own field: the model's is not editable (a move is
        # the service's job), so the model form must not be asked for it.
        fields = kwargs.get("fields") or flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [name for name in fields if name != "parent"]
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

    def has_analyse_permission(self, request: HttpRequest) -> bool:
        return self.role_allows(request, "analysis.change")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), **self._tree_context(request, object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _tree_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        """The pool's first children (one tree level, with utilization and largest free
        block) and its first free blocks, as the console's tree and pool page show them.

        Bounded whatever the pool's size: ``CHILDREN_SHOWN`` children from the tree
        selector's paged level, ``FREE_BLOCKS_SHOWN`` free blocks.
        """
        pool = self.get_object(request, object_id)
        if pool is None or pool.deleted_at is not None:
            return {}
        tree = selectors.pool_tree(
            organization=pool.organization, root=pool, depth=1, limit=CHILDREN_SHOWN
        )
        node = tree.nodes[0]
        selectors.tree_free_space(node.children)
        free = selectors.pool_free_blocks(pool)
        changelist = reverse("admin:pools_pool_changelist")
        return {
            "pool_children": node.children,
            "pool_children_total": node.utilization.children,
            "pool_children_url": f"{changelist}?parent={pool.pk}&deleted=no",
            "pool_free_blocks": free[:FREE_BLOCKS_SHOWN],
            "pool_free_count": len(free),
        }

    def get_fields(self, request: HttpRequest, obj: Pool | None = None) -> list[str]:
        editable = ["organization", "name", "cidr", "parent", "type", "status"]
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
    def restore(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return confirmed_action(
            self,
            request,
            queryset.filter(deleted_at__isnull=False).order_by("depth"),
            name="restore",
            title="Restore deleted pools",
            permission="pools.change",
            button="Yes, restore them",
            note="Each pool comes back where it was, if its space is still free.",
            run=lambda pool, data: (
                f"Restored {services.pool_restore(pool=pool, actor=actor_of(request))}."
            ),
        )

    @admin.action(description="Allocate a child in the selected pools", permissions=["change"])
    def allocate_child(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        pools = list(queryset.filter(deleted_at__isnull=True).order_by("first_key", "depth"))

        def allocate(pool: Pool, data: dict[str, Any]) -> str:
            child = services.pool_allocate(
                parent=pool,
                prefix_length=data["prefix_length"],
                name=data["name"],
                type=data["type"],
                status=data["status"],
                strategy=data["strategy"],
                description=data.get("description") or "",
                tags=data.get("tags") or {},
                actor=actor_of(request),
            )
            return f"Allocated {child.cidr} in {pool}."

        return confirmed_action(
            self,
            request,
            pools,
            name="allocate_child",
            title="Allocate a child",
            permission="pools.change",
            button="Allocate",
            form_class=((lambda data: AllocateChildForm(data, pool=pools[0])) if pools else None),
            note="The next free block of the length is carved out of each pool.",
            run=allocate,
        )

    @admin.action(description="Run an analysis of the selected pools", permissions=["analyse"])
    def run_analysis(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        pools = list(queryset.filter(deleted_at__isnull=True).order_by("organization_id", "pk"))

        def analyse(allowed: list[Pool], data: dict[str, Any]) -> list[str]:
            # One run per organization: a superuser may select pools of several.
            by_organization: dict[int, list[Pool]] = {}
            for pool in allowed:
                by_organization.setdefault(pool.organization_id, []).append(pool)
            done = []
            for chosen in by_organization.values():
                run = analysis_services.analysis_run_create(
                    organization=chosen[0].organization,
                    pools=[pool.pk for pool in chosen],
                    user=request.user,
                )
                done.append(f"Analysis run {run.pk} of {len(chosen)} pool(s) queued.")
            return done

        return confirmed_action(
            self,
            request,
            pools,
            name="run_analysis",
            title="Run an analysis",
            permission="analysis.change",
            button="Yes, run it",
            note="The analysis of these subtrees runs in the background.",
            run_rows=analyse,
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
