"""Console pages of the address plan: the tree, the pool page and the pool forms.

Views parse the request, call one selector or service and render; a service error is
shown on the form with the API's message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from apps.pools import cidr as engine
from apps.pools import selectors, services
from apps.pools.access import pool_permission_denial
from apps.pools.diagram import MIN_WIDTH, WIDTH, address_map
from apps.pools.filters import PoolFilterSet
from apps.pools.forms import (
    PoolAllocateForm,
    PoolCreateForm,
    PoolDeleteForm,
    PoolEditForm,
    PoolMoveForm,
    pool_reference,
)
from apps.pools.models import Pool
from apps.pools.tables import DeletedPoolTable, PoolTable
from apps.tenancy.mixins import TenantViewMixin
from cloudpam.context import actor_of
from cloudpam.exceptions import ApplicationError, NotFound
from cloudpam.forms import picker_query

# Children a tree node loads per request; more come with "show more".
TREE_BATCH = 200
# Pools an "expand all" opens at most; the rest stay a click away, counted.
EXPAND_MAX = 500
CHILDREN_PER_PAGE = 50
FREE_BLOCKS_SHOWN = 20
# The session key of the user's last allocation choices, the allocate form's next defaults.
ALLOCATE_CHOICES_KEY = "pools.allocate_choices"


class PoolConsoleMixin(TenantViewMixin):
    """Require a member of the active organization with ``pools.view``.

    Changes need ``pools.change`` on the pool they touch, by role or by a grant on the
    pool or an ancestor (``require_on``); a refusal is the 403 page naming it.
    """

    permission = "pools.view"

    def get_pool(self, pk: int) -> Pool:
        try:
            return selectors.pool_get(organization=self.request.organization, pk=pk)
        except NotFound as exc:
            raise Http404(exc.message) from None

    def require_on(self, permission: str, pool: Pool | None) -> None:
        """Raise PermissionDenied unless the request holds ``permission`` on ``pool``."""
        reason = pool_permission_denial(self.request, permission, pool)
        if reason:
            raise PermissionDenied(reason)

    def base_context(self, pool: Pool | None = None, **extra: Any) -> dict[str, Any]:
        denial = pool_permission_denial(self.request, "pools.change", pool)
        return {"can_change": denial is None, "pool": pool, **extra}

    def crumbs(self, pool: Pool | None = None, *tail: str) -> list[dict[str, str | None]]:
        crumbs: list[dict[str, str | None]] = [
            {"label": "Address plan", "url": reverse("pools:pool-tree")}
        ]
        if pool is not None:
            crumbs.extend(
                {"label": ancestor.cidr, "url": reverse("pools:pool-detail", args=[ancestor.pk])}
                for ancestor in [*selectors.pool_ancestors(pool), pool]
            )
        crumbs.extend({"label": label, "url": None} for label in tail)
        if crumbs and not tail:
            crumbs[-1]["url"] = None
        return crumbs


def _with_utilization(pools: list[Pool]) -> list[Pool]:
    """Attach ``utilization`` to each pool, from one grouped query."""
    utilization = selectors.pool_utilization_map(pools)
    for pool in pools:
        pool.utilization = utilization[pool.pk]
    return pools


class PoolTreeView(PoolConsoleMixin, View):
    """The address plan as a tree; the search box takes a name, a prefix or an address.

    ``?focus=<id>`` opens the tree down to a pool, each level paged around the path; a
    search that names one pool (an exact prefix, the deepest pool holding an address, a
    single name match) opens the tree at it too.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        query = request.GET.get("q", "").strip()[:255]
        context = self.base_context(
            query=query, breadcrumbs=None, expand_max=EXPAND_MAX, focus_pk=None
        )
        focus = self._focus(request)
        if query:
            try:
                search = selectors.pool_search(organization=request.organization, text=query)
            except ApplicationError as exc:
                context["search_error"] = exc.message
            else:
                context["search"] = search
                _with_utilization(search.pools)
                if focus is None and search.pools:
                    if search.exact is not None:
                        focus = search.exact
                    elif search.prefix is not None or len(search.pools) == 1:
                        focus = search.pools[0]
        if focus is not None:
            tree = selectors.pool_tree_path(
                organization=request.organization, pool=focus, limit=TREE_BATCH
            )
            context.update(focus=focus, focus_pk=focus.pk)
        elif query:
            tree = None
        else:
            tree = selectors.pool_tree(
                organization=request.organization,
                depth=1,
                limit=TREE_BATCH,
                offset=_offset(request),
            )
        if tree is not None:
            selectors.tree_free_space(tree.nodes)
            shown = tree.offset + len(tree.nodes)
            context.update(
                nodes=tree.nodes,
                roots_total=tree.total,
                roots_more=max(tree.total - shown, 0),
                roots_next_offset=shown,
                roots_offset=tree.offset,
                roots_previous=max(tree.offset - TREE_BATCH, 0),
            )
        return render(request, "pools/pool_tree.html", context)

    def _focus(self, request: HttpRequest) -> Pool | None:
        """Return the live pool ``?focus=`` names, or None (a bad value is ignored)."""
        try:
            pk = int(request.GET.get("focus", ""))
        except ValueError:
            return None
        try:
            pool = selectors.pool_get(organization=request.organization, pk=pk)
        except NotFound:
            return None
        return None if pool.is_deleted else pool


