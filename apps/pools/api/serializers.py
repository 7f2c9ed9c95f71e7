"""Pool API serializers: strict input shapes and the read shapes of SPEC.md section 2.

Input serializers only parse; the services check the rules and write. Strings must be
JSON strings and integers JSON integers: ``"5"`` is not a prefix length and ``5`` is not
a name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.pools.choices import AllocationStrategy, PoolSource, PoolStatus, PoolType
from apps.pools.models import CIDR_MAX_LENGTH, Pool
from apps.pools.selectors import TREE_MAX_NODES, TREE_PAGE, TREE_PAGE_MAX, TreeNode
from apps.pools.services import (
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    TAG_VALUE_MAX_LENGTH,
    TAGS_MAX_COUNT,
)
from apps.pools.utilization import Utilization

MAX_ID = 2**63 - 1


class StrictCharField(serializers.CharField):
    """A CharField that takes JSON strings only (DRF's also takes numbers)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that takes JSON integers only (DRF's also takes "5" and 5.0)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": TAG_VALUE_MAX_LENGTH},
        "maxProperties": TAGS_MAX_COUNT,
        "example": {"team": "network", "cost_center": "4711"},
    }
)
class TagsField(serializers.DictField):
    """Tags: a JSON object of string keys and string values."""

    child = StrictCharField(
        allow_blank=True, max_length=TAG_VALUE_MAX_LENGTH, trim_whitespace=False
    )

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        if len(data) > TAGS_MAX_COUNT:
            raise serializers.ValidationError(f"A pool has at most {TAGS_MAX_COUNT} tags.")
        return super().to_internal_value(data)


class UtilizationSerializer(serializers.Serializer):
    """Addresses covered by live children: counts as strings (IPv6-sized numbers)."""

    total = serializers.CharField(help_text="Addresses in the pool.")
    used = serializers.CharField(help_text="Addresses covered by live children.")
    free = serializers.CharField(help_text="Addresses not covered by live children.")
    percent = serializers.FloatField(help_text="Used share, in percent (two decimals).")


def _utilization(serializer: serializers.Serializer, pool: Pool) -> Utilization:
    found = serializer.context.get("utilization", {}).get(pool.pk)
    return found if found is not None else Utilization(total=pool.size, used=0)


