"""The schema wizard's pure generator (``apps.planning.engine.templates``)."""

from __future__ import annotations

import ast
import itertools
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.planning.engine import templates, validate_operations
from apps.planning.engine.templates import (
    TEMPLATES,
    TemplateError,
    derive_ula,
    generate,
    hosts_to_prefix_length,
    params_to_json,
    parse_params,
    render_tree,
)
from apps.pools import cidr
from apps.pools.changes import PoolCreate, check_changes


def as_changes(operations):
    """Return the operations as the pool batch's changes, as the plan engine converts them."""
    return [
        PoolCreate(
            ref=op["ref"],
            name=op["name"],
            cidr=op["cidr"],
            parent=op["parent"],
            type=op["type"],
            status=op["status"],
            description=op["description"],
            tags=op["tags"],
            source="template",
        )
        for op in operations
    ]


def plan_of(key, **overrides):
    return generate(parse_params(key, {**TEMPLATES[key].example, **overrides}), ipv6_seed="org-7")


def tree_checks(operations, headroom):
    """Assert alignment, containment, disjoint siblings and headroom over a generated plan."""
    by_ref = {op["ref"]: op for op in operations}
    children: dict[str, list[cidr.Prefix]] = {}
    for op in operations:
        prefix = cidr.parse_prefix(op["cidr"])  # raises on host bits: every block is aligned
        parent = op["parent"]
        if isinstance(parent, str):
            outer = cidr.parse_prefix(by_ref[parent]["cidr"])
            assert outer.contains(prefix), (op, outer)
            assert prefix.length > outer.length, (op, outer)
            children.setdefault(parent, []).append(prefix)
    for parent_ref, kids in children.items():
        kids.sort()
        for left, right in itertools.pairwise(kids):
            assert left.last < right.first, (parent_ref, left, right)
        outer = cidr.parse_prefix(by_ref[parent_ref]["cidr"])
        used = sum(kid.size for kid in kids)
        fixed_v6 = outer.family == 6 and outer.length == 56
        if not fixed_v6:
            assert used * 100 <= outer.size * (100 - headroom), (parent_ref, used, outer)


def test_the_generator_imports_only_the_standard_library_and_the_cidr_engine():
    tree = ast.parse(Path(templates.__file__).read_text(encoding="utf-8"))
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    outside = {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names}
    assert outside <= {"__future__", "apps.pools"}, outside


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "dual-stack"])
@pytest.mark.parametrize("key", list(TEMPLATES))
def test_each_template_generates_a_plan_the_batch_checks_accept(key, ipv6):
    plan = plan_of(key, ipv6=ipv6)
    assert check_changes(as_changes(plan.operations)) == []
    assert validate_operations(list(plan.operations), source="template").errors == ()
    tree_checks(plan.operations, TEMPLATES[key].example["headroom"])
    families = {cidr.parse_prefix(op["cidr"]).family for op in plan.operations}
    assert families == ({4, 6} if ipv6 else {4})
    assert plan.operations[0]["parent"] is None
    assert plan.operations[0]["type"] == "supernet"
    assert all(op["op"] == "create" for op in plan.operations)
    assert all(op["tags"]["template"] == key for op in plan.operations)
    assert plan.title == f"{TEMPLATES[key].label} template v1: {TEMPLATES[key].example['supernet']}"


def test_the_regional_plan_is_laid_out_largest_first_with_the_headroom_at_the_end():
    plan = plan_of("regional")
    first = {op["name"]: op["cidr"] for op in plan.operations}
    assert first["Regional 10.0.0.0/8"] == "10.0.0.0/8"
    assert first["us-east-1"] == "10.0.0.0/15"
    assert first["eu-west-1"] == "10.2.0.0/15"
    assert first["us-east-1-prod"] == "10.0.0.0/17"
    assert first["us-east-1-prod-vpc1"] == "10.0.0.0/18"
    # 4,000 hosts plus AWS's 5 reserved addresses: a /20, placed before the /24s and /26s.
    assert first["us-east-1-prod-private-1"] == "10.0.0.0/20"
    assert first["us-east-1-prod-private-2"] == "10.0.16.0/20"
    assert first["us-east-1-prod-public-1"] == "10.0.32.0/24"
    assert first["us-east-1-prod-data-2"] == "10.0.34.64/26"
    assert plan.counts == {"supernet": 1, "region": 2, "environment": 6, "vpc": 6, "subnet": 36}
    subnet = next(op for op in plan.operations if op["name"] == "us-east-1-prod-private-1")
    assert subnet["description"] == (
        "private tier: 4,091 usable addresses of 4,096 (5 reserved by AWS), sized for 4,000 hosts"
    )
    assert subnet["status"] == "planned"
    assert subnet["tags"] == {
        "template": "regional",
        "template_version": "1",
        "level": "subnet",
        "tier": "private",
    }