class PoolTreeChildrenView(PoolConsoleMixin, View):
    """The children of one tree node (an htmx partial), a page at a time.

    ``?offset=`` reads the page after a "more" row, ``?before=`` the page before an
    "earlier" row; ``?expand=all`` the whole subtree breadth first, up to ``EXPAND_MAX``
    pools, counting those left out.
    """

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        if pool.deleted_at is not None:
            raise Http404(f"Pool {selectors.describe_pool(pool)} is deleted.")
        expand = request.GET.get("expand") == "all"
        before = _offset(request, "before")
        if before:
            offset = max(before - TREE_BATCH, 0)
            limit = before - offset
        else:
            offset = _offset(request)
            limit = TREE_BATCH
        tree = selectors.pool_tree(
            organization=request.organization,
            root=pool,
            depth=None if expand else 1,
            limit=limit,
            offset=offset,
            max_nodes=EXPAND_MAX + 1 if expand else None,
        )
        node = tree.nodes[0]
        selectors.tree_free_space(node.children)
        context = {
            "nodes": node.children,
            "parent": pool,
            "offset": offset,
            # A page read after a "more" row has the pages before it on screen already,
            # a page read before an "earlier" row those after it.
            "earlier": offset if before else 0,
            "more": 0 if before else node.more,
            "setsize": node.utilization.children,
            "expand_max": EXPAND_MAX,
            "batch": TREE_BATCH,
            "focus_pk": None,
        }
        if expand:
            shown = len(selectors.tree_nodes(node.children))
            below = selectors.pool_subtree_count(pool)
            context["unexpanded"] = max(below - shown, 0)
        return render(request, "pools/pool_tree_children.html", context)


def _offset(request: HttpRequest, name: str = "offset") -> int:
    """The ``name`` query parameter as an offset, 0 when absent or not a number."""
    try:
        return min(max(int(request.GET.get(name, "0")), 0), 10**9)
    except ValueError:
        return 0