def _timestamp(value: datetime | None) -> str | None:
    """Return ``value`` in ISO 8601 UTC as DRF writes it (``...Z``)."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


class PoolSerializer(serializers.ModelSerializer):
    """A pool as the API answers it."""

    parent = serializers.IntegerField(source="parent_id", allow_null=True, read_only=True)
    created_by = serializers.IntegerField(source="created_by_id", allow_null=True, read_only=True)
    tags = TagsField(read_only=True)
    children_count = serializers.SerializerMethodField(help_text="Live direct children.")
    utilization = serializers.SerializerMethodField()

    class Meta:
        model = Pool
        fields = [
            "id",
            "name",
            "cidr",
            "family",
            "prefix_length",
            "parent",
            "type",
            "status",
            "description",
            "tags",
            "source",
            "depth",
            "path",
            "children_count",
            "utilization",
            "created_by",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
        read_only_fields = fields

    def to_representation(self, pool: Pool) -> dict[str, Any]:
        """Return the pool as data, built directly.

        List pages serialize up to 1,000 pools; DRF's generic field machinery would cost
        more than the queries. The declared fields still describe the schema.
        """
        usage = _utilization(self, pool)
        return {
            "id": pool.pk,
            "name": pool.name,
            "cidr": pool.cidr,
            "family": pool.family,
            "prefix_length": pool.prefix_length,
            "parent": pool.parent_id,
            "type": pool.type,
            "status": pool.status,
            "description": pool.description,
            "tags": pool.tags,
            "source": pool.source,
            "depth": pool.depth,
            "path": pool.path,
            "children_count": usage.children,
            "utilization": usage.as_dict(),
            "created_by": pool.created_by_id,
            "created_at": _timestamp(pool.created_at),
            "updated_at": _timestamp(pool.updated_at),
            "deleted_at": _timestamp(pool.deleted_at),
        }

    @extend_schema_field(OpenApiTypes.INT)
    def get_children_count(self, pool: Pool) -> int:
        return _utilization(self, pool).children

    @extend_schema_field(UtilizationSerializer)
    def get_utilization(self, pool: Pool) -> dict[str, Any]:
        return _utilization(self, pool).as_dict()


class PoolCreateSerializer(serializers.Serializer):
    """Body of ``POST /pools/``."""

    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    cidr = StrictCharField(max_length=CIDR_MAX_LENGTH + 20, help_text="e.g. 10.0.0.0/16")
    parent = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID, help_text="Parent pool id."
    )
    type = serializers.ChoiceField(choices=PoolType.choices, required=False)
    status = serializers.ChoiceField(choices=PoolStatus.choices, required=False)
    description = StrictCharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX_LENGTH, trim_whitespace=False
    )
    tags = TagsField(required=False)


class PoolUpdateSerializer(serializers.Serializer):
    """Body of ``PATCH /pools/{id}/``: a new ``parent`` moves the pool with its subtree."""

    name = StrictCharField(required=False, max_length=NAME_MAX_LENGTH)
    cidr = StrictCharField(required=False, max_length=CIDR_MAX_LENGTH + 20)
    parent = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="New parent pool id; null makes the pool a root.",
    )
    type = serializers.ChoiceField(choices=PoolType.choices, required=False)
    status = serializers.ChoiceField(choices=PoolStatus.choices, required=False)
    description = StrictCharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX_LENGTH, trim_whitespace=False
    )
    tags = TagsField(required=False)


class PoolAllocateSerializer(serializers.Serializer):
    """Body of ``POST /pools/{id}/allocate/``."""

    prefix_length = StrictIntegerField(min_value=0, max_value=128)
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    type = serializers.ChoiceField(choices=PoolType.choices, required=False)
    status = serializers.ChoiceField(choices=PoolStatus.choices, required=False)
    strategy = serializers.ChoiceField(choices=AllocationStrategy.choices, required=False)
    description = StrictCharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX_LENGTH, trim_whitespace=False
    )
    tags = TagsField(required=False)


class QuerySerializer(serializers.Serializer):
    """Query parameters: a parameter given empty (``?depth=``) is an error, not absent."""

    def to_internal_value(self, data: Any) -> Any:
        blank = {
            name: ["This field may not be blank."]
            for name in self.fields
            if hasattr(data, "get") and name in data and data.get(name) == ""
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class PoolDeleteQuerySerializer(QuerySerializer):
    """Query of ``DELETE /pools/{id}/``."""

    recursive = serializers.BooleanField(
        required=False, default=False, help_text="Soft-delete the whole live subtree."
    )
    purge = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Remove a soft-deleted pool and its subtree for good (admins).",
    )


class PoolTreeQuerySerializer(QuerySerializer):
    """Query of ``GET /pools/tree/``."""

    root = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Start at this pool."
    )
    depth = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=64,
        help_text=(
            "Levels below the starting level (0: the starting level only). "
            f"Absent: as deep as the tree goes, up to {TREE_MAX_NODES} pools in one "
            "answer (deeper pools are counted in `children_more`)."
        ),
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=TREE_PAGE_MAX,
        default=TREE_PAGE,
        help_text="Children per node (and roots without `root`), in address order.",
    )
    offset = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=10**9,
        default=0,
        help_text=(
            "Skip this many pools of the first paged level: the roots, or the children "
            "of `root`. Read a node's next children with `root={id}&depth=1&offset=...`."
        ),
    )


class PoolAvailableQuerySerializer(QuerySerializer):
    """Query of ``GET /pools/{id}/available/``."""

    prefix_length = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=128,
        help_text="List the first free blocks of exactly this length.",
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000,
        help_text="How many blocks: 10 by default with prefix_length, else 1000.",
    )


class FreeBlockSerializer(serializers.Serializer):
    """A free CIDR block."""

    cidr = serializers.CharField()
    prefix_length = serializers.IntegerField()
    size = serializers.CharField(help_text="Addresses in the block, as a string.")


class PoolAvailableSerializer(serializers.Serializer):
    """Free space of a pool."""

    cidr = serializers.CharField(help_text="The pool's prefix.")
    prefix_length = serializers.IntegerField(
        allow_null=True, help_text="The length asked for, or null for maximal blocks."
    )
    count = serializers.IntegerField(
        help_text="Maximal free blocks in all (without prefix_length), else blocks returned."
    )
    truncated = serializers.BooleanField(help_text="Whether more blocks exist than returned.")
    results = FreeBlockSerializer(many=True)


class StatusUsageSerializer(serializers.Serializer):
    children = serializers.IntegerField()
    addresses = serializers.CharField()


class ByStatusSerializer(serializers.Serializer):
    planned = StatusUsageSerializer()
    active = StatusUsageSerializer()
    reserved = StatusUsageSerializer()
    deprecated = StatusUsageSerializer()


class PoolUtilizationSerializer(UtilizationSerializer):
    """Utilization of one pool, broken down by the status of its children."""

    by_status = ByStatusSerializer()
    children = serializers.IntegerField(help_text="Live direct children.")


class PoolTreeNodeSerializer(serializers.Serializer):
    """A node of ``GET /pools/tree/``."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    cidr = serializers.CharField()
    family = serializers.IntegerField()
    prefix_length = serializers.IntegerField()
    parent = serializers.IntegerField(allow_null=True)
    type = serializers.ChoiceField(choices=PoolType.choices)
    status = serializers.ChoiceField(choices=PoolStatus.choices)
    source = serializers.ChoiceField(choices=PoolSource.choices)
    depth = serializers.IntegerField()
    children_count = serializers.IntegerField(
        help_text="Live direct children, including those beyond the depth asked for."
    )
    children_more = serializers.IntegerField(
        help_text="Live direct children not in `children` (beyond the page or the depth)."
    )
    utilization = UtilizationSerializer()


