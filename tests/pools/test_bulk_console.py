"""Bulk actions on the pools selected in the console's pool table."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from apps.tenancy.roles import role_has
from tests.pools.factories import PoolFactory

pytestmark = pytest.mark.django_db

BULK = "/pools/bulk/"


@pytest.fixture
def as_role(organization, make_member):
    def client(role: str) -> Client:
        made = Client()
        made.force_login(make_member(organization, role, email=f"bulk-{role}@example.com"))
        return made

    return client


@pytest.fixture
def tree(organization):
    root = PoolFactory(organization=organization, cidr="10.0.0.0/8", name="corp")
    vpc = PoolFactory(parent=root, cidr="10.1.0.0/16", name="vpc", tags={"env": "dev"})
    subnet = PoolFactory(parent=vpc, cidr="10.1.1.0/24", name="subnet")
    lone = PoolFactory(parent=root, cidr="10.2.0.0/16", name="lone", tags={"team": "net"})
    return {"root": root, "vpc": vpc, "subnet": subnet, "lone": lone}


def ids(*pools: Pool) -> list[str]:
    return [str(pool.pk) for pool in pools]


def messages_of(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_bulk_actions_follow_the_role_matrix(as_role, tree, role):
    client = as_role(role)
    allowed = role_has(role, "pools.change")
    listing = client.get("/pools/list/").content.decode()
    assert ('action="/pools/bulk/"' in listing) is allowed
    assert ('aria-label="Select every row on this page"' in listing) is allowed
    for action in ("delete", "status", "tags"):
        response = client.post(BULK, {"action": action, "pk": ids(tree["lone"])})
        assert response.status_code == (200 if allowed else 403), (role, action)
    confirmed = client.post(
        BULK, {"action": "status", "status": "deprecated", "confirm": "1", "pk": ids(tree["lone"])}
    )
    assert confirmed.status_code == (302 if allowed else 403)
    tree["lone"].refresh_from_db()
    assert tree["lone"].status == ("deprecated" if allowed else "active")


def test_the_first_post_asks_for_confirmation_and_writes_nothing(as_role, tree):
    client = as_role(Role.OPERATOR)
    response = client.post(
        BULK, {"action": "delete", "pk": ids(tree["lone"], tree["subnet"]), "next": "/pools/list/"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Delete: 2 pools" in html
    assert 'name="confirm" value="1"' in html
    assert "10.2.0.0/16" in html
    assert "10.1.1.0/24" in html
    assert Pool.objects.filter(deleted_at__isnull=False).count() == 0


def test_a_bulk_status_change_is_one_batch_with_an_event_per_pool(as_role, tree):
    client = as_role(Role.OPERATOR)
    before = AuditEvent.objects.count()
    response = client.post(
        BULK,
        {
            "action": "status",
            "status": "reserved",
            "confirm": "1",
            "pk": ids(tree["vpc"], tree["lone"]),
            "next": "/pools/list/?q=x",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/pools/list/?q=x"
    assert "2 pools changed status." in messages_of(response)
    assert set(Pool.objects.filter(status="reserved").values_list("name", flat=True)) == {
        "vpc",
        "lone",
    }
    events = AuditEvent.objects.order_by("id")[before:]
    assert sorted(event.object_pk for event in events) == sorted(ids(tree["vpc"], tree["lone"]))
    assert all((event.additional_data or {}).get("bulk") == "status" for event in events)


def test_a_bulk_tag_change_sets_and_removes_keys(as_role, tree):
    client = as_role(Role.ADMIN)
    response = client.post(
        BULK,
        {
            "action": "tags",
            "set_tags": "owner=netops\nenv=prod",
            "remove_tags": "team",
            "confirm": "1",
            "pk": ids(tree["vpc"], tree["lone"]),
        },
        follow=True,
    )
    assert "2 pools changed tags." in messages_of(response)
    tree["vpc"].refresh_from_db()
    tree["lone"].refresh_from_db()
    assert tree["vpc"].tags == {"env": "prod", "owner": "netops"}
    assert tree["lone"].tags == {"env": "prod", "owner": "netops"}


def test_a_confirmation_without_details_shows_the_form_again(as_role, tree):
    client = as_role(Role.OPERATOR)
    response = client.post(BULK, {"action": "status", "confirm": "1", "pk": ids(tree["lone"])})
    assert response.status_code == 400
    assert "Choose the new status." in response.content.decode()
    response = client.post(BULK, {"action": "tags", "confirm": "1", "pk": ids(tree["lone"])})
    assert "Set or remove at least one tag." in response.content.decode()


def test_a_partial_failure_changes_what_it_can_and_names_each_refusal(as_role, tree):
    client = as_role(Role.OPERATOR)
    response = client.post(
        BULK,
        {"action": "delete", "confirm": "1", "pk": ids(tree["vpc"], tree["lone"])},
        follow=True,
    )
    text = messages_of(response)
    assert "1 pool deleted." in text
    assert "1 pool not changed: 10.1.0.0/16" in text
    assert "child" in text
    assert set(Pool.objects.filter(deleted_at__isnull=False).values_list("name", flat=True)) == {
        "lone"
    }
    # Recursive takes the subtree; a child selected with its parent goes first.
    response = client.post(
        BULK,
        {
            "action": "delete",
            "recursive": "on",
            "confirm": "1",
            "pk": ids(tree["vpc"], tree["subnet"]),
        },
        follow=True,
    )
    assert "2 pools deleted." in messages_of(response)
    assert Pool.objects.filter(deleted_at__isnull=True).count() == 1


def test_a_pool_of_another_organization_refuses_the_whole_batch(as_role, tree, other_organization):
    foreign = PoolFactory(organization=other_organization, cidr="10.9.0.0/16", name="foreign")
    client = as_role(Role.OWNER)
    before = AuditEvent.objects.count()
    for confirm in ("", "1"):
        response = client.post(
            BULK,
            {
                "action": "status",
                "status": "deprecated",
                "confirm": confirm,
                "pk": ids(tree["lone"], foreign),
            },
        )
        assert response.status_code == 404
    assert Pool.objects.filter(status="deprecated").count() == 0
    assert AuditEvent.objects.count() == before
    foreign.refresh_from_db()
    assert foreign.status == "active"


@pytest.mark.parametrize(
    "data",
    [
        {"action": "status", "pk": ["abc"]},
        {"action": "status", "pk": ["0"]},
        {"action": "status", "pk": [str(2**63)]},
    ],
)
def test_bad_ids_are_not_found(as_role, tree, data):
    assert as_role(Role.OWNER).post(BULK, data).status_code == 404


def test_no_selection_or_no_action_goes_back_with_a_message(as_role, tree):
    client = as_role(Role.OWNER)
    response = client.post(BULK, {"action": "delete", "next": "/pools/list/"}, follow=True)
    assert "Select at least one pool first." in messages_of(response)
    response = client.post(BULK, {"action": "melt", "pk": ids(tree["lone"])}, follow=True)
    assert "Choose an action for the selected pools." in messages_of(response)
    response = client.post(BULK, {"pk": ids(tree["lone"]), "next": "https://evil.example/"})
    assert response["Location"] == "/pools/list/"


def test_a_deleted_pool_cannot_be_selected(as_role, tree):
    client = as_role(Role.OWNER)
    client.post(BULK, {"action": "delete", "confirm": "1", "pk": ids(tree["lone"])})
    response = client.post(BULK, {"action": "delete", "confirm": "1", "pk": ids(tree["lone"])})
    assert response.status_code == 404