class PoolListView(PoolConsoleMixin, View):
    """A flat, filtered, sortable table of pools; ``?deleted=only`` lists the deleted."""

    def get(self, request: HttpRequest) -> HttpResponse:
        only_deleted = request.GET.get("deleted") == "only"
        data = request.GET.copy()
        if only_deleted:
            data["include_deleted"] = "true"
        filterset = PoolFilterSet(
            data,
            queryset=Pool.objects.for_organization(request.organization).select_related("parent"),
        )
        queryset = filterset.qs if filterset.is_valid() else Pool.objects.none()
        if only_deleted:
            queryset = queryset.filter(deleted_at__isnull=False)
            table: PoolTable = DeletedPoolTable(request, queryset)
        else:
            bulk = pool_permission_denial(request, "pools.change", None) is None
            table = PoolTable(request, queryset, bulk=bulk)
        if table.export_requested:
            return table.export_response()
        context = self.base_context(
            filterset=filterset,
            table=table,
            only_deleted=only_deleted,
            breadcrumbs=self.crumbs(None, "Deleted pools" if only_deleted else "All pools"),
        )
        return render(request, "pools/pool_list.html", context)


class PoolDetailView(PoolConsoleMixin, View):
    """A pool: utilization, a to-scale picture, free blocks, children and allocation."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        form = PoolAllocateForm(pool=pool, initial=self._allocate_initial(pool))
        return render(request, "pools/pool_detail.html", self.detail_context(pool, form))

    def _allocate_initial(self, pool: Pool) -> dict[str, Any]:
        """Return the allocate form's defaults: the choices of the user's last allocation."""
        bits = 32 if pool.family == 4 else 128
        wanted = 24 if pool.family == 4 else 64
        length = wanted if pool.prefix_length < wanted else min(pool.prefix_length + 1, bits)
        remembered = self.request.session.get(ALLOCATE_CHOICES_KEY) or {}
        initial: dict[str, Any] = {
            name: remembered[name]
            for name in ("type", "status", "strategy")
            if isinstance(remembered.get(name), str)
        }
        last_length = remembered.get("prefix_length")
        if isinstance(last_length, int) and pool.prefix_length < last_length <= bits:
            length = last_length
        initial["prefix_length"] = length
        return initial

    def detail_context(self, pool: Pool, form: PoolAllocateForm) -> dict[str, Any]:
        request = self.request
        page = Paginator(selectors.pool_children(pool=pool), CHILDREN_PER_PAGE).get_page(
            request.GET.get("page")
        )
        _with_utilization([pool, *page.object_list])
        free = selectors.pool_free_blocks(pool) if not pool.is_deleted else []
        preview = None
        # After a refused allocation the form shows the one error; a preview would repeat
        # it, or complain about the length the form already flags.
        if (
            not form.is_bound
            and not pool.is_deleted
            and pool.prefix_length < (32 if pool.family == 4 else 128)
        ):
            preview = _preview(pool, form.initial.get("prefix_length"), "first_fit")
        return self.base_context(
            pool=pool,
            page=page,
            children=page.object_list,
            segments=address_map(pool, selectors.pool_child_spans(pool)),
            first_address=pool.prefix.network_address,
            last_address=engine.address_to_str(pool.family, pool.prefix.last),
            diagram_width=WIDTH,
            diagram_min_width=MIN_WIDTH,
            free_blocks=free[:FREE_BLOCKS_SHOWN],
            free_count=len(free),
            form=form,
            preview=preview,
            breadcrumbs=self.crumbs(pool),
        )


def _preview(pool: Pool, prefix_length: Any, strategy: str) -> dict[str, Any]:
    """Return the block an allocation would take now, or the error it would meet."""
    try:
        block = selectors.free_block_for(pool, prefix_length=prefix_length, strategy=strategy)
    except ApplicationError as exc:
        return {"error": exc.message, "code": exc.code}
    return {
        "block": str(block),
        "first": block.network_address,
        "last": engine.address_to_str(block.family, block.last),
        "size": block.size,
    }


class PoolAllocatePreviewView(PoolConsoleMixin, View):
    """The block an allocation would take (an htmx partial of the allocate form)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        raw = request.GET.get("prefix_length", "")
        strategy = request.GET.get("strategy", "first_fit")
        try:
            length: Any = int(raw)
        except ValueError:
            length = raw
        preview = _preview(pool, length, strategy)
        return render(request, "pools/pool_allocate_preview.html", {"preview": preview})


