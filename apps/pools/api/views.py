"""The pool API of SPEC.md section 2: thin views over the pool selectors and services.

Another organization's pool, or a parent id of one, is a 404 ``not_found`` exactly like an
id that does not exist, so ids reveal nothing across organizations.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.pools import selectors, services
from apps.pools.access import pool_permission_denial
from apps.pools.api.serializers import (
    AddressLookupSerializer,
    FreeBlockSerializer,
    PoolAllocateSerializer,
    PoolAvailableQuerySerializer,
    PoolAvailableSerializer,
    PoolCreateSerializer,
    PoolDeleteQuerySerializer,
    PoolSerializer,
    PoolTreeQuerySerializer,
    PoolTreeSerializer,
    PoolUpdateSerializer,
    PoolUtilizationSerializer,
    tree_node_data,
)
from apps.pools.filters import ApiPoolFilterSet
from apps.pools.models import Pool
from apps.tenancy.api.mixins import TenantScopedMixin
from apps.tenancy.permissions import check_permission
from cloudpam.context import actor_of
from cloudpam.exceptions import NotFound, PermissionDenied

# Default number of maximal free blocks ``available`` lists without ``prefix_length``.
AVAILABLE_DEFAULT_LIMIT = 1_000
AVAILABLE_LENGTH_DEFAULT_LIMIT = 10


def _pool_data(pools: list[Pool]) -> list[dict[str, Any]]:
    """Serialize ``pools`` with their utilization, fetched in one grouped query."""
    context = {"utilization": selectors.pool_utilization_map(pools)}
    return PoolSerializer(pools, many=True, context=context).data


def require(request: Request, permission: str, pool: Pool | None) -> None:
    """Raise 403 unless the request holds ``permission`` on ``pool`` (by role or grant)."""
    reason = pool_permission_denial(request, permission, pool)
    if reason:
        raise PermissionDenied(reason)


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["pools"])
class PoolViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Pools of the active organization: the address plan.

    Per-object grants count (``object_grants``): an operator grant on one pool lets a
    viewer change that subtree only. Every pool a call acts on is checked, including
    the parent a pool is created or moved under.
    """

    permission_resource = "pools"
    object_grants = True
    queryset = Pool.objects.all()
    serializer_class = PoolSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ApiPoolFilterSet

    def get_object(self) -> Pool:
        pool = selectors.pool_get(organization=self.request.organization, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, pool)
        return pool

    def _require_create(self, body: Any) -> None:
        """Refuse a creation before reading the body when neither role nor grant allows it.

        A member whose role lacks ``pools.change`` may still create under a pool they
        hold a grant on; anything else is a 403, whatever the body holds.
        """
        if check_permission(self.request, "pools.change") is None:
            return
        parent_id = body.get("parent") if isinstance(body, dict) else None
        parent = None
        if isinstance(parent_id, int) and not isinstance(parent_id, bool):
            parent = Pool.objects.for_request(self.request).filter(pk=parent_id).first()
        if parent is None:
            require(self.request, "pools.change", None)
        require(self.request, "pools.change", parent)

    def _parent(self, parent_id: int | None) -> Pool | None:
        """Return the parent a pool goes under, after checking ``pools.change`` on it."""
        parent = None
        if parent_id is not None:
            try:
                parent = selectors.pool_get(organization=self.request.organization, pk=parent_id)
            except NotFound as exc:
                raise NotFound(exc.message, fields={"parent": [exc.message]}) from None
        require(self.request, "pools.change", parent)
        return parent

    def _page(self, queryset: QuerySet) -> Response:
        pools = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(_pool_data(pools))

    @extend_schema(
        summary="List pools",
        description="Pools in address order (``ordering`` changes it), each with utilization.",
    )
    def list(self, request: Request) -> Response:
        return self._page(self.get_queryset())

    @extend_schema(
        summary="Create a pool",
        request=PoolCreateSerializer,
        responses={201: PoolSerializer},
    )
    def create(self, request: Request) -> Response:
        self._require_create(request.data)
        serializer = PoolCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["parent"] = self._parent(data.get("parent"))
        pool = services.pool_create(
            organization=request.organization, actor=actor_of(request), **data
        )
        return Response(_pool_data([pool])[0], status=status.HTTP_201_CREATED)

    @extend_schema(summary="Read a pool (soft-deleted ones too)")
    def retrieve(self, request: Request, pk: int) -> Response:
        # The hot path: the pool and its utilization in one statement.
        pool, usage = selectors.pool_detail(organization=request.organization, pk=self.kwargs["pk"])
        self.check_object_permissions(request, pool)
        return Response(PoolSerializer(pool, context={"utilization": {pool.pk: usage}}).data)

    @extend_schema(
        summary="Change a pool",
        description=(
            "Changes attributes and the prefix; a new ``parent`` moves the pool and its "
            "subtree. Every rule is re-checked: ``outside_parent``, ``overlap``, ``conflict``."
        ),
        request=PoolUpdateSerializer,
        responses={200: PoolSerializer},
    )
    def partial_update(self, request: Request, pk: int) -> Response:
        pool = self.get_object()
        serializer = PoolUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "parent" in data and data["parent"] != pool.parent_id:
            data["parent"] = self._parent(data["parent"])
        pool = services.pool_update(pool=pool, actor=actor_of(request), **data)
        return Response(_pool_data([pool])[0])

    @extend_schema(
        summary="Delete a pool",
        description=(
            "Soft-deletes the pool; 409 ``conflict`` when it has live children unless "
            "``recursive=true``. ``purge=true`` (admins) removes a soft-deleted pool for good."
        ),
        parameters=[PoolDeleteQuerySerializer],
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request: Request, pk: int) -> Response:
        query = _query(PoolDeleteQuerySerializer, request)
        pool = self.get_object()
        if query["purge"]:
            require(request, "pools.purge", pool)
            services.pool_purge(pool=pool, actor=actor_of(request))
        else:
            services.pool_delete(pool=pool, recursive=query["recursive"], actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Restore a soft-deleted pool",
        description="Brings back the pool and the subtree deleted with it; 409 if a rule fails.",
        request=None,
        responses={200: PoolSerializer},
    )
    def restore(self, request: Request, pk: int) -> Response:
        pool = services.pool_restore(pool=self.get_object(), actor=actor_of(request))
        return Response(_pool_data([pool])[0])

    @extend_schema(summary="List a pool's direct children", responses=PoolSerializer(many=True))
    def children(self, request: Request, pk: int) -> Response:
        pool = self.get_object()
        return self._page(Pool.objects.filter(parent=pool))

    @extend_schema(
        summary="The pool tree",
        description=(
            "Nested pools with utilization, in address order. Every level is paged: a node "
            "carries at most `limit` children and `children_more` counts the rest."
        ),
        parameters=[PoolTreeQuerySerializer],
        responses=PoolTreeSerializer,
    )
    def tree(self, request: Request) -> Response:
        query = _query(PoolTreeQuerySerializer, request)
        root = None
        if "root" in query:
            root = selectors.pool_get(organization=request.organization, pk=query["root"])
        tree = selectors.pool_tree(
            organization=request.organization,
            root=root,
            depth=query.get("depth"),
            limit=query["limit"],
            offset=query["offset"],
        )
        results = [tree_node_data(node) for node in tree.nodes]
        return Response(
            {
                "root": root.pk if root else None,
                "depth": query.get("depth"),
                "limit": tree.limit,
                "offset": tree.offset,
                "total": tree.total,
                "count": _count_nodes(results),
                "results": results,
            }
        )

    @extend_schema(
        summary="Free space in a pool",
        description=(
            "The maximal free CIDR blocks in address order; with ``prefix_length``, the "
            "first free blocks of exactly that length."
        ),
        parameters=[PoolAvailableQuerySerializer],
        responses=PoolAvailableSerializer,
    )
    def available(self, request: Request, pk: int) -> Response:
        query = _query(PoolAvailableQuerySerializer, request)
        pool = self.get_object()
        length = query.get("prefix_length")
        if length is None:
            limit = query.get("limit", AVAILABLE_DEFAULT_LIMIT)
            blocks = selectors.pool_free_blocks(pool)
            count, truncated = len(blocks), len(blocks) > limit
            blocks = blocks[:limit]
        else:
            limit = query.get("limit", AVAILABLE_LENGTH_DEFAULT_LIMIT)
            blocks = selectors.pool_free_blocks(pool, prefix_length=length, limit=limit + 1)
            truncated = len(blocks) > limit
            blocks = blocks[:limit]
            count = len(blocks)
        results = FreeBlockSerializer(
            [
                {"cidr": str(block), "prefix_length": block.length, "size": str(block.size)}
                for block in blocks
            ],
            many=True,
        ).data
        return Response(
            {
                "cidr": pool.cidr,
                "prefix_length": length,
                "count": count,
                "truncated": truncated,
                "results": results,
            }
        )

    @extend_schema(
        summary="Allocate a child block",
        description=(
            "Takes the lowest free aligned block (``first_fit``) or the lowest block of the "
            "smallest free block that holds it (``best_fit``). 409 ``no_space`` names the "
            "largest free block."
        ),
        request=PoolAllocateSerializer,
        responses={201: PoolSerializer},
    )
    def allocate(self, request: Request, pk: int) -> Response:
        pool = self.get_object()
        serializer = PoolAllocateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        child = services.pool_allocate(
            parent=pool, actor=actor_of(request), **serializer.validated_data
        )
        return Response(_pool_data([child])[0], status=status.HTTP_201_CREATED)

    @extend_schema(summary="Utilization of a pool", responses=PoolUtilizationSerializer)
    def utilization(self, request: Request, pk: int) -> Response:
        detail = selectors.pool_utilization(self.get_object())
        return Response(
            {
                **detail.utilization.as_dict(),
                "by_status": detail.by_status,
                "children": detail.utilization.children,
            }
        )