@pytest.mark.parametrize("key", list(TEMPLATES))
def test_same_parameters_give_the_same_plan(key):
    assert plan_of(key, ipv6=True) == plan_of(key, ipv6=True)


def test_params_round_trip_through_json():
    for key, spec in TEMPLATES.items():
        params = parse_params(key, dict(spec.example))
        assert parse_params(key, params_to_json(params)) == params


def test_hosts_become_the_smallest_prefix_with_room_for_the_reserved_addresses():
    assert hosts_to_prefix_length(4000, 5) == 20
    assert hosts_to_prefix_length(4091, 5) == 20
    assert hosts_to_prefix_length(4092, 5) == 19
    assert hosts_to_prefix_length(254, 2) == 24
    assert hosts_to_prefix_length(1, 4) == 29


def test_a_supernet_too_small_names_what_it_needs_and_by_how_much():
    with pytest.raises(TemplateError) as caught:
        plan_of("regional", supernet="10.0.0.0/16")
    assert caught.value.errors == {
        "supernet": [
            "The plan needs a /13 with 25% headroom, the supernet 10.0.0.0/16 is a /16: 8 times "
            "too small (its largest block, the region us-east-1, is a /15)."
        ]
    }


def test_a_flat_plan_without_headroom_fills_its_parent_exactly():
    plan = plan_of(
        "flat", supernet="10.20.0.0/20", tiers=[{"name": "s", "prefix_length": 24, "count": 16}]
    )
    assert [op["cidr"] for op in plan.operations[1:3]] == ["10.20.0.0/24", "10.20.1.0/24"]
    assert plan.operations[-1]["cidr"] == "10.20.15.0/24"
    assert plan.used_percent == "100.00"
    with pytest.raises(TemplateError) as caught:
        plan_of(
            "flat", supernet="10.20.0.0/20", tiers=[{"name": "s", "prefix_length": 24, "count": 17}]
        )
    assert caught.value.message.startswith(
        "supernet: The plan needs a /19, the supernet 10.20.0.0/20 is a /20: 2 times too small"
    )


def test_a_single_child_lies_strictly_inside_its_parent():
    plan = plan_of("flat", supernet="10.0.0.0/24", tiers=[{"name": "s", "prefix_length": 25}])
    assert [op["cidr"] for op in plan.operations] == ["10.0.0.0/24", "10.0.0.0/25"]
    with pytest.raises(TemplateError, match=r"needs a /23, the supernet 10\.0\.0\.0/24"):
        plan_of("flat", supernet="10.0.0.0/24", tiers=[{"name": "s", "prefix_length": 24}])


def test_cloud_native_follows_each_providers_limits():
    plan = plan_of("cloud_native")
    by_name = {op["name"]: op for op in plan.operations}
    # One /26 tier with GCP's 4 reserved addresses, and a VPC of at least /28 for AWS.
    assert by_name["analytics-us-central1-prod-data-1"]["description"].startswith(
        "data tier: 60 usable addresses of 64 (4 reserved by GCP)"
    )
    assert by_name["shared-us-east-1-prod"]["type"] == "vpc"
    assert by_name["shared-us-east-1-prod"]["tags"]["provider"] == "aws"
    with pytest.raises(TemplateError) as caught:
        plan_of("cloud_native", tiers=[{"name": "tiny", "prefix_length": 29}])
    assert caught.value.errors == {
        "tiers[0].prefix_length": [
            "AWS allows subnets from /16 to /28; the tier 'tiny' asks for /29."
        ]
    }
    with pytest.raises(TemplateError) as caught:
        plan_of("cloud_native", supernet="10.0.0.0/8", tiers=[{"name": "big", "hosts": 60000}])
    assert caught.value.errors == {
        "tiers": [
            "The vpc aws/shared/us-east-1/prod needs a /15; AWS allows a VPC from /16 to /28."
        ]
    }
    small = plan_of(
        "cloud_native",
        providers=[{"provider": "aws", "accounts": ["a"], "regions": ["r"]}],
        environments=["prod"],
        tiers=[{"name": "t", "hosts": 3}],
        headroom=0,
    )
    vpc = next(op for op in small.operations if op["type"] == "vpc")
    subnet = next(op for op in small.operations if op["type"] == "subnet")
    assert cidr.parse_prefix(subnet["cidr"]).length == 28  # 3 hosts get AWS's smallest subnet
    assert cidr.parse_prefix(vpc["cidr"]).length == 27