class PoolAllocateView(PoolDetailView):
    """Allocate a child through the form on the pool page."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        form = PoolAllocateForm(request.POST, pool=pool)
        if form.is_valid():
            data = form.cleaned_data
            expected = request.POST.get("expected", "")
            try:
                child = services.pool_allocate(
                    parent=pool,
                    prefix_length=data["prefix_length"],
                    name=data["name"],
                    type=data["type"],
                    status=data["status"],
                    strategy=data["strategy"],
                    description=data["description"],
                    tags=data["tags"],
                    actor=actor_of(request),
                )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                request.session[ALLOCATE_CHOICES_KEY] = {
                    name: data[name] for name in ("prefix_length", "type", "status", "strategy")
                }
                note = ""
                if expected and expected != child.cidr:
                    note = f" ({expected}, shown before, was taken meanwhile)"
                messages.success(request, f"Allocated {child.cidr} \u201c{child.name}\u201d{note}.")
                return HttpResponseRedirect(reverse("pools:pool-detail", args=[pool.pk]))
        response = render(request, "pools/pool_detail.html", self.detail_context(pool, form))
        response.status_code = 400
        return response


class PoolCreateView(PoolConsoleMixin, View):
    """Create a root pool, or a child when ``?parent=`` names one."""

    template_name = "pools/pool_form.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {"parent": request.GET.get("parent", "")}
        form = PoolCreateForm(organization=request.organization, initial=initial)
        self.require_on("pools.change", self._parent(form, initial["parent"]))
        return self._render(form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PoolCreateForm(request.POST, organization=request.organization)
        self.require_on("pools.change", self._parent(form, request.POST.get("parent", "")))
        if form.is_valid():
            data = form.cleaned_data
            try:
                pool = services.pool_create(
                    organization=request.organization,
                    actor=actor_of(request),
                    name=data["name"],
                    cidr=data["cidr"],
                    parent=data["parent"],
                    type=data["type"],
                    status=data["status"],
                    description=data["description"],
                    tags=data["tags"],
                )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                messages.success(request, f"Created {pool.cidr} \u201c{pool.name}\u201d.")
                return HttpResponseRedirect(reverse("pools:pool-detail", args=[pool.pk]))
        return self._render(form, status=400)

    @staticmethod
    def _parent(form: PoolCreateForm, value: str) -> Pool | None:
        """Return the parent ``value`` names, or None for a root.

        A name that is no pool also gives None: the role decides, and the form reports it.
        """
        try:
            return form.fields["parent"].clean(value)
        except ValidationError:
            return None

    def _render(self, form: PoolCreateForm, status: int = 200) -> HttpResponse:
        context = self.base_context(
            form=form,
            title="New pool",
            submit="Create pool",
            breadcrumbs=self.crumbs(None, "New pool"),
        )
        return render(self.request, self.template_name, context, status=status)


class PoolEditView(PoolConsoleMixin, View):
    """Change a pool's attributes and prefix."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        return self._render(pool, PoolEditForm(initial=PoolEditForm.initial_for(pool)))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        form = PoolEditForm(request.POST)
        if form.is_valid():
            try:
                pool = services.pool_update(pool=pool, actor=actor_of(request), **form.cleaned_data)
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                messages.success(request, f"Saved {pool.cidr} \u201c{pool.name}\u201d.")
                return HttpResponseRedirect(reverse("pools:pool-detail", args=[pool.pk]))
        return self._render(pool, form, status=400)

    def _render(self, pool: Pool, form: PoolEditForm, status: int = 200) -> HttpResponse:
        context = self.base_context(
            form=form,
            pool=pool,
            title=f"Edit {pool.cidr}",
            submit="Save",
            breadcrumbs=self.crumbs(pool, "Edit"),
        )
        return render(self.request, "pools/pool_form.html", context, status=status)


