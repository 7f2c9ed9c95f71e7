"""PostgreSQL keeps each pool's live children per prefix length in step with every write.

The triggers of migration 0007 must agree with counting the children after creating,
allocating, changing a prefix, deleting (recursively), restoring and purging, and after bulk
statements (``bulk_create``, ``QuerySet.update``); utilization read from them matches
utilization counted.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from apps.pools import selectors, services
from apps.pools.models import Pool, PoolChildLengths
from tests.actors import TEST_ACTOR
from tests.pools.bulk import bulk_children

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def stored() -> Counter[tuple[int, int]]:
    rows = PoolChildLengths.objects.filter(live__gt=0)
    return Counter({(row.parent_id, row.prefix_length): row.live for row in rows})


def counted() -> Counter[tuple[int, int]]:
    rows = Pool.objects.filter(deleted_at__isnull=True, parent__isnull=False).values_list(
        "parent_id", "prefix_length"
    )
    return Counter(rows)


def test_the_stored_counts_follow_every_write(organization) -> None:
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="r", cidr="10.0.0.0/8"
    )
    a = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="a", cidr="10.1.0.0/16", parent=root
    )
    b = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="b", cidr="10.2.0.0/16", parent=root
    )
    for _ in range(3):
        services.pool_allocate(actor=TEST_ACTOR, parent=a, prefix_length=24, name="x")
    assert stored() == counted() == Counter({(root.pk, 16): 2, (a.pk, 24): 3})

    services.pool_delete(pool=a, recursive=True, actor=TEST_ACTOR)
    assert stored() == counted() == Counter({(root.pk, 16): 1})
    services.pool_restore(pool=Pool.objects.get(pk=a.pk), actor=TEST_ACTOR)
    assert stored() == counted()

    # A new prefix length is one pool leaving one count and joining another, as a move is.
    first = Pool.objects.filter(parent_id=a.pk).order_by("first_key").first()
    services.pool_update(pool=first, actor=TEST_ACTOR, cidr="10.1.0.0/25")
    assert stored() == counted()
    assert stored()[(a.pk, 25)] == 1

    bulk_children(Pool.objects.get(pk=b.pk), 5, 24)
    Pool.objects.filter(parent_id=b.pk, name="c0").update(deleted_at=timezone.now())
    assert stored() == counted()
    assert stored()[(b.pk, 24)] == 4

    services.pool_delete(pool=Pool.objects.get(pk=b.pk), recursive=True, actor=TEST_ACTOR)
    services.pool_purge(pool=Pool.objects.get(pk=b.pk), actor=TEST_ACTOR)
    assert stored() == counted()


def test_utilization_read_from_the_counts_matches_counting(organization) -> None:
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="r", cidr="10.0.0.0/8"
    )
    bulk_children(root, 40, 16)
    v6 = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="v6", cidr="fd00::/48"
    )
    services.pool_allocate(actor=TEST_ACTOR, parent=v6, prefix_length=64, name="s")
    pools = list(Pool.objects.filter(pk__in=[root.pk, v6.pk]))
    read = selectors.pool_utilization_map(pools)
    assert connection.vendor == "postgresql"
    PoolChildLengths.objects.all().delete()
    # With no stored counts every pool reads as empty: the figures above came from them.
    assert selectors.pool_utilization_map(pools)[root.pk].children == 0
    assert read[root.pk].children == 40
    assert read[root.pk].used == 40 * 2**16
    assert read[v6.pk].used == 2**64