def test_hybrid_keeps_a_reserved_transit_block_and_sites_beside_the_clouds():
    plan = plan_of("hybrid", ipv6=True)
    transit = [op for op in plan.operations if op["type"] == "reserved"]
    assert [(op["name"], op["status"], op["cidr"][-3:]) for op in transit] == [
        ("transit", "reserved", "/22")
    ]
    assert {op["name"] for op in plan.operations if op["tags"]["level"] == "site"} == {
        "fra-dc1",
        "nyc-dc2",
        "fra-dc1-v6",
        "nyc-dc2-v6",
    }
    voice = next(op for op in plan.operations if op["name"] == "fra-dc1-voice-1")
    assert voice["cidr"].endswith("/23")  # 500 hosts + network and broadcast
    assert "(2 reserved by On-premises)" in voice["description"]


def test_dual_stack_gives_a_56_per_network_and_a_64_per_subnet_from_a_ula():
    plan = plan_of("regional", ipv6=True)
    v6 = [op for op in plan.operations if ":" in op["cidr"]]
    assert v6[0]["cidr"] == str(derive_ula("org-7"))
    assert v6[0]["name"] == "Regional 10.0.0.0/8 (IPv6)"
    assert {op["cidr"].split("/")[1] for op in v6 if op["type"] == "vpc"} == {"56"}
    assert {op["cidr"].split("/")[1] for op in v6 if op["type"] == "subnet"} == {"64"}
    assert plan.ipv6_supernet == v6[0]["cidr"]
    given = plan_of("regional", ipv6=True, ipv6_prefix="fd00:1:2::/48", ipv6_parent=12)
    first_v6 = next(op for op in given.operations if ":" in op["cidr"])
    assert (first_v6["cidr"], first_v6["parent"]) == ("fd00:1:2::/48", 12)


def test_the_derived_ula_is_a_stable_fd_48():
    ula = derive_ula("organization-1")
    assert ula == derive_ula("organization-1") != derive_ula("organization-2")
    assert (ula.family, ula.length) == (6, 48)
    assert ula.first >> 120 == 0xFD
    assert str(ula) == "fdf5:bae7:7f81::/48"  # fd + sha256("organization-1")[:5]


def test_a_dual_stack_without_a_prefix_or_an_organization_is_an_error():
    params = parse_params("flat", {**TEMPLATES["flat"].example, "ipv6": True})
    with pytest.raises(TemplateError) as caught:
        generate(params)
    assert caught.value.errors == {"ipv6_prefix": ["Give an IPv6 /48 for the dual stack."]}


def test_too_many_ipv6_subnets_in_a_56_is_an_error():
    hierarchical = parse_params(
        "hierarchical",
        {
            **TEMPLATES["hierarchical"].example,
            "ipv6": True,
            "tiers": [
                {"name": "a", "prefix_length": 28, "count": 200},
                {"name": "b", "prefix_length": 28, "count": 100},
            ],
        },
    )
    with pytest.raises(TemplateError) as caught:
        generate(hierarchical, ipv6_seed="x")
    assert caught.value.errors == {
        "tiers": ["finance/prod has 300 subnets; a /56 holds at most 256 /64 subnets."]
    }


def test_naming_patterns_use_the_placeholders_of_their_level():
    plan = plan_of("regional", naming={"subnet": "{env}.{region}.{tier}{index}", "vpc": "v{index}"})
    names = [op["name"] for op in plan.operations]
    assert "prod.us-east-1.private1" in names
    assert "v1" in names
    plain = plan_of("flat", naming="net-{index}")
    assert [op["name"] for op in plain.operations[1:3]] == ["net-1", "net-2"]


