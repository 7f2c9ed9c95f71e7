"""Fixtures of the audit tests: clients per role and a look at the trail."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.tenancy.choices import Role
from apps.tenancy.models import Organization


@pytest.fixture
def auditor_client(organization: Organization, client_for: Callable[..., APIClient]) -> APIClient:
    return client_for(organization, Role.AUDITOR)


@pytest.fixture
def trail(settle_chains: Callable[[], None]) -> Callable[..., list[AuditEvent]]:
    """Return a function listing events in chain order (chaining pending ones first)."""

    def events(**filters: object) -> list[AuditEvent]:
        settle_chains()
        return list(AuditEvent.objects.filter(**filters).order_by("organization_id", "sequence"))

    return events
