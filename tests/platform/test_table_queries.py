"""Every console list costs the same queries whatever its page size, sort and columns.

Each list gets more rows than the smallest page (so a page of 25 and a page of 250 show a
different number of rows), then is read at 25 rows sorted by its first sortable column with
the default columns, and at 250 rows sorted by its last sortable column, descending, with
every column the user can choose: the query counts must match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.analysis.models import Recommendation
from apps.cloud import services as cloud_services
from apps.discovery.models import DriftFinding
from apps.planning.llm_models import LLMProviderConfig
from apps.planning.models import Plan
from apps.planning.template_models import OrganizationTemplate
from apps.pools.models import Pool
from apps.tenancy import services as tenancy_services
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, TablePreference
from apps.tenancy.sessions.models import UserSession
from apps.tenancy.sso import services as sso_services
from cloudpam.tables import all_tables
from tests.actors import TEST_ACTOR
from tests.discovery import factories as discovery
from tests.pools.factories import PoolFactory

pytestmark = pytest.mark.django_db

ROWS = 30
MAX_QUERIES = 30


def _pools(world: Any, count: int = ROWS) -> list[Pool]:
    root = PoolFactory(organization=world.organization, cidr="10.0.0.0/8")
    return [root] + [
        PoolFactory(parent=root, cidr=f"10.{index}.0.0/16") for index in range(1, count)
    ]


def _public_roots(world: Any) -> None:
    # One PUBLIC_SPACE finding per root: a pool inside a flagged root is not flagged again.
    for index in range(ROWS):
        PoolFactory(organization=world.organization, cidr=f"8.{index}.0.0/16")


def _account(world: Any, index: int = 0) -> Any:
    return cloud_services.account_create(
        actor=TEST_ACTOR,
        organization=world.organization,
        name=f"Account {index}",
        provider="aws",
        external_id=f"{111122223333 + index}",
        auth_method="access_keys",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
    )


def _deleted(world: Any) -> None:
    pools = _pools(world)
    Pool.objects.filter(pk__in=[pool.pk for pool in pools]).update(deleted_at=timezone.now())


def _accounts(world: Any) -> None:
    for index in range(ROWS):
        _account(world, index)


def _resources(world: Any) -> None:
    account = _account(world)
    for index in range(ROWS):
        discovery.resource(account, f"10.{index}.0.0/16", resource_id=f"vpc-{index}")


def _runs(world: Any) -> None:
    account = _account(world)
    for _ in range(ROWS):
        discovery.sync_run(account, created_by=world.owner)


def _drift(world: Any) -> None:
    account = _account(world)
    root = PoolFactory(organization=world.organization, cidr="10.0.0.0/8")
    for index in range(ROWS):
        resource = discovery.resource(account, f"10.{index}.0.0/16", resource_id=f"vpc-{index}")
        DriftFinding.objects.create(
            organization=world.organization,
            account=account,
            kind="unmanaged",
            severity="warning",
            key=f"unmanaged:resource:{resource.pk}",
            resource=resource,
            pool=root,
            message=f"{resource.cidr} is in the cloud but not planned.",
            suggestion={"action": "import_as_pool", "params": {}},
        )


def _agents(world: Any) -> None:
    for index in range(ROWS):
        discovery.agent(world.organization, name=f"dc-{index}")


def _plans(world: Any, source: str = "ai") -> None:
    Plan.objects.bulk_create(
        Plan(
            organization=world.organization,
            title=f"plan {index}",
            source=source,
            status="valid",
            operations=[],
            created_by=world.owner,
            source_detail={"filename": "pools.csv", "format": "csv", "rows": index},
        )
        for index in range(ROWS)
    )


def _templates(world: Any) -> None:
    OrganizationTemplate.objects.bulk_create(
        OrganizationTemplate(
            organization=world.organization,
            name=f"template {index}",
            template="flat",
            created_by=world.owner,
        )
        for index in range(ROWS)
    )


def _recommendations(world: Any) -> None:
    pools = _pools(world, count=3)
    Recommendation.objects.bulk_create(
        Recommendation(
            organization=world.organization,
            type="reclaim",
            severity="info",
            impact=index,
            title=f"Reclaim {index}",
            rationale="Unused.",
            change={"action": "review"},
            fingerprint=f"{index:064d}",
            pool=pools[index % 3],
        )
        for index in range(ROWS)
    )


def _members(world: Any) -> None:
    for index in range(ROWS):
        world.make_member(world.organization, Role.VIEWER, email=f"member-{index}@example.com")


def _tokens(world: Any) -> None:
    membership = Membership.objects.get(user=world.owner, organization=world.organization)
    for index in range(ROWS):
        tenancy_services.api_token_create(
            membership=membership, name=f"token {index}", scopes=["read"], actor=world.owner
        )


def _providers(world: Any) -> None:
    for index in range(ROWS):
        sso_services.identity_provider_create(
            organization=world.organization,
            actor=TEST_ACTOR,
            name=f"Provider {index}",
            issuer=f"https://idp{index}.example.com",
            client_id="cloudpam",
        )


def _llm_providers(world: Any) -> None:
    LLMProviderConfig.objects.bulk_create(
        LLMProviderConfig(
            organization=world.organization,
            name=f"provider {index}",
            provider="openai",
            model="gpt-test",
            priority=index,
            input_price=Decimal(1),
            output_price=Decimal(2),
        )
        for index in range(ROWS)
    )


def _sessions(world: Any) -> None:
    now = timezone.now()
    UserSession.objects.bulk_create(
        UserSession(
            user=world.owner,
            session_key_hash=f"{index:064d}",
            created_at=now,
            last_seen_at=now,
            device=f"device {index}",
        )
        for index in range(ROWS)
    )


# table key -> (URL, maker of more rows than the smallest page)
LISTS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "pools.pools": ("/pools/list/", _pools),
    "pools.deleted": ("/pools/list/?deleted=only", _deleted),
    "cloud.accounts": ("/accounts/", _accounts),
    "discovery.resources": ("/discovery/resources/", _resources),
    "discovery.runs": ("/discovery/runs/", _runs),
    "discovery.drift": ("/discovery/drift/?kind=unmanaged", _drift),
    "discovery.agents": ("/discovery/agents/", _agents),
    "planning.plans": ("/plans/", _plans),
    "planning.imports": ("/plans/imports/", lambda world: _plans(world, "import")),
    "planning.templates": ("/plans/templates/", _templates),
    "planning.llm_providers": ("/ai/providers/", _llm_providers),
    "analysis.findings": ("/analysis/compliance/", _public_roots),
    "analysis.recommendations": ("/recommendations/", _recommendations),
    "audit.events": ("/audit/", _pools),
    "tenancy.members": ("/organization/members/", _members),
    "tenancy.tokens": ("/organization/tokens/", _tokens),
    "tenancy.sso_providers": ("/organization/sso/", _providers),
    "tenancy.sessions": ("/account/sessions/", _sessions),
}


def test_every_table_is_walked():
    assert set(LISTS) == set(all_tables())


class World:
    def __init__(self, organization: Any, make_member: Any) -> None:
        self.organization = organization
        self.make_member = make_member
        self.owner = make_member(organization, Role.OWNER, email="owner-tables@example.com")


def _url(base: str, **params: Any) -> str:
    joined = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{base}{'&' if '?' in base else '?'}{joined}"


def _count(client: Client, url: str) -> tuple[int, str]:
    client.get(url)  # warm caches (the findings' analysis, the sessions' checks)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries), response.content.decode()


@pytest.mark.parametrize("key", sorted(LISTS))
def test_a_list_costs_the_same_queries_at_every_page_size_sort_and_column_set(
    key, organization, make_member, django_assert_num_queries
):
    url, make_rows = LISTS[key]
    table = all_tables()[key]
    world = World(organization, make_member)
    make_rows(world)
    client = Client()
    client.force_login(world.owner)
    sortable = [column.key for column in table.columns if column.sortable]
    small, html = _count(client, _url(url, per_page=25, sort=sortable[0]))
    assert "Page 1 of 2" in html, key
    assert small <= MAX_QUERIES, (key, small)
    TablePreference.objects.create(
        user=world.owner, table=key, columns=[column.key for column in table.columns], page_size=250
    )
    client.get(_url(url, sort=f"-{sortable[-1]}"))
    with django_assert_num_queries(small):
        response = client.get(_url(url, sort=f"-{sortable[-1]}"))
    html = response.content.decode()
    assert "Page 1 of 1" in html, key
    for column in table.columns:
        if column.key != "member" or key != "tenancy.tokens":
            assert re.search(rf">\s*{re.escape(column.label)}\s*<", html), (key, column.label)


@pytest.mark.parametrize("key", sorted(LISTS))
def test_every_list_exports_its_filtered_rows_or_links_to_its_own_export(
    key, organization, make_member
):
    url, make_rows = LISTS[key]
    table = all_tables()[key]
    world = World(organization, make_member)
    make_rows(world)
    client = Client()
    client.force_login(world.owner)
    response = client.get(_url(url, export="csv"))
    if key == "pools.pools":
        # The pool list hands over to the planning export (the import's columns).
        assert response.status_code == 302
        assert response["Location"].startswith("/api/v1/pools/export/?")
        assert client.get(response["Location"]).status_code == 200
        return
    if not table.exportable:
        # The deleted pools export nothing; audit events leave through the audit export.
        assert response.status_code == 200
        assert not response.streaming
        assert "This list exports as csv." in response.content.decode()
        return
    assert response.status_code == 200
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    total = client.get(url).context["table"].page.paginator.count
    assert len(lines) == total + 1, key