def test_bad_parameters_are_all_named():
    with pytest.raises(TemplateError) as caught:
        parse_params(
            "regional",
            {
                "supernet": "10.0.0.1/8",
                "regions": ["a", "a"],
                "environments": [],
                "tiers": [
                    {"name": "x", "prefix_length": 24, "hosts": 10},
                    {"name": "y", "hosts": 0},
                ],
                "headroom": 95,
                "naming": {"subnet": "{zone}", "vpc": "{unit}", "galaxy": "x", "region": "{0}"},
                "colour": "blue",
                "provider": "ibm",
                "ipv6_prefix": "10.0.0.0/8",
            },
        )
    assert caught.value.errors == {
        "colour": ["Unknown parameter."],
        "supernet": ["10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"],
        "provider": ["One of aws, azure, gcp, onprem is required."],
        "ipv6_prefix": ["An IPv6 prefix such as fd12:3456:789a::/48 is required."],
        "regions[1]": ["'a' is listed twice."],
        "environments": ["At least one name is required."],
        "tiers[0].prefix_length": ["Give either prefix_length or hosts."],
        "tiers[1].hosts": ["A host count from 1 to 2147483648 is required."],
        "headroom": ["A whole number from 0 to 90 is required."],
        "naming.subnet": [
            "Unknown placeholder {zone}; the placeholders are {region}, {env}, {tier}, {unit}, "
            "{site}, {provider}, {account}, {index}."
        ],
        "naming.vpc": [
            "{unit} has no value at the vpc level of the Regional template; use {region}, {env}, "
            "{index}."
        ],
        "naming.galaxy": [
            "The Regional template has no level 'galaxy'; its levels are region, environment, "
            "vpc, subnet."
        ],
        "naming.region": ["'{0}' is not a plain placeholder such as {region}."],
    }
    assert caught.value.message == "colour: Unknown parameter."


def test_an_unknown_template_or_a_non_object_is_an_error():
    with pytest.raises(TemplateError, match="No template 'mesh'; the templates are regional"):
        parse_params("mesh", {})
    with pytest.raises(TemplateError, match=r"params: A JSON object of parameters is required\."):
        parse_params("flat", ["10.0.0.0/8"])


def test_more_pools_than_a_plan_holds_is_an_error():
    with pytest.raises(TemplateError) as caught:
        plan_of(
            "regional",
            regions=[f"r{i}" for i in range(40)],
            environments=[f"e{i}" for i in range(40)],
            tiers=[{"name": "t", "prefix_length": 28, "count": 20}],
        )
    assert caught.value.errors == {
        "params": [
            "These parameters make more than 20,000 pools; a plan holds at most 20,000. Use "
            "fewer regions, environments, tiers or counts."
        ]
    }


def test_a_name_the_pattern_makes_too_long_is_an_error():
    with pytest.raises(TemplateError, match=r"naming.subnet: The pattern makes the name"):
        plan_of(
            "flat",
            naming="x" * 240 + "{tier}{index}",
            tiers=[{"name": "t" * 20, "prefix_length": 24}],
        )


def test_the_tree_preview_draws_the_hierarchy():
    plan = plan_of("flat", tiers=[{"name": "s", "prefix_length": 24, "count": 2}])
    assert render_tree(plan.operations) == (
        "10.20.0.0/16  Flat 10.20.0.0/16 [supernet]\n"
        "├── 10.20.0.0/24  s-1 [subnet]\n"
        "└── 10.20.1.0/24  s-2 [subnet]"
    )
    assert render_tree(plan_of("regional").operations, limit=3).endswith("... 48 more pools")


names = st.lists(
    st.text(alphabet="abcdefghij", min_size=1, max_size=4), min_size=1, max_size=3, unique=True
)
tiers = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["web", "app", "db", "mgmt", "edge"]),
            "prefix_length": st.integers(20, 29),
            "count": st.integers(1, 3),
        }
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda tier: tier["name"],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(["regional", "hierarchical", "flat", "hybrid"]),
    regions=names,
    environments=names,
    tier_list=tiers,
    headroom=st.integers(0, 60),
    vpcs=st.integers(1, 3),
    ipv6=st.booleans(),
)
def test_generated_blocks_are_aligned_nested_disjoint_and_leave_the_headroom(
    key, regions, environments, tier_list, headroom, vpcs, ipv6
):
    data = {
        "supernet": "10.0.0.0/8",
        "regions": regions,
        "environments": environments,
        "units": regions,
        "sites": environments,
        "tiers": tier_list,
        "site_tiers": tier_list,
        "vpcs": vpcs,
        "headroom": headroom,
        "ipv6": ipv6,
    }
    params = parse_params(key, {k: v for k, v in data.items() if k in TEMPLATES[key].params})
    try:
        plan = generate(params, ipv6_seed="seed")
    except TemplateError as exc:
        failed_on = set(exc.errors)
        plan = None
    if plan is None:
        # Only a supernet or a /48 too small, or a /56 too full, may stop a plan of sane
        # parameters.
        assert failed_on <= {"supernet", "ipv6_prefix", "tiers"}
        return
    tree_checks(plan.operations, headroom)
    assert check_changes(as_changes(plan.operations)) == []
    assert generate(params, ipv6_seed="seed") == plan
