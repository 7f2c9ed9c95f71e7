"""The address plan: pools of IPv4 and IPv6 space forming a tree per organization."""

from __future__ import annotations

from typing import Self

from django.conf import settings
from django.db import models
from treebeard.mp_tree import MP_Node, MP_NodeManager, MP_NodeQuerySet

from apps.pools import cidr as engine
from apps.pools.choices import Family, PoolSource, PoolStatus, PoolType
from apps.tenancy.scoping import TenantModel, TenantQuerySet

# Canonical text of the longest prefix: eight full IPv6 groups and "/128".
CIDR_MAX_LENGTH = 43

# The length of treebeard's path column.
PATH_MAX_LENGTH = 255

# Names of the PostgreSQL exclusion constraints (migration 0002); the services recognise
# them in IntegrityError messages.
SIBLINGS_CONSTRAINT = "pools_pool_live_siblings_disjoint"
ROOTS_CONSTRAINT = "pools_pool_live_roots_disjoint"


class PoolQuerySet(MP_NodeQuerySet, TenantQuerySet):
    """Pools, with treebeard's subtree-aware delete and tenant scoping."""

    def live(self) -> Self:
        """Return the pools that are not soft-deleted."""
        return self.filter(deleted_at__isnull=True)

    def in_subtree(self, path: str) -> Self:
        """Return the pools at ``path`` and below it.

        A range on the indexed path rather than ``startswith``: SQLite cannot use an index
        for ``LIKE``, and treebeard's alphabet (0-9A-Z) orders as the database does, so
        every descendant's path lies between ``path`` and ``path`` padded with "Z".
        """
        return self.filter(path__range=(path, path.ljust(PATH_MAX_LENGTH, "Z")))

    def in_address_order(self) -> Self:
        """Return the pools ordered by family, first address, then larger blocks first."""
        return self.order_by("family", "first_key", "prefix_length", "id")

    def roots_in_address_order(self) -> Self:
        """Return the root pools in address order, read through the depth index.

        Ordered by ``family + 0``, which no index provides: a plain ``family`` lets SQLite
        walk the address index in order, past every pool of the organization, to find the
        few roots; the expression makes it read the roots from the depth index and sort
        them. Roots are never more than the pools, so the sort never costs more.
        """
        return self.filter(depth=1).order_by(
            models.F("family") + 0, "first_key", "prefix_length", "id"
        )


class PoolManager(MP_NodeManager.from_queryset(PoolQuerySet)):  # type: ignore[misc]
    """Treebeard's tree API plus the queryset's ``for_organization``, ``live`` and the rest.

    Treebeard insists that the default manager is an ``MP_NodeManager``, and its
    ``get_queryset`` hard-codes its own queryset class; this one returns a PoolQuerySet,
    which also carries the tenant scoping of ``TenantQuerySet``.
    """

    def get_queryset(self) -> PoolQuerySet:
        """Return pools in path order, as treebeard expects."""
        return PoolQuerySet(self.model, using=self._db).order_by("path")


