"""The admin index: models grouped by app, each with the rows the member may see."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.pools import services as pool_services
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db


def _count(content: str, model: str) -> str:
    match = re.search(rf'class="model-{model}.*?<td class="admin-count">(\d*)</td>', content, re.S)
    assert match, model
    return match.group(1)


def test_the_index_counts_the_rows_of_the_active_organization(
    organization, other_organization, make_member, django_assert_max_num_queries
):
    for cidr in ("10.0.0.0/8", "172.16.0.0/12"):
        pool_services.pool_create(organization=organization, actor=TEST_ACTOR, name=cidr, cidr=cidr)
    pool_services.pool_create(
        organization=other_organization, actor=TEST_ACTOR, name="theirs", cidr="10.0.0.0/8"
    )
    member = make_member(organization, Role.ADMIN, email="staff@example.com")
    member.is_staff = True
    member.save()
    client = Client()
    client.force_login(member)
    with django_assert_max_num_queries(60):
        content = client.get("/admin/").content.decode()
    assert _count(content, "pool") == "2"
    assert _count(content, "membership") == "1"
    # Cached briefly: the next index makes no COUNT of its own.
    with django_assert_max_num_queries(60) as queries:
        client.get("/admin/")
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    # Pages other than the index keep Django's list without counts.
    assert "admin-count" not in client.get("/admin/pools/pool/").content.decode()
