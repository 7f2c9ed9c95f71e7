"""Tenant isolation: every /api/v1/ route, called with another organization's token.

The routes come from the URL configuration (``tests/isolation.py``), so a new
endpoint is walked the day it appears; a path parameter without a registered
factory fails here rather than being skipped.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.tenancy.choices import Role
from apps.tenancy.models import Membership
from apps.tenancy.roles import ROLE_MAX_SCOPES
from apps.tenancy.services import api_token_create
from tests.isolation import MACHINE_CREDENTIALS, Route, World, api_routes, build_path

pytestmark = pytest.mark.django_db

ROUTES = api_routes()


def _client_for(world: World, route: Route | None = None) -> APIClient:
    if route is not None and route.name in MACHINE_CREDENTIALS:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=MACHINE_CREDENTIALS[route.name](world))
        return client
    membership = Membership.objects.get(user=world.owner, organization=world.organization)
    _token, value = api_token_create(
        membership=membership,
        name="isolation walker",
        scopes=sorted(ROLE_MAX_SCOPES[Role.OWNER]),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def _call(client: APIClient, route: Route, path: str):  # type: ignore[no-untyped-def]
    return client.generic(route.method.upper(), path, data="{}", content_type="application/json")


def test_the_walk_finds_the_tenancy_routes():
    found = {(route.name, route.method) for route in ROUTES}
    assert ("api:organization-member-detail", "delete") in found
    assert ("api:token-detail", "delete") in found
    assert ("api:me", "get") in found


def test_every_route_parameter_has_a_factory():
    a = World.create("walk-a")
    for route in ROUTES:
        build_path(route, a)


@pytest.mark.parametrize("route", ROUTES, ids=[route.id for route in ROUTES])
def test_another_organizations_token_sees_nothing(route: Route):
    a, b = World.create("walk-a"), World.create("walk-b")
    path = build_path(route, a)
    response = _call(_client_for(b, route), route, path)

    assert response.status_code < 500, response.content
    assert a.marker not in response.getvalue().decode(), f"{route.id} leaked {a.marker}"
    if route.identifies_objects:
        assert response.status_code == 404, (route.id, response.status_code, response.content)
        assert response.json()["error"]["code"] == "not_found"


GET_OBJECT_ROUTES = [r for r in ROUTES if r.method == "get" and r.identifies_objects]


@pytest.mark.parametrize("route", GET_OBJECT_ROUTES, ids=[r.id for r in GET_OBJECT_ROUTES])
def test_the_owning_organization_does_see_it(route: Route):
    """The control experiment: the factories made real objects, so B's 404 means something."""
    a = World.create("walk-a")
    response = _call(_client_for(a), route, build_path(route, a))
    assert response.status_code == 200, (route.id, response.status_code, response.content)