PoolTreeNodeSerializer._declared_fields["children"] = PoolTreeNodeSerializer(many=True)


def tree_node_data(node: TreeNode) -> dict[str, Any]:
    """Return a tree node as plain data, the shape of PoolTreeNodeSerializer."""
    pool = node.pool
    return {
        "id": pool.pk,
        "name": pool.name,
        "cidr": pool.cidr,
        "family": pool.family,
        "prefix_length": pool.prefix_length,
        "parent": pool.parent_id,
        "type": pool.type,
        "status": pool.status,
        "source": pool.source,
        "depth": pool.depth,
        "children_count": node.utilization.children,
        "children_more": node.more,
        "utilization": node.utilization.as_dict(),
        "children": [tree_node_data(child) for child in node.children],
    }


class PoolTreeSerializer(serializers.Serializer):
    """Answer of ``GET /pools/tree/``."""

    root = serializers.IntegerField(allow_null=True)
    depth = serializers.IntegerField(allow_null=True)
    limit = serializers.IntegerField(help_text="Children per node.")
    offset = serializers.IntegerField(help_text="Pools skipped at the first paged level.")
    total = serializers.IntegerField(
        help_text="Live pools of the first paged level: the roots, or the root's children."
    )
    count = serializers.IntegerField(help_text="Pools in the answer.")
    results = PoolTreeNodeSerializer(many=True)


class AddressLookupSerializer(serializers.Serializer):
    """Answer of ``GET /ip/{address}/``."""

    query = serializers.CharField(help_text="The address or prefix, canonical.")
    family = serializers.IntegerField()
    pools = PoolSerializer(many=True, help_text="Live pools containing it, deepest first.")
    resources = serializers.ListField(
        child=serializers.DictField(),
        help_text=(
            "Discovered cloud resources (present or missing) containing it, narrowest "
            "first, at most 100; each as /discovery/resources/ shows it."
        ),
    )