class PoolMoveView(PoolConsoleMixin, View):
    """Move a pool and its subtree under another parent."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        form = PoolMoveForm(
            organization=request.organization, initial=PoolMoveForm.initial_for(pool)
        )
        return self._render(pool, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        form = PoolMoveForm(request.POST, organization=request.organization)
        if form.is_valid():
            self.require_on("pools.change", form.cleaned_data["parent"])
            try:
                pool = services.pool_move(
                    pool=pool, parent=form.cleaned_data["parent"], actor=actor_of(request)
                )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                messages.success(request, f"Moved {pool.cidr} \u201c{pool.name}\u201d.")
                return HttpResponseRedirect(reverse("pools:pool-detail", args=[pool.pk]))
        return self._render(pool, form, status=400)

    def _render(self, pool: Pool, form: PoolMoveForm, status: int = 200) -> HttpResponse:
        context = self.base_context(
            form=form,
            pool=pool,
            title=f"Move {pool.cidr}",
            submit="Move",
            breadcrumbs=self.crumbs(pool, "Move"),
        )
        return render(self.request, "pools/pool_form.html", context, status=status)


class PoolDeleteView(PoolConsoleMixin, View):
    """Confirm and perform a soft delete."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        return self._render(pool, PoolDeleteForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        form = PoolDeleteForm(request.POST)
        if form.is_valid():
            try:
                count = services.pool_delete(
                    pool=pool, recursive=form.cleaned_data["recursive"], actor=actor_of(request)
                )
            except ApplicationError as exc:
                form.apply_error(exc)
            else:
                noun = "pool" if count == 1 else "pools"
                messages.success(
                    request, f"Deleted {pool.cidr} ({count} {noun}); it can be restored."
                )
                target = (
                    reverse("pools:pool-detail", args=[pool.parent_id])
                    if pool.parent_id
                    else reverse("pools:pool-tree")
                )
                return HttpResponseRedirect(target)
        return self._render(pool, form, status=409)

    def _render(self, pool: Pool, form: PoolDeleteForm, status: int = 200) -> HttpResponse:
        _with_utilization([pool])
        context = self.base_context(form=form, pool=pool, breadcrumbs=self.crumbs(pool, "Delete"))
        return render(self.request, "pools/pool_delete.html", context, status=status)


class PoolRestoreView(PoolConsoleMixin, View):
    """Restore a soft-deleted pool (POST from the pool page)."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        pool = self.get_pool(pk)
        self.require_on("pools.change", pool)
        try:
            services.pool_restore(pool=pool, actor=actor_of(request))
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Restored {pool.cidr} \u201c{pool.name}\u201d.")
        return HttpResponseRedirect(reverse("pools:pool-detail", args=[pool.pk]))


PICKER_LIMIT = 20


class PoolPickerView(PoolConsoleMixin, View):
    """Matches for a pool picker: by name, by CIDR, or the pools containing an address.

    An address or prefix lists the pools that contain it, narrowest first; other
    text matches names. At most ``PICKER_LIMIT`` are listed; ``?family=4|6``
    keeps one family.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        text = picker_query(request)
        family = {"4": 4, "6": 6}.get(request.GET.get("family", ""))
        options: list[dict[str, str]] = []
        message = ""
        more = False
        if text:
            try:
                found = selectors.pool_search(
                    organization=request.organization,
                    text=text,
                    limit=PICKER_LIMIT + 1,
                    family=family,
                )
            except ApplicationError as exc:
                message = exc.message
            else:
                more = len(found.pools) > PICKER_LIMIT
                options = [
                    {
                        "value": pool_reference(pool),
                        "label": pool.cidr,
                        "detail": f"{pool.name} · {pool.type}",
                    }
                    for pool in found.pools[:PICKER_LIMIT]
                ]
                message = "No pool matches." if not options else ""
        context = {"options": options, "more": more, "message": message}
        return render(request, "includes/picker_results.html", context)
