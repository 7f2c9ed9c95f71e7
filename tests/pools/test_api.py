"""The pool API: every call of SPEC.md section 2, its filters, its errors and its query counts."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.pools import services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.pools.bulk import bulk_children

pytestmark = pytest.mark.django_db

LIST = "/api/v1/pools/"


def detail(pool: Pool, suffix: str = "") -> str:
    return f"/api/v1/pools/{pool.pk}/{suffix}"


def error(response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


def results(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["cidr"] for item in response.json()["results"]]


@pytest.fixture
def plan(organization, make_pool):
    """A small plan: IPv4 and IPv6 roots with children, one deleted pool, tags."""
    corp = make_pool("10.0.0.0/8", name="corp", type="supernet")
    us = make_pool("10.0.0.0/12", parent=corp, name="us-east", type="region", tags={"cloud": "aws"})
    eu = make_pool("10.16.0.0/12", parent=corp, name="eu-west", type="region", status="planned")
    vpc = make_pool("10.1.0.0/16", parent=us, name="prod vpc", type="vpc", description="payments")
    subnet = make_pool("10.1.2.0/24", parent=vpc, name="web", type="subnet")
    gone = make_pool("10.1.3.0/24", parent=vpc, name="gone", type="subnet")
    services.pool_delete(actor=TEST_ACTOR, pool=gone)
    v6 = make_pool("2001:db8::/32", name="v6", type="supernet", tags={"cloud": "gcp"})
    v6_vpc = make_pool("2001:db8:1::/48", parent=v6, name="v6 vpc", type="vpc")
    return {
        "corp": corp,
        "us": us,
        "eu": eu,
        "vpc": vpc,
        "subnet": subnet,
        "gone": gone,
        "v6": v6,
        "v6_vpc": v6_vpc,
    }


# Listing and filters


def test_list_in_address_order_with_utilization(owner_client, plan):
    response = owner_client.get(LIST)
    body = response.json()
    assert body["count"] == 7
    assert [item["cidr"] for item in body["results"]] == [
        "10.0.0.0/8",
        "10.0.0.0/12",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.16.0.0/12",
        "2001:db8::/32",
        "2001:db8:1::/48",
    ]
    corp, _us, vpc, *_rest, v6, _v6_vpc = body["results"]
    assert corp["utilization"] == {
        "total": "16777216",
        "used": "2097152",
        "free": "14680064",
        "percent": 12.5,
    }
    assert corp["children_count"] == 2
    assert vpc["utilization"] == {"total": "65536", "used": "256", "free": "65280", "percent": 0.39}
    assert v6["utilization"] == {
        "total": str(2**96),
        "used": str(2**80),
        "free": str(2**96 - 2**80),
        "percent": 0.0,
    }
    assert set(corp) == {
        "id",
        "name",
        "cidr",
        "family",
        "prefix_length",
        "parent",
        "type",
        "status",
        "description",
        "tags",
        "source",
        "depth",
        "path",
        "children_count",
        "utilization",
        "created_by",
        "created_at",
        "updated_at",
        "deleted_at",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("parent=null", ["10.0.0.0/8", "2001:db8::/32"]),
        ("type=region", ["10.0.0.0/12", "10.16.0.0/12"]),
        ("status=planned", ["10.16.0.0/12"]),
        ("family=6", ["2001:db8::/32", "2001:db8:1::/48"]),
        ("source=manual&family=6", ["2001:db8::/32", "2001:db8:1::/48"]),
        ("source=imported", []),
        ("q=payments", ["10.1.0.0/16"]),
        ("q=VPC", ["10.1.0.0/16", "2001:db8:1::/48"]),
        ("q=10.1.", ["10.1.0.0/16", "10.1.2.0/24"]),
        ("q=10.1", ["10.1.0.0/16", "10.1.2.0/24", "10.16.0.0/12"]),
        ("cidr=10.1.0.0/16", ["10.1.0.0/16"]),
        ("cidr=2001:DB8::/32", ["2001:db8::/32"]),
        ("contains=10.1.2.3", ["10.0.0.0/8", "10.0.0.0/12", "10.1.0.0/16", "10.1.2.0/24"]),
        ("contains=10.1.0.0/16", ["10.0.0.0/8", "10.0.0.0/12", "10.1.0.0/16"]),
        ("contains=2001:db8:1::1", ["2001:db8::/32", "2001:db8:1::/48"]),
        ("contains=192.168.0.1", []),
        ("within=10.0.0.0/12", ["10.0.0.0/12", "10.1.0.0/16", "10.1.2.0/24"]),
        ("within=2001:db8::/33", ["2001:db8:1::/48"]),
        ("tag=cloud:aws", ["10.0.0.0/12"]),
        ("tag=cloud:", []),
        (
            "ordering=-cidr&family=4",
            ["10.16.0.0/12", "10.1.2.0/24", "10.1.0.0/16", "10.0.0.0/12", "10.0.0.0/8"],
        ),
        ("ordering=name&parent=null", ["10.0.0.0/8", "2001:db8::/32"]),
    ],
)
def test_list_filters(owner_client, plan, query, expected):
    assert results(owner_client.get(f"{LIST}?{query}")) == expected


def test_list_filters_by_parent_root_and_deleted(owner_client, plan):
    vpc = plan["vpc"].pk
    assert results(owner_client.get(f"{LIST}?parent={vpc}")) == ["10.1.2.0/24"]
    assert results(owner_client.get(f"{LIST}?parent={vpc}&include_deleted=true")) == [
        "10.1.2.0/24",
        "10.1.3.0/24",
    ]
    assert results(owner_client.get(f"{LIST}?parent={vpc}&include_deleted=0")) == ["10.1.2.0/24"]
    assert results(owner_client.get(f"{LIST}?root={plan['us'].pk}")) == [
        "10.0.0.0/12",
        "10.1.0.0/16",
        "10.1.2.0/24",
    ]
    assert results(owner_client.get(f"{LIST}?root=999999")) == []


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("parent=abc", "parent", "Enter a pool id or null."),
        ("root=abc", "root", "Enter a number."),
        ("root=0", "root", "Ensure this value is greater than or equal to 1."),
        (
            "type=galaxy",
            "type",
            "Select a valid choice. galaxy is not one of the available choices.",
        ),
        ("family=5", "family", "Select a valid choice. 5 is not one of the available choices."),
        ("cidr=10.0.0.1/8", "cidr", "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"),
        ("cidr=10.0.0.0", "cidr", "'10.0.0.0' has no prefix length; write it as 10.0.0.0/32."),
        ("contains=nope", "contains", "'nope' is not a valid IPv4 or IPv6 address"),
        (
            "within=10.0.0.0/99",
            "within",
            "'10.0.0.0/99' is not a valid IPv4 or IPv6 prefix: "
            "the prefix length must be between 0 and 32",
        ),
        ("tag=novalue", "tag", "Write a tag as key:value."),
        ("include_deleted=maybe", "include_deleted", "Must be true or false."),
        (
            "ordering=size",
            "ordering",
            "Select a valid choice. size is not one of the available choices.",
        ),
    ],
)
def test_bad_filters_are_400(owner_client, plan, query, field, message):
    response = owner_client.get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["fields"] == {field: [message]}


def test_list_runs_a_fixed_number_of_queries(
    owner_client, organization, root, django_assert_max_num_queries
):
    parents = [
        services.pool_create(
            actor=TEST_ACTOR,
            organization=organization,
            name=f"p{n}",
            cidr=f"10.{n}.0.0/16",
            parent=root,
        )
        for n in range(60)
    ]
    for parent in parents[:5]:
        services.pool_allocate(actor=TEST_ACTOR, parent=parent, prefix_length=24, name="c")
    owner_client.get(LIST)  # warm the session and membership caches of the client
    with django_assert_max_num_queries(6) as small:
        assert owner_client.get(f"{LIST}?limit=5").status_code == 200
    # Session, user, membership; count, page, utilization.
    assert len(small.captured_queries) == 6
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = owner_client.get(f"{LIST}?limit=100")
    assert len(response.json()["results"]) == 66
    # The children of a pool: the same plus the pool itself.
    with django_assert_max_num_queries(7) as few:
        assert owner_client.get(f"{detail(root, 'children/')}?limit=2").status_code == 200
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert owner_client.get(f"{detail(root, 'children/')}?limit=60").status_code == 200
    # The tree pages each level: session, user, membership, the roots' count, then a page
    # and its utilization per level (three here), however many pools a level holds.
    with django_assert_max_num_queries(4 + 2 * 3):
        assert owner_client.get("/api/v1/pools/tree/").status_code == 200


# Create


def test_create_root_and_child(owner_client, organization):
    response = owner_client.post(
        LIST,
        {"name": "corp", "cidr": "10.0.0.0/8", "type": "supernet", "tags": {"a": "b"}},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["cidr"], body["family"], body["parent"], body["depth"]) == (
        "10.0.0.0/8",
        4,
        None,
        1,
    )
    assert (body["type"], body["status"], body["source"], body["tags"]) == (
        "supernet",
        "active",
        "manual",
        {"a": "b"},
    )
    assert body["created_by"] == owner_client.user.pk
    child = owner_client.post(
        LIST, {"name": "a", "cidr": "10.1.0.0/16", "parent": body["id"]}, format="json"
    )
    assert child.status_code == 201
    assert child.json()["parent"] == body["id"]
    assert child.json()["path"].startswith(body["path"])


@pytest.mark.parametrize(
    ("payload", "status", "code", "fields"),
    [
        (
            {},
            400,
            "validation_error",
            {"name": ["This field is required."], "cidr": ["This field is required."]},
        ),
        (
            {"name": "x", "cidr": "garbage"},
            400,
            "validation_error",
            {"cidr": ["'garbage' is not a valid IPv4 or IPv6 prefix"]},
        ),
        (
            {"name": "x", "cidr": "10.0.0.1/16"},
            400,
            "validation_error",
            {"cidr": ["10.0.0.1/16 has host bits set; did you mean 10.0.0.0/16?"]},
        ),
        (
            {"name": 5, "cidr": "10.0.0.0/8"},
            400,
            "validation_error",
            {"name": ["Not a valid string."]},
        ),
        (
            {"name": "", "cidr": "10.0.0.0/8"},
            400,
            "validation_error",
            {"name": ["This field may not be blank."]},
        ),
        (
            {"name": "x", "cidr": "10.0.0.0/8", "parent": "1"},
            400,
            "validation_error",
            {"parent": ["A valid integer is required."]},
        ),
        (
            {"name": "x", "cidr": "10.0.0.0/8", "type": "galaxy"},
            400,
            "validation_error",
            {"type": ['"galaxy" is not a valid choice.']},
        ),
        (
            {"name": "x", "cidr": "10.0.0.0/8", "tags": {"a": 1}},
            400,
            "validation_error",
            {"tags.a": ["Not a valid string."]},
        ),
        (
            {"name": "x", "cidr": "10.0.0.0/8", "tags": ["a"]},
            400,
            "validation_error",
            {"tags": ['Expected a dictionary of items but got type "list".']},
        ),
    ],
)
def test_create_bad_input_writes_nothing(owner_client, payload, status, code, fields):
    response = owner_client.post(LIST, payload, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["fields"] == fields
    assert Pool.objects.count() == 0


def test_create_invariant_errors(owner_client, organization, root, make_pool, other_organization):
    make_pool("10.0.0.0/16", parent=root, name="taken")
    cases = [
        ({"cidr": "10.0.1.0/24", "parent": root.pk}, 409, "overlap"),
        ({"cidr": "11.0.0.0/16", "parent": root.pk}, 400, "outside_parent"),
        ({"cidr": "2001:db8::/48", "parent": root.pk}, 400, "outside_parent"),
        ({"cidr": "10.0.0.0/8", "parent": root.pk}, 400, "outside_parent"),
        ({"cidr": "10.128.0.0/9"}, 409, "overlap"),
    ]
    for payload, status, code in cases:
        response = owner_client.post(LIST, {"name": "x", **payload}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), payload
    foreign = services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="f", cidr="10.0.0.0/8"
    )
    response = owner_client.post(
        LIST, {"name": "x", "cidr": "10.1.0.0/16", "parent": foreign.pk}, format="json"
    )
    assert error(response) == (
        404,
        "not_found",
        f"No pool with id {foreign.pk} in this organization.",
    )
    assert response.json()["error"]["fields"] == {
        "parent": [f"No pool with id {foreign.pk} in this organization."]
    }
    assert sorted(Pool.objects.for_organization(organization).values_list("cidr", flat=True)) == [
        "10.0.0.0/16",
        "10.0.0.0/8",
    ]


def test_huge_and_malformed_json_are_400_and_write_nothing(owner_client, settings):
    huge = json.dumps({"name": "x" * (3 * 1024 * 1024), "cidr": "10.0.0.0/8"})
    response = owner_client.post(LIST, huge, content_type="application/json")
    assert error(response)[:2] == (400, "validation_error")
    response = owner_client.post(LIST, "{not json", content_type="application/json")
    assert error(response)[:2] == (400, "validation_error")
    response = owner_client.post(LIST, "[]", content_type="application/json")
    assert error(response)[:2] == (400, "validation_error")
    assert Pool.objects.count() == 0


# Read, update, move, delete, restore


def test_retrieve_update_and_move(owner_client, organization, make_pool):
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    a = make_pool("10.0.0.0/8", name="vrf-a")
    b = make_pool("10.0.0.0/8", name="vrf-b")
    vpc = make_pool("10.1.0.0/16", parent=a, name="vpc")
    response = owner_client.get(detail(vpc))
    assert response.json()["parent"] == a.pk
    response = owner_client.patch(
        detail(vpc), {"name": "renamed", "status": "deprecated", "tags": {"x": "y"}}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["status"], response.json()["tags"]) == (
        "renamed",
        "deprecated",
        {"x": "y"},
    )
    response = owner_client.patch(detail(vpc), {"parent": b.pk}, format="json")
    assert (response.json()["parent"], response.json()["depth"]) == (b.pk, 2)
    response = owner_client.patch(detail(vpc), {"parent": None}, format="json")
    assert (response.json()["parent"], response.json()["depth"]) == (None, 1)
    response = owner_client.patch(detail(vpc), {"cidr": "10.2.0.0/15"}, format="json")
    assert response.json()["cidr"] == "10.2.0.0/15"
    response = owner_client.patch(detail(vpc), {"cidr": "10.2.0.1/15"}, format="json")
    assert error(response) == (
        400,
        "validation_error",
        "10.2.0.1/15 has host bits set; did you mean 10.2.0.0/15?",
    )


def test_update_invariant_errors_write_nothing(owner_client, root, make_pool):
    a = make_pool("10.0.0.0/16", parent=root, name="a")
    b = make_pool("10.1.0.0/16", parent=root, name="b")
    make_pool("10.1.128.0/24", parent=b, name="kid")
    assert error(owner_client.patch(detail(b), {"cidr": "10.0.0.0/15"}, format="json"))[:2] == (
        409,
        "overlap",
    )
    assert error(owner_client.patch(detail(b), {"cidr": "10.1.0.0/17"}, format="json"))[:2] == (
        409,
        "conflict",
    )
    assert error(owner_client.patch(detail(b), {"cidr": "11.1.0.0/16"}, format="json"))[:2] == (
        400,
        "outside_parent",
    )
    assert error(owner_client.patch(detail(a), {"parent": a.pk}, format="json"))[:2] == (
        400,
        "validation_error",
    )
    assert error(owner_client.patch(detail(a), {"parent": 10**15}, format="json"))[:2] == (
        404,
        "not_found",
    )
    assert error(owner_client.patch(detail(a), {"parent": None}, format="json"))[:2] == (
        409,
        "overlap",
    )
    b.refresh_from_db()
    a.refresh_from_db()
    assert (a.cidr, a.parent_id, b.cidr) == ("10.0.0.0/16", root.pk, "10.1.0.0/16")


def test_delete_restore_and_purge(client_for, owner_client, organization, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root, name="vpc")
    make_pool("10.0.0.0/24", parent=vpc)
    response = owner_client.delete(detail(vpc))
    assert error(response)[:2] == (409, "conflict")
    assert response.json()["error"]["message"].endswith(
        "has 1 live child; delete them first or delete recursively."
    )
    assert owner_client.delete(f"{detail(vpc)}?recursive=maybe").status_code == 400
    assert owner_client.delete(f"{detail(vpc)}?recursive=true").status_code == 204
    assert owner_client.delete(f"{detail(vpc)}?recursive=true").status_code == 204
    assert owner_client.get(detail(vpc)).json()["deleted_at"] is not None
    assert results(owner_client.get(LIST)) == ["10.0.0.0/8"]
    restored = owner_client.post(detail(vpc, "restore/"))
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert restored.json()["children_count"] == 1
    owner_client.delete(f"{detail(vpc)}?recursive=true")
    operator = client_for(organization, Role.OPERATOR)
    response = operator.delete(f"{detail(vpc)}?purge=true")
    assert error(response) == (
        403,
        "permission_denied",
        "Your role 'operator' does not have the permission 'pools.purge'.",
    )
    assert error(owner_client.delete(f"{detail(root)}?purge=true"))[:2] == (409, "conflict")
    assert owner_client.delete(f"{detail(vpc)}?purge=true").status_code == 204
    assert owner_client.get(detail(vpc)).status_code == 404
    assert list(Pool.objects.values_list("cidr", flat=True)) == ["10.0.0.0/8"]


def test_restore_refused_when_its_place_is_taken(owner_client, root, make_pool):
    old = make_pool("10.0.0.0/16", parent=root)
    services.pool_delete(actor=TEST_ACTOR, pool=old)
    make_pool("10.0.0.0/24", parent=root, name="newcomer")
    response = owner_client.post(detail(old, "restore/"))
    assert error(response)[:2] == (409, "overlap")
    assert Pool.objects.get(pk=old.pk).deleted_at is not None


# Children, tree, available, allocate, utilization


def test_children_paginated_in_address_order(owner_client, root, make_pool):
    for cidr in ("10.3.0.0/16", "10.1.0.0/16", "10.2.0.0/16"):
        make_pool(cidr, parent=root)
    response = owner_client.get(f"{detail(root, 'children/')}?limit=2")
    body = response.json()
    assert body["count"] == 3
    assert [item["cidr"] for item in body["results"]] == ["10.1.0.0/16", "10.2.0.0/16"]
    assert body["next"].endswith("limit=2&offset=2")


def test_tree_nested_with_depth_and_root(owner_client, plan):
    body = owner_client.get("/api/v1/pools/tree/").json()
    assert (body["root"], body["depth"], body["count"]) == (None, None, 7)
    corp, v6 = body["results"]
    assert [child["cidr"] for child in corp["children"]] == ["10.0.0.0/12", "10.16.0.0/12"]
    assert corp["children"][0]["children"][0]["children"][0]["cidr"] == "10.1.2.0/24"
    assert v6["children"][0]["utilization"]["total"] == str(2**80)
    shallow = owner_client.get("/api/v1/pools/tree/?depth=1").json()
    assert shallow["count"] == 5
    us = shallow["results"][0]["children"][0]
    assert (us["children"], us["children_count"]) == ([], 1)
    subtree = owner_client.get(f"/api/v1/pools/tree/?root={plan['us'].pk}&depth=0").json()
    assert [node["cidr"] for node in subtree["results"]] == ["10.0.0.0/12"]
    assert owner_client.get("/api/v1/pools/tree/?depth=-1").status_code == 400
    assert owner_client.get("/api/v1/pools/tree/?root=999999").status_code == 404


def test_tree_pages_every_level_and_never_refuses_for_size(owner_client, root):
    children = bulk_children(root, 12_000, 24)
    bulk_children(children[0], 3, 28, name="g")
    body = owner_client.get("/api/v1/pools/tree/?limit=50").json()
    assert (body["limit"], body["offset"], body["total"], body["count"]) == (50, 0, 1, 54)
    (corp,) = body["results"]
    assert (corp["children_count"], corp["children_more"]) == (12_000, 11_950)
    assert [child["cidr"] for child in corp["children"][:2]] == ["10.0.0.0/24", "10.0.1.0/24"]
    first = corp["children"][0]
    assert [grand["cidr"] for grand in first["children"]] == [
        "10.0.0.0/28",
        "10.0.0.16/28",
        "10.0.0.32/28",
    ]
    assert first["children_more"] == 0
    page = owner_client.get(f"/api/v1/pools/tree/?root={root.pk}&depth=1&offset=11990&limit=50")
    assert page.status_code == 200
    body = page.json()
    (corp,) = body["results"]
    assert (body["total"], body["offset"], body["count"]) == (12_000, 11_990, 11)
    assert corp["children"][-1]["cidr"] == "10.46.223.0/24"
    assert corp["children_more"] == 0
    assert owner_client.get("/api/v1/pools/tree/?limit=1001").status_code == 400


def test_tree_answers_at_most_max_nodes_and_counts_the_rest(owner_client, root, monkeypatch):
    monkeypatch.setattr("apps.pools.selectors.TREE_MAX_NODES", 3)
    children = bulk_children(root, 5, 16)
    bulk_children(children[0], 2, 24, name="g")
    body = owner_client.get("/api/v1/pools/tree/").json()
    (corp,) = body["results"]
    assert body["count"] == 3
    assert [child["cidr"] for child in corp["children"]] == ["10.0.0.0/16", "10.1.0.0/16"]
    assert corp["children_more"] == 3
    assert corp["children"][0]["children_more"] == 2


def test_available_free_blocks(owner_client, root, make_pool):
    vpc = make_pool("10.0.0.0/22", parent=root)
    make_pool("10.0.1.0/24", parent=vpc)
    body = owner_client.get(detail(vpc, "available/")).json()
    assert body == {
        "cidr": "10.0.0.0/22",
        "prefix_length": None,
        "count": 2,
        "truncated": False,
        "results": [
            {"cidr": "10.0.0.0/24", "prefix_length": 24, "size": "256"},
            {"cidr": "10.0.2.0/23", "prefix_length": 23, "size": "512"},
        ],
    }
    body = owner_client.get(f"{detail(vpc, 'available/')}?prefix_length=25&limit=3").json()
    assert [item["cidr"] for item in body["results"]] == [
        "10.0.0.0/25",
        "10.0.0.128/25",
        "10.0.2.0/25",
    ]
    assert (body["count"], body["truncated"]) == (3, True)
    body = owner_client.get(f"{detail(vpc, 'available/')}?limit=1").json()
    assert (body["count"], body["truncated"], len(body["results"])) == (2, True, 1)
    response = owner_client.get(f"{detail(vpc, 'available/')}?prefix_length=8")
    assert error(response) == (
        400,
        "validation_error",
        "10.0.0.0/22 has room for prefix lengths 23 to 32, not 8.",
    )


def test_allocate_and_no_space(owner_client, root, make_pool):
    vpc = make_pool("10.0.0.0/22", parent=root)
    response = owner_client.post(
        detail(vpc, "allocate/"),
        {"prefix_length": 23, "name": "a", "type": "subnet", "tags": {"k": "v"}},
        format="json",
    )
    assert response.status_code == 201
    assert (response.json()["cidr"], response.json()["type"], response.json()["parent"]) == (
        "10.0.0.0/23",
        "subnet",
        vpc.pk,
    )
    owner_client.post(detail(vpc, "allocate/"), {"prefix_length": 24, "name": "b"}, format="json")
    best = owner_client.post(
        detail(vpc, "allocate/"),
        {"prefix_length": 26, "name": "c", "strategy": "best_fit"},
        format="json",
    )
    assert best.json()["cidr"] == "10.0.3.0/26"
    response = owner_client.post(
        detail(vpc, "allocate/"), {"prefix_length": 24, "name": "d"}, format="json"
    )
    assert error(response) == (
        409,
        "no_space",
        "No free /24 in 10.0.0.0/22; the largest free block is 10.0.3.128/25.",
    )
    response = owner_client.post(
        detail(vpc, "allocate/"), {"prefix_length": "24", "name": "d"}, format="json"
    )
    assert response.json()["error"]["fields"] == {"prefix_length": ["A valid integer is required."]}
    response = owner_client.post(detail(vpc, "allocate/"), {"prefix_length": 24}, format="json")
    assert response.json()["error"]["fields"] == {"name": ["This field is required."]}
    assert Pool.objects.filter(parent=vpc).count() == 3


def test_utilization_by_status(owner_client, root, make_pool):
    vpc = make_pool("10.0.0.0/16", parent=root)
    make_pool("10.0.0.0/17", parent=vpc, status="reserved")
    make_pool("10.0.128.0/24", parent=vpc, status="planned")
    make_pool("10.0.129.0/24", parent=vpc)
    body = owner_client.get(detail(vpc, "utilization/")).json()
    assert body == {
        "total": "65536",
        "used": "33280",
        "free": "32256",
        "percent": 50.78,
        "children": 3,
        "by_status": {
            "planned": {"children": 1, "addresses": "256"},
            "active": {"children": 1, "addresses": "256"},
            "reserved": {"children": 1, "addresses": "32768"},
            "deprecated": {"children": 0, "addresses": "0"},
        },
    }


# Address lookup


def test_ip_lookup_deepest_first(owner_client, plan):
    body = owner_client.get("/api/v1/ip/10.1.2.3/").json()
    assert body["query"] == "10.1.2.3"
    assert body["family"] == 4
    assert [pool["cidr"] for pool in body["pools"]] == [
        "10.1.2.0/24",
        "10.1.0.0/16",
        "10.0.0.0/12",
        "10.0.0.0/8",
    ]
    assert body["resources"] == []
    body = owner_client.get("/api/v1/ip/10.1.0.0/16/").json()
    assert body["query"] == "10.1.0.0/16"
    assert [pool["cidr"] for pool in body["pools"]] == ["10.1.0.0/16", "10.0.0.0/12", "10.0.0.0/8"]
    body = owner_client.get("/api/v1/ip/2001:db8:1:2::5/").json()
    assert [pool["cidr"] for pool in body["pools"]] == ["2001:db8:1::/48", "2001:db8::/32"]
    assert owner_client.get("/api/v1/ip/10.1.3.1/").json()["pools"][0]["cidr"] == "10.1.0.0/16"
    response = owner_client.get("/api/v1/ip/not-an-ip/")
    assert error(response) == (
        400,
        "validation_error",
        "'not-an-ip' is not a valid IPv4 or IPv6 address",
    )
    response = owner_client.get("/api/v1/ip/10.1.2.3/16/")
    assert error(response)[2] == "10.1.2.3/16 has host bits set; did you mean 10.1.0.0/16?"


# Access


def test_viewer_reads_but_cannot_write(client_for, organization, root):
    viewer = client_for(organization, Role.VIEWER)
    assert viewer.get(LIST).status_code == 200
    assert viewer.get(detail(root, "available/")).status_code == 200
    for response in (
        viewer.post(LIST, {"name": "x", "cidr": "11.0.0.0/8"}, format="json"),
        viewer.post(detail(root, "allocate/"), {"prefix_length": 16, "name": "x"}, format="json"),
        viewer.patch(detail(root), {"name": "x"}, format="json"),
        viewer.delete(detail(root)),
        viewer.post(detail(root, "restore/")),
    ):
        assert error(response) == (
            403,
            "permission_denied",
            "Your role 'viewer' does not have the permission 'pools.change'.",
        )
    assert Pool.objects.count() == 1


def test_anonymous_is_401(api_client, root):
    assert api_client.get(LIST).status_code == 401
    assert api_client.get("/api/v1/ip/10.0.0.1/").status_code == 401


def test_another_organizations_pools_are_404_everywhere(owner_client, other_organization):
    foreign = services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="f", cidr="10.0.0.0/8"
    )
    for method, suffix in [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "restore/"),
        ("get", "children/"),
        ("get", "available/"),
        ("post", "allocate/"),
        ("get", "utilization/"),
    ]:
        response = getattr(owner_client, method)(
            detail(foreign, suffix),
            {"prefix_length": 16, "name": "x"} if method == "post" else None,
            format="json",
        )
        assert error(response) == (
            404,
            "not_found",
            f"No pool with id {foreign.pk} in this organization.",
        ), suffix
    assert results(owner_client.get(LIST)) == []
    assert owner_client.get("/api/v1/ip/10.0.0.1/").json()["pools"] == []
    assert owner_client.get(f"/api/v1/pools/tree/?root={foreign.pk}").status_code == 404
    assert Pool.objects.get(pk=foreign.pk).name == "f"


def test_huge_ids_are_404(owner_client):
    assert owner_client.get(f"/api/v1/pools/{2**70}/").status_code == 404
    assert reverse("api:pool-detail", args=[1]) == "/api/v1/pools/1/"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/pools/tree/?depth=",
        "/api/v1/pools/tree/?root=",
        "/api/v1/pools/?family=",
        "/api/v1/pools/?parent=",
        "/api/v1/pools/?limit=abc",
        "/api/v1/pools/?offset=-1",
        "/api/v1/pools/?limit=0",
    ],
)
def test_empty_or_malformed_typed_parameters_are_400(owner_client, url):
    response = owner_client.get(url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_messages_quoting_input_with_percent_signs(owner_client):
    response = owner_client.get("/api/v1/pools/?within=10%25s/8")
    assert response.json()["error"]["fields"] == {
        "within": ["'10%s/8' has an IPv6 zone id ('%'); scoped addresses are not accepted"]
    }


# Per-object grants and quotas


def test_a_grant_on_a_pool_lets_a_viewer_change_that_subtree_only(
    client_for, organization, root, make_pool
):
    from guardian.shortcuts import assign_perm

    vpc = make_pool("10.0.0.0/16", parent=root, name="vpc")
    inner = make_pool("10.0.0.0/20", parent=vpc, name="inner")
    other = make_pool("10.1.0.0/16", parent=root, name="other")
    viewer = client_for(organization, Role.VIEWER)
    assign_perm("pools.change_pool", viewer.user, vpc)

    allocated = viewer.post(
        detail(inner, "allocate/"), {"prefix_length": 24, "name": "a"}, format="json"
    )
    assert allocated.status_code == 201
    created = viewer.post(
        LIST, {"name": "b", "cidr": "10.0.128.0/24", "parent": vpc.pk}, format="json"
    )
    assert created.status_code == 201
    assert viewer.patch(detail(vpc), {"name": "renamed"}, format="json").status_code == 200

    denied = [
        viewer.post(detail(other, "allocate/"), {"prefix_length": 24, "name": "x"}, format="json"),
        viewer.post(LIST, {"name": "x", "cidr": "10.2.0.0/16", "parent": root.pk}, format="json"),
        viewer.post(LIST, {"name": "x", "cidr": "192.168.0.0/16"}, format="json"),
        viewer.patch(detail(root), {"name": "x"}, format="json"),
        viewer.delete(f"{detail(inner)}?purge=true"),
    ]
    assert [response.status_code for response in denied] == [403] * 5
    assert error(denied[0])[2] == "Your role 'viewer' does not have the permission 'pools.change'."
    # Moving out of the granted subtree needs the grant on the new parent too.
    response = viewer.patch(
        detail(inner), {"parent": other.pk, "cidr": "10.1.0.0/20"}, format="json"
    )
    assert response.status_code == 403
    inner.refresh_from_db()
    assert inner.parent_id == vpc.pk


def test_purge_by_grant(client_for, organization, root, make_pool):
    from guardian.shortcuts import assign_perm

    vpc = make_pool("10.0.0.0/16", parent=root)
    services.pool_delete(actor=TEST_ACTOR, pool=vpc)
    operator = client_for(organization, Role.OPERATOR)
    assert operator.delete(f"{detail(vpc)}?purge=true").status_code == 403
    assign_perm("pools.purge_pool", operator.user, root)
    assert operator.delete(f"{detail(vpc)}?purge=true").status_code == 204


def test_max_pools_quota(owner_client, organization, root, make_pool):
    organization.quotas = {"max_pools": 3}
    organization.save()
    vpc = make_pool("10.0.0.0/16", parent=root)
    owner_client.post(detail(vpc, "allocate/"), {"prefix_length": 24, "name": "a"}, format="json")
    for response in (
        owner_client.post(
            detail(vpc, "allocate/"), {"prefix_length": 24, "name": "b"}, format="json"
        ),
        owner_client.post(LIST, {"name": "c", "cidr": "192.168.0.0/16"}, format="json"),
    ):
        assert error(response) == (429, "quota_exceeded", "Quota max_pools (3) reached.")
    assert Pool.objects.count() == 3
    services.pool_delete(actor=TEST_ACTOR, pool=vpc, recursive=True)
    make_pool("10.1.0.0/16", parent=root)
    # Restoring the two deleted pools would make four.
    assert error(owner_client.post(detail(vpc, "restore/")))[:2] == (429, "quota_exceeded")
    assert owner_client.get("/api/v1/organizations/acme/settings/").json()["usage"][
        "max_pools"
    ] == {
        "label": "Pools",
        "limit": 3,
        "used": 2,
    }
