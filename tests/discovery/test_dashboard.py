"""The drift tiles of the dashboard, for every role."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.discovery.reconciliation import resources_reconcile
from apps.pools.services import pool_create
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.discovery import factories
from tests.discovery.test_reconciliation import make_account

pytestmark = pytest.mark.django_db


def tiles_of(html: str) -> dict[str, tuple[int, str]]:
    return {
        label: (int(value), url)
        for url, value, label in re.findall(
            r'<a class="tile" href="([^"]+)"><span class="tile-value">(\d+)</span>'
            r'<span class="tile-label">([^<]+)<',
            html,
        )
    }


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_every_role_sees_the_drift_counts(organization, make_member, role: str) -> None:
    account = make_account(organization)
    root = pool_create(organization=organization, name="corp", cidr="10.0.0.0/8", actor=TEST_ACTOR)
    factories.resource(account, "10.1.0.0/24", "subnet-1", network_id="vpc-1")
    factories.resource(account, "10.1.0.0/28", "vpc-2", network_id="vpc-2")
    factories.resource(account, "192.168.0.0/16", "vpc-3", network_id="vpc-3")
    resources_reconcile(organization=organization, actor=TEST_ACTOR)
    assert root.pk
    browser = Client()
    browser.force_login(make_member(organization, role))
    tiles = tiles_of(browser.get("/").content.decode())
    url = tiles["drift findings"][1]
    assert tiles["drift findings"][0] == 3
    assert tiles["overlapping resources"] == (2, f"{url}?kind=overlap")
    assert tiles["orphaned pools"] == (0, f"{url}?kind=orphaned_pool")
    assert url in ("/discovery/drift/", "/api/v1/discovery/drift/")