def _count_nodes(nodes: list[dict[str, Any]]) -> int:
    return sum(1 + _count_nodes(node["children"]) for node in nodes)


@extend_schema(tags=["pools"])
class AddressLookupView(APIView):
    """Where an address or prefix lives."""

    permission_resource = "pools"

    @extend_schema(
        summary="Look up an address or prefix",
        description=(
            "Every live pool containing the address or prefix, deepest first, and the "
            "discovered resources that use it."
        ),
        parameters=[
            OpenApiParameter(
                "address",
                str,
                OpenApiParameter.PATH,
                description="An IPv4 or IPv6 address, or a prefix such as 10.0.0.0/24.",
            )
        ],
        responses=AddressLookupSerializer,
    )
    def get(self, request: Request, address: str) -> Response:
        prefix, pools = selectors.pool_lookup_address(
            organization=request.organization, text=address
        )
        query = str(prefix) if "/" in address else prefix.network_address
        # Discovery builds on pools, not the reverse: its reads are imported where used.
        from apps.discovery.api.serializers import DiscoveredResourceSerializer
        from apps.discovery.selectors import resources_using

        resources = resources_using(organization=request.organization, prefix=prefix)
        return Response(
            {
                "query": query,
                "family": prefix.family,
                "pools": _pool_data(pools),
                "resources": DiscoveredResourceSerializer(resources, many=True).data,
            }
        )
