"""The searchable pickers: their search endpoints (walked for isolation and roles) and fields.

Every console route under ``pick/`` is a picker's search endpoint. Like the API walk
(``tests/isolation.py``), the routes come from the URL configuration, so a new picker
is walked the day it appears; ``PICKERS`` says how to make an object of a world that
the picker must find (by a text holding the world's marker) and which permission it
needs. A route missing from the table fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django import forms
from django.test import Client
from django.urls import get_resolver

from apps.planning.models import Plan
from apps.pools.forms import PoolCreateForm, PoolReferenceField, pool_reference
from apps.pools.models import Pool
from apps.pools.services import pool_create
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, User
from apps.tenancy.roles import role_has
from tests.actors import TEST_ACTOR
from tests.isolation import World, _walk

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Picker:
    permission: str
    # Make an object of the world the picker must list; return the text that finds it.
    make: Callable[[World], str]


def _pool(world: World) -> str:
    world.remember(
        "pool",
        lambda: pool_create(
            actor=TEST_ACTOR,
            organization=world.organization,
            name=f"pool {world.marker}",
            cidr="10.0.0.0/16",
        ),
    )
    return world.marker


def _member(world: World) -> str:
    def make() -> Membership:
        user = User.objects.create_user(
            f"picked-{world.organization.slug}@example.com", None, full_name=world.marker
        )
        return Membership.objects.create(
            user=user, organization=world.organization, role=Role.VIEWER
        )

    world.remember("member", make)
    return world.marker


PICKERS: dict[str, Picker] = {
    "pools:pool-picker": Picker("pools.view", _pool),
    "tenancy:member-picker": Picker("members.view", _member),
}


def picker_routes() -> dict[str, str]:
    """Return ``{url name: path}`` of every console route under ``pick/``."""
    return {
        name: "/" + pattern
        for pattern, name, _entry in _walk(get_resolver().url_patterns, "", None)
        if pattern.startswith("pick/")
    }


ROUTES = picker_routes()


def session_of(world: World, role: str = Role.OWNER) -> Client:
    client = Client()
    if role == Role.OWNER:
        user = world.owner
    else:
        user = User.objects.create_user(f"{role}-{world.organization.slug}@example.com", None)
        Membership.objects.create(user=user, organization=world.organization, role=role)
    client.force_login(user)
    return client


def search(client: Client, path: str, text: str, **params: str) -> str:
    response = client.get(path, {"field": "q", "q": text, **params})
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_every_picker_route_is_in_the_table():
    assert set(ROUTES) == set(PICKERS), "register the new picker route in PICKERS"


@pytest.mark.parametrize("name", sorted(PICKERS))
def test_a_picker_finds_its_organizations_objects_only(name):
    a, b = World.create("pick-a"), World.create("pick-b")
    text = PICKERS[name].make(a)
    path = ROUTES[name]
    assert a.marker in search(session_of(a), path, text)  # the control experiment
    assert a.marker not in search(session_of(b), path, text)
    assert a.marker not in search(session_of(b), path, a.marker[:-2])


@pytest.mark.parametrize("role", [role.value for role in Role])
@pytest.mark.parametrize("name", sorted(PICKERS))
def test_each_role_may_search_as_the_matrix_says(name, role):
    world = World.create("pick-a")
    text = PICKERS[name].make(world)
    response = session_of(world, role).get(ROUTES[name], {"field": "q", "q": text})
    if role_has(role, PICKERS[name].permission):
        assert response.status_code == 200
        assert world.marker in response.content.decode()
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("name", sorted(PICKERS))
def test_a_picker_needs_a_signed_in_member(name, client):
    response = client.get(ROUTES[name], {"q": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    outsider = User.objects.create_user("outsider@example.com", None)
    client.force_login(outsider)
    assert client.get(ROUTES[name], {"q": "x"})["Location"] == "/organization/new/"


# ---------------------------------------------------------------- the pool picker


@pytest.fixture
def plan(organization):
    def make(name: str, cidr: str, parent: Pool | None = None) -> Pool:
        return pool_create(
            actor=TEST_ACTOR, organization=organization, name=name, cidr=cidr, parent=parent
        )

    corp = make("corp", "10.0.0.0/8")
    prod = make("prod", "10.1.0.0/16", corp)
    web = make("web", "10.1.2.0/24", prod)
    v6 = make("corp-v6", "fd00::/48")
    return {"corp": corp, "prod": prod, "web": web, "v6": v6}


@pytest.fixture
def owner_client(organization, make_member) -> Client:
    client = Client()
    client.force_login(make_member(organization, Role.OWNER))
    return client


def picked(html: str) -> list[str]:
    import re

    return re.findall(r'data-pick="([^"]+)"', html)


def test_the_pool_picker_searches_by_name_cidr_and_address(owner_client, plan):
    path = "/pick/pools/"
    assert picked(search(owner_client, path, "corp")) == [
        pool_reference(plan["corp"]),
        pool_reference(plan["v6"]),
    ]
    # A CIDR lists the pools containing it, the pool of exactly that prefix first.
    assert picked(search(owner_client, path, "10.1.0.0/16"))[0] == pool_reference(plan["prod"])
    # An address: the narrowest containing pools first.
    assert picked(search(owner_client, path, "10.1.2.3")) == [
        pool_reference(plan["web"]),
        pool_reference(plan["prod"]),
        pool_reference(plan["corp"]),
    ]
    assert picked(search(owner_client, path, "fd00::1")) == [pool_reference(plan["v6"])]
    # One family only, as the wizard's IPv4 supernet asks.
    assert picked(search(owner_client, path, "corp", family="4")) == [pool_reference(plan["corp"])]
    assert picked(search(owner_client, path, "fd00::1", family="4")) == []
    assert "No pool matches." in search(owner_client, path, "nothing-like-this")
    assert "not a valid" in search(owner_client, path, "10.1.2.300")
    assert search(owner_client, path, "").strip() == ""


def test_the_pool_picker_reads_the_field_it_is_named_after(owner_client, plan):
    response = owner_client.get("/pick/pools/", {"field": "parent", "parent": "web"})
    assert picked(response.content.decode()) == [pool_reference(plan["web"])]


def test_the_pool_picker_lists_at_most_twenty(owner_client, organization, plan):
    for index in range(25):
        pool_create(
            actor=TEST_ACTOR,
            organization=organization,
            name=f"many-{index}",
            cidr=f"10.2.{index}.0/24",
            parent=plan["corp"],
        )
    html = search(owner_client, "/pick/pools/", "many-")
    assert len(picked(html)) == 20
    assert "The first 20 are shown; type more to narrow." in html


def test_the_picker_widget_renders_an_htmx_search_box_with_a_label(owner_client, plan):
    html = owner_client.get(f"/pools/new/?parent={plan['prod'].pk}").content.decode()
    assert '<label for="id_parent">Parent</label>' in html
    assert 'hx-get="/pick/pools/?field=parent"' in html
    assert 'aria-controls="id_parent-results"' in html
    assert f'value="{pool_reference(plan["prod"])}"' in html
    assert 'type="number"' not in html.split('name="parent"')[1].split(">")[0]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("#{prod}", "prod"),
        ("{prod}", "prod"),
        ("#{prod} 10.1.0.0/16 prod", "prod"),  # what the picker writes
        ("10.1.2.0/24", "web"),
        ("corp-v6", "v6"),
        ("", None),
    ],
)
def test_without_javascript_the_typed_text_still_names_a_pool(organization, plan, typed, expected):
    field = PoolReferenceField(required=False)
    field.organization = organization
    text = typed.format(prod=plan["prod"].pk)
    assert field.clean(text) == (plan[expected] if expected else None)


def test_a_reference_that_names_no_pool_or_several_is_refused(
    organization, other_organization, plan
):
    field = PoolReferenceField(required=False)
    field.organization = organization
    pool_create(actor=TEST_ACTOR, organization=organization, name="prod", cidr="192.168.0.0/16")
    with pytest.raises(forms.ValidationError, match="Several pools are 'prod'"):
        field.clean("prod")
    stranger = pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="theirs", cidr="10.0.0.0/8"
    )
    for text in (f"#{stranger.pk}", "theirs", "172.16.0.0/12"):
        with pytest.raises(forms.ValidationError, match="No live pool"):
            field.clean(text)
    ipv4 = PoolReferenceField(required=False, family=4)
    ipv4.organization = organization
    with pytest.raises(forms.ValidationError, match="No live IPv4 pool 'corp-v6'"):
        ipv4.clean("corp-v6")


def test_creating_a_child_with_the_picked_parent(owner_client, plan):
    data = {
        "name": "db",
        "cidr": "10.1.3.0/24",
        "parent": pool_reference(plan["prod"]),
        "type": "subnet",
        "status": "active",
    }
    response = owner_client.post("/pools/new/", data)
    assert response.status_code == 302
    assert Pool.objects.get(name="db").parent_id == plan["prod"].pk
    form = PoolCreateForm(data, organization=plan["prod"].organization)
    assert form.is_valid()


def test_moving_a_pool_shows_and_takes_the_picked_parent(owner_client, plan, organization):
    # A root of another routing domain, moved into the plan.
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    other = pool_create(actor=TEST_ACTOR, organization=organization, name="lab", cidr="10.1.9.0/24")
    html = owner_client.get(f"/pools/{other.pk}/move/").content.decode()
    assert 'hx-get="/pick/pools/?field=parent"' in html
    new_parent = {"parent": pool_reference(plan["prod"])}
    response = owner_client.post(f"/pools/{other.pk}/move/", new_parent)
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.parent_id == plan["prod"].pk


def test_the_wizard_takes_its_supernet_pool_from_an_ipv4_picker(owner_client, plan):
    html = owner_client.get("/plans/wizard/?template=flat").content.decode()
    assert 'hx-get="/pick/pools/?field=supernet_pool&amp;family=4"' in html
    form = {
        "template": "flat",
        "supernet_pool": pool_reference(plan["corp"]),
        "supernet_prefix_length": "16",
        "tiers": "office /24 x3",
        "provider": "onprem",
        "headroom": "0",
        "status": "planned",
        "action": "generate",
    }
    response = owner_client.post("/plans/wizard/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    # The first free /16 of the picked pool, with the pool as the plan's parent.
    params = Plan.objects.get().source_detail["params"]
    assert (params["parent"], params["supernet"]) == (plan["corp"].pk, "10.0.0.0/16")
    response = owner_client.post("/plans/wizard/", {**form, "supernet_pool": "corp-v6"})
    assert response.status_code == 400
    assert (
        "No live IPv4 pool &#x27;corp-v6&#x27; in this organization." in response.content.decode()
    )


def test_the_findings_filter_takes_a_picked_pool(owner_client, plan):
    html = owner_client.get(
        "/analysis/compliance/", {"pool": pool_reference(plan["prod"])}
    ).content.decode()
    assert 'hx-get="/pick/pools/?field=pool"' in html
    assert "form-errors" not in html


# ---------------------------------------------------------------- the member picker


def test_the_member_picker_searches_email_and_name(organization, make_member):
    owner = make_member(organization, Role.OWNER, email="ada@example.com")
    owner.full_name = "Ada Lovelace"
    owner.save()
    make_member(organization, Role.VIEWER, email="grace@example.com")
    client = Client()
    client.force_login(owner)
    assert picked(search(client, "/pick/members/", "LOVELACE")) == ["ada@example.com"]
    assert picked(search(client, "/pick/members/", "grace@")) == ["grace@example.com"]
    assert "No member matches." in search(client, "/pick/members/", "nobody")


def test_the_audit_actor_filter_uses_the_member_picker(organization, make_member):
    client = Client()
    client.force_login(make_member(organization, Role.AUDITOR))
    html = client.get("/audit/").content.decode()
    assert 'hx-get="/pick/members/?field=actor"' in html
