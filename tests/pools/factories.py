"""Factories for pools: every pool is made through the services, as in production."""

from __future__ import annotations

from typing import Any

import factory

from apps.pools import services
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from tests.actors import TEST_ACTOR


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class PoolFactory(factory.Factory):
    """Build a pool with ``pool_create``; pass ``parent`` for a child."""

    class Meta:
        model = Pool

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"pool-{n}")
    cidr = "10.0.0.0/8"
    parent = None
    type = "custom"
    status = "active"
    description = ""
    tags = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class: type[Pool], **kwargs: Any) -> Pool:
        parent = kwargs.get("parent")
        if parent is not None:
            kwargs["organization"] = parent.organization
        return services.pool_create(actor=TEST_ACTOR, **kwargs)
