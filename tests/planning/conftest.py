"""Fixtures of the plan tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.planning.models import Plan
from apps.planning.services import plan_create
from apps.pools.models import Pool
from apps.tenancy.models import Organization
from tests.actors import TEST_ACTOR
from tests.pools.factories import PoolFactory


@pytest.fixture
def make_pool(organization: Organization) -> Callable[..., Pool]:
    """Return a maker of pools in ``organization``."""

    def make(cidr: str, parent: Pool | None = None, **kwargs: Any) -> Pool:
        kwargs.setdefault("organization", organization)
        return PoolFactory(cidr=cidr, parent=parent, **kwargs)

    return make


@pytest.fixture
def make_plan(organization: Organization) -> Callable[..., Plan]:
    """Return a maker of plans of ``organization`` from a list of operations."""

    def make(operations: list[Any], **kwargs: Any) -> Plan:
        kwargs.setdefault("title", "test plan")
        kwargs.setdefault("source", "ai")
        return plan_create(
            organization=kwargs.pop("organization", organization),
            actor=kwargs.pop("actor", TEST_ACTOR),
            operations=operations,
            **kwargs,
        )

    return make


def create(ref: str, cidr: str | None, parent: Any = None, **extra: Any) -> dict[str, Any]:
    """Return a create operation."""
    operation = {"op": "create", "ref": ref, "name": extra.pop("name", ref), "parent": parent}
    if cidr is not None:
        operation["cidr"] = cidr
    return {**operation, **extra}
