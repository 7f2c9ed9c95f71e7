"""Template plans through the plan services: each template validates and applies."""

from __future__ import annotations

import pytest

from apps.planning import services as plan_services
from apps.planning.engine.templates import TEMPLATES
from apps.planning.template_services import (
    ipv6_seed,
    org_template_create,
    org_template_update,
    template_generate,
    template_params,
)
from apps.pools.models import Pool
from cloudpam.exceptions import NotFound, ValidationError
from tests.actors import TEST_ACTOR
from tests.pools.tree_check import tree_problems

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "dual-stack"])
@pytest.mark.parametrize("key", list(TEMPLATES))
def test_each_template_validates_and_applies(organization, key, ipv6):
    organization.quotas = {"max_pools": 100_000}
    organization.save()
    plan = template_generate(
        organization=organization, actor=TEST_ACTOR, key=key, params={"ipv6": ipv6}
    )
    assert plan.status == "valid", plan.validation
    plan = plan_services.plan_apply(plan=plan, actor=TEST_ACTOR)
    assert plan.status == "applied"
    pools = Pool.objects.for_organization(organization).live()
    assert pools.count() == plan.operation_count
    assert set(pools.values_list("source", flat=True)) == {"template"}
    assert set(pools.values_list("family", flat=True)) == ({4, 6} if ipv6 else {4})
    assert tree_problems() == ([], [], [], [], [])


def test_the_same_parameters_give_the_same_operations(organization):
    first = template_generate(
        organization=organization, actor=TEST_ACTOR, key="hybrid", params={"ipv6": True}
    )
    second = template_generate(
        organization=organization, actor=TEST_ACTOR, key="hybrid", params={"ipv6": True}
    )
    assert first.operations == second.operations
    assert first.source_detail["params"] == second.source_detail["params"]


def test_the_derived_ula_is_the_organizations(organization, other_organization):
    mine = template_generate(
        organization=organization, actor=TEST_ACTOR, key="flat", params={"ipv6": True}
    )
    theirs = template_generate(
        organization=other_organization, actor=TEST_ACTOR, key="flat", params={"ipv6": True}
    )
    assert mine.source_detail["ipv6_supernet"] != theirs.source_detail["ipv6_supernet"]
    assert mine.source_detail["ipv6_supernet"].startswith("fd")
    assert ipv6_seed(organization) == f"cloudpam-organization-{organization.pk}"


def test_saved_params_are_the_base_and_overrides_win(organization):
    saved = org_template_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="Offices",
        template="flat",
        params={"supernet": "10.20.0.0/16", "tiers": [{"name": "o", "prefix_length": 24}]},
        naming={"subnet": "office-{index}"},
    )
    template, merged, found = template_params(
        organization=organization,
        key=saved.key,
        overrides={"headroom": 10, "naming": {"supernet": "x"}},
    )
    assert (template, found) == ("flat", saved)
    assert merged["headroom"] == 10
    assert merged["naming"] == {"subnet": "office-{index}", "supernet": "x"}
    with pytest.raises(NotFound):
        template_params(organization=organization, key="org-999999")


def test_a_saved_template_keeps_the_pool_it_takes_a_block_from(organization):
    saved = org_template_create(
        organization=organization,
        actor=TEST_ACTOR,
        name="From pool",
        template="flat",
        params={
            "supernet_pool": 5,
            "supernet_prefix_length": 20,
            "tiers": [{"name": "o", "prefix_length": 24}],
        },
    )
    assert saved.params["supernet_pool"] == 5
    assert "supernet" not in saved.params
    with pytest.raises(ValidationError) as caught:
        org_template_update(
            org_template=saved,
            actor=TEST_ACTOR,
            params={**saved.params, "supernet": "10.0.0.0/8", "supernet_prefix_length": 99},
        )
    assert caught.value.fields == {
        "params.supernet_prefix_length": ["A prefix length from 1 to 30 is required."],
        "params.supernet": ["Give supernet or supernet_pool, not both."],
    }
    with pytest.raises(NotFound) as missing:
        template_generate(organization=organization, actor=TEST_ACTOR, key=saved.key)
    assert missing.value.fields == {
        "params.supernet_pool": ["No pool with id 5 in this organization."]
    }
