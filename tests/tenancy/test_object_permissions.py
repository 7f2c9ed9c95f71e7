"""Per-object grants (django-guardian) in the same permission layer as roles."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm
from rest_framework.test import APIRequestFactory

from apps.tenancy.models import ApiToken, Membership, Organization
from apps.tenancy.permissions import grant_codename, has_object_permission

pytestmark = pytest.mark.django_db


def request_of(membership: Membership, token: ApiToken | None = None):  # type: ignore[no-untyped-def]
    request = APIRequestFactory().get("/")
    request.membership = membership
    request.organization = membership.organization
    request.auth = token
    return request


def test_grant_codenames_follow_the_permission_suffix(organization):
    assert grant_codename("organization.change", organization) == "change_organization"
    assert grant_codename("pools.purge", organization) == "purge_organization"


def test_a_grant_lets_a_viewer_do_what_the_role_does_not(organization, client_for):
    viewer = client_for(organization, "viewer")
    denied = viewer.patch("/api/v1/organizations/acme/", {"name": "Renamed"}, format="json")
    assert denied.status_code == 403
    assert denied.json()["error"]["message"] == (
        "Your role 'viewer' does not have the permission 'organization.change'."
    )

    assign_perm("tenancy.change_organization", viewer.user, organization)
    response = viewer.patch("/api/v1/organizations/acme/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    # The grant is for one permission only.
    assert viewer.delete("/api/v1/organizations/acme/").status_code == 403


def test_grants_stop_at_the_token_scope_and_the_organization(
    organization, other_organization, make_member
):
    member = make_member(organization, "viewer")
    membership = Membership.objects.get(user=member)
    assign_perm("tenancy.change_organization", member, organization)
    assign_perm("tenancy.change_organization", member, other_organization)

    assert has_object_permission(request_of(membership), "organization.change", organization)
    # Another organization's object: no grant counts outside the member's organization.
    assert not has_object_permission(
        request_of(membership), "organization.change", other_organization
    )
    read_only = ApiToken(scopes=["read"])
    assert not has_object_permission(
        request_of(membership, read_only), "organization.change", organization
    )
    assert has_object_permission(
        request_of(membership, read_only), "organization.view", organization
    )


def test_a_grant_on_an_ancestor_covers_the_subtree(organization, make_member):
    """Tree objects (pools) inherit grants from their ancestors."""
    member = make_member(organization, "viewer")
    membership = Membership.objects.get(user=member)
    parent = Organization.objects.create(name="Parent node", slug="parent-node")
    # An object of the member's organization whose ancestor carries the grant.
    organization.get_ancestors = lambda: [parent]
    assert not has_object_permission(request_of(membership), "organization.change", organization)
    assign_perm("tenancy.change_organization", member, parent)
    assert has_object_permission(request_of(membership), "organization.change", organization)


def test_roles_still_decide_without_grants(organization, make_member):
    admin = Membership.objects.get(user=make_member(organization, "admin"))
    assert has_object_permission(request_of(admin), "organization.change", organization)
    assert not has_object_permission(request_of(admin), "organization.delete", organization)
    with pytest.raises(KeyError, match="Unknown permission"):
        has_object_permission(request_of(admin), "organization.fly", organization)


def test_a_superuser_account_is_no_role_in_the_organization(organization, make_member):
    member = make_member(organization, "viewer")
    member.is_superuser = True
    member.save()
    membership = Membership.objects.get(user=member)
    assert not has_object_permission(request_of(membership), "organization.delete", organization)


def test_group_grants_count(organization, make_member):
    from django.contrib.auth.models import Group

    member = make_member(organization, "auditor")
    group = Group.objects.create(name="network team")
    member.groups.add(group)
    assign_perm("tenancy.change_organization", group, organization)
    membership = Membership.objects.get(user=member)
    assert has_object_permission(request_of(membership), "organization.change", organization)


def test_a_superuser_is_unbound_by_the_matrix_only_in_the_admin(organization, admin_user, rf):
    from apps.tenancy.permissions import actor_permission_denial
    from cloudpam.context import actor_of

    request = rf.post("/api/v1/pools/")
    request.user = admin_user
    outside = actor_of(request)
    assert not outside.superuser
    assert actor_permission_denial(
        actor=outside, organization=organization, permission="pools.change"
    ) == ("You are not a member of this organization.")
    # ActiveOrganizationMiddleware marks the admin requests of superusers.
    request.admin_superuser = True
    inside = actor_of(request)
    assert inside.superuser
    assert inside.user_id == admin_user.pk
    assert (
        actor_permission_denial(actor=inside, organization=organization, permission="pools.change")
        is None
    )


def test_the_admin_opens_to_a_member_through_a_grant_direct_or_by_group(
    organization, make_member, rf, django_assert_max_num_queries
):
    from django.contrib import admin
    from django.contrib.auth.models import Group

    from apps.pools.models import Pool
    from tests.pools.factories import PoolFactory

    pool = PoolFactory(organization=organization, name="granted", cidr="10.0.0.0/16")
    pool_admin = admin.site._registry[Pool]
    # A viewer's role reads pools but does not change them.
    member = make_member(organization, "viewer")

    def request():  # type: ignore[no-untyped-def]
        made = rf.get("/admin/pools/pool/")
        made.user = member
        made.membership = Membership.objects.get(user=member)
        made.organization = organization
        return made

    assert not pool_admin.has_change_permission(request())

    group = Group.objects.create(name="network team")
    member.groups.add(group)
    assign_perm("pools.change_pool", group, pool)
    assert pool_admin.has_change_permission(request())

    group.user_set.remove(member)
    assign_perm("pools.change_pool", member, pool)
    asked = request()
    assert pool_admin.has_change_permission(asked)
    # The kinds of grants held are read once for the request, whatever the admins ask.
    with django_assert_max_num_queries(0):
        assert not pool_admin.has_delete_permission(asked)
        assert not admin.site._registry[Organization].has_change_permission(asked)