class Pool(MP_Node, TenantModel):
    """A CIDR block of an organization's address plan, a node of its pool tree.

    The tree is treebeard's materialized path (``path``, ``depth``, ``numchild``; numchild
    counts soft-deleted children too). ``parent`` repeats the parent the path encodes as a
    real, indexed column: the PostgreSQL exclusion constraint compares siblings by it, and
    utilization groups children by it in one query. Only the services write either.

    The prefix is kept as canonical text (``cidr``) plus its family, length and the first
    and last addresses as fixed-width hex keys, so containment and overlap are index range
    queries on SQLite and PostgreSQL alike.
    """

    # TenantModel's field without its single-column index: the composite indexes below
    # start with the organization, and SQLite would otherwise count live pools through
    # the plain index, reading every row to test deleted_at.
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    name = models.CharField(max_length=255)
    cidr = models.CharField("CIDR", max_length=CIDR_MAX_LENGTH)
    family = models.PositiveSmallIntegerField(choices=Family.choices, editable=False)
    prefix_length = models.PositiveSmallIntegerField(editable=False)
    first_key = models.CharField(
        max_length=32, editable=False, help_text="First address as 32 hex digits."
    )
    last_key = models.CharField(
        max_length=32, editable=False, help_text="Last address as 32 hex digits."
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="child_pools",
        editable=False,
    )
    type = models.CharField(max_length=16, choices=PoolType.choices, default=PoolType.CUSTOM)
    status = models.CharField(max_length=16, choices=PoolStatus.choices, default=PoolStatus.ACTIVE)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=PoolSource.choices, default=PoolSource.MANUAL)
    separate_routing_domain = models.BooleanField(
        default=False,
        editable=False,
        help_text=(
            "A root created while the organization allowed overlapping roots: it is its own "
            "routing domain, so the database does not hold it apart from other roots."
        ),
    )
    # Links filled by discovery (reconciliation, import of discovered resources).
    cloud_account = models.ForeignKey(
        "cloud.CloudAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="pools",
        editable=False,
    )
    cloud_resource = models.ForeignKey(
        "discovery.DiscoveredResource",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="linked_pools",
        editable=False,
    )
    orphaned_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When every resource linked to this discovered pool was gone.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = PoolManager()

    class Meta:
        ordering = ["path"]
        # Guardian grant of ``pools.purge`` on one pool subtree (see apps.tenancy.permissions).
        permissions = [("purge_pool", "Can purge soft-deleted pools")]
        indexes = [
            # Treebeard finds the last root or child (the next path) with depth and a path range.
            models.Index(fields=["depth", "path"], name="pools_pool_depth_path"),
            # The tree of an organization, a few levels deep.
            models.Index(
                fields=["organization", "depth", "path"],
                condition=models.Q(deleted_at__isnull=True),
                name="pools_pool_org_depth_live",
            ),
            # Lists that include soft-deleted pools.
            models.Index(
                fields=["organization", "family", "first_key"], name="pools_pool_org_addr"
            ),
            # List pages in address order, their counts, `contains` and `within`.
            models.Index(
                fields=["organization", "family", "first_key", "prefix_length"],
                condition=models.Q(deleted_at__isnull=True),
                name="pools_pool_org_addr_live",
            ),
            # Children in address order and the overlap check among siblings.
            models.Index(
                fields=["parent", "family", "first_key"],
                condition=models.Q(deleted_at__isnull=True),
                name="pools_pool_parent_addr_live",
            ),
            # Utilization: live children counted per parent and prefix length, index-only.
            models.Index(
                fields=["parent", "prefix_length"],
                condition=models.Q(deleted_at__isnull=True),
                name="pools_pool_parent_len_live",
            ),
            # The list filters on type, status and source: their count and their first page
            # in address order are index range scans at a million pools (migration 0005).
            models.Index(
                fields=["organization", "type", "family", "first_key", "prefix_length"],
                condition=models.Q(deleted_at__isnull=True),
                name="pools_pool_org_type_live",
            ),
            models.Index(
                fields=["organization", "status", "family", "first_key", "prefix_length"],
                condition=models.Q(deleted_at__isnull=True),
                name="pools_pool_org_status_live",
            ),
            models.Index(
                fields=["organization", "source", "family", "first_key", "prefix_length"],
                condition=models.Q(deleted_at__isnull=True),
                name="pools_pool_org_source_live",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(family__in=[4, 6]), name="pools_pool_family_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(family=4, prefix_length__lte=32)
                    | models.Q(family=6, prefix_length__lte=128)
                ),
                name="pools_pool_prefix_length_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cidr} {self.name}"

    @property
    def prefix(self) -> engine.Prefix:
        """Return the pool's block as an engine Prefix."""
        return engine.Prefix(self.family, int(self.first_key, 16), self.prefix_length)

    @property
    def size(self) -> int:
        """Return the number of addresses in the pool."""
        return 1 << ((32 if self.family == 4 else 128) - self.prefix_length)

    def get_ancestors(self) -> PoolQuerySet:
        """Return the ancestors, root first: object grants on them cover this pool."""
        return Pool.objects.get_ancestors(self)

    @property
    def is_deleted(self) -> bool:
        """Return whether the pool is soft-deleted."""
        return self.deleted_at is not None

    def set_prefix(self, prefix: engine.Prefix) -> None:
        """Store ``prefix`` in ``cidr`` and its derived columns."""
        self.cidr = str(prefix)
        self.family = prefix.family
        self.prefix_length = prefix.length
        self.first_key = engine.address_key(prefix.first)
        self.last_key = engine.address_key(prefix.last)


class PoolChildLengths(models.Model):
    """How many live children of each prefix length a pool has: its utilization in a row.

    Filled and kept by PostgreSQL triggers on ``pools_pool`` (migration 0007), one per
    statement whatever wrote the pools (services, bulk updates, ``COPY``), so a pool with
    50,000 children reads its used space from a few rows instead of counting them. Never
    written by the application. On SQLite, where the plans are small, it stays empty and
    utilization counts the children. Not a tenant table: it is only read for pools already
    fetched through the organization's scope.
    """

    parent_id = models.BigIntegerField()
    prefix_length = models.PositiveSmallIntegerField()
    live = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["parent_id", "prefix_length"], name="pools_childlengths_unique"
            )
        ]

    def __str__(self) -> str:
        return f"pool {self.parent_id}: {self.live} live /{self.prefix_length}"
