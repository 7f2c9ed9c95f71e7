"""The bulk writers' diff gives what django-auditlog's own diff gives, field for field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from auditlog.diff import model_instance_diff

from apps.audit.diff import row_diff, row_values
from apps.pools import services
from apps.pools.models import Pool
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def pools(organization):
    """A root and a child with a description, tags and every kind of field set."""
    root = services.pool_create(
        actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
    )
    child = services.pool_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="vpc ünï",
        cidr="10.1.0.0/16",
        parent=root,
        description="line\nnext",
        tags={"env": "prod", "owner": "net"},
        status="reserved",
    )
    return [Pool.objects.get(pk=root.pk), Pool.objects.get(pk=child.pk)]


def test_created_and_deleted_rows(pools):
    for pool in pools:
        assert row_diff(Pool, None, row_values(pool)) == {
            name: list(values)
            for name, values in model_instance_diff(None, pool, use_json_for_changes=True).items()
            if name in row_values(pool)
        }
        assert row_diff(Pool, row_values(pool), None) == {
            name: list(values)
            for name, values in model_instance_diff(pool, None, use_json_for_changes=True).items()
            if name in row_values(pool)
        }


@pytest.mark.parametrize(
    "after",
    [
        {"deleted_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)},
        {"deleted_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "updated_at": None},
        {"name": "renamed", "tags": {"env": "dev"}, "separate_routing_domain": True},
        {"parent": None, "cloud_account": None, "status": "reserved"},
        {"description": ""},
    ],
)
def test_updated_rows(pools, after):
    pool = pools[1]
    before = {name: value for name, value in row_values(pool).items() if name in after}
    changed = Pool.objects.get(pk=pool.pk)
    for name, value in after.items():
        field = Pool._meta.get_field(name)
        setattr(changed, field.attname, value)
    expected = model_instance_diff(
        pool, changed, fields_to_check=list(after), use_json_for_changes=True
    )
    assert row_diff(Pool, before, after, after) == {
        name: list(values) for name, values in (expected or {}).items()
    }
