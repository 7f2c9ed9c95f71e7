"""Fixtures of the pool tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.pools.models import Pool
from apps.tenancy.models import Organization
from tests.pools.factories import PoolFactory


@pytest.fixture
def make_pool(organization: Organization) -> Callable[..., Pool]:
    """Return a maker of pools in ``organization`` (or the parent's organization)."""

    def make(cidr: str, parent: Pool | None = None, **kwargs: Any) -> Pool:
        kwargs.setdefault("organization", organization)
        return PoolFactory(cidr=cidr, parent=parent, **kwargs)

    return make


@pytest.fixture
def root(make_pool: Callable[..., Pool]) -> Pool:
    """10.0.0.0/8 "corp", a root pool of acme."""
    return make_pool("10.0.0.0/8", name="corp")
