"""The pool admin: the tree change list, organizations kept apart, writes through services."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.analysis.models import AnalysisRun
from apps.audit.models import AuditEvent
from apps.pools import services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/pools/pool/"


@pytest.fixture
def staff_client(organization, make_member) -> Client:
    member = make_member(organization, Role.ADMIN, email="staff@example.com")
    member.is_staff = True
    member.save()
    for codename in ("view_pool", "add_pool", "change_pool", "delete_pool"):
        from django.contrib.auth.models import Permission

        member.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(member)
    return client


def form_data(organization, **overrides):
    data = {
        "organization": organization.pk,
        "name": "vpc",
        "cidr": "10.1.0.0/16",
        "parent": "",
        "type": "vpc",
        "status": "active",
        "description": "",
        "tags": "",
    }
    data.update(overrides)
    return data


def test_changelist_is_the_tree_limited_to_the_users_organizations(
    staff_client, admin_client, root, other_organization
):
    services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="foreign", cidr="172.16.0.0/12"
    )
    html = staff_client.get(CHANGELIST).content.decode()
    assert "10.0.0.0/8" in html
    assert "172.16.0.0/12" not in html
    assert "treebeard/treebeard-admin.js" in html
    assert "172.16.0.0/12" in admin_client.get(CHANGELIST).content.decode()
    foreign = Pool.objects.get(name="foreign")
    assert staff_client.get(f"{CHANGELIST}{foreign.pk}/change/").status_code in {302, 404}


def test_add_goes_through_the_service_and_shows_its_errors(staff_client, organization, root):
    response = staff_client.post(f"{CHANGELIST}add/", form_data(organization, parent=root.pk))
    assert response.status_code == 302
    vpc = Pool.objects.get(name="vpc")
    assert (vpc.parent_id, vpc.depth, vpc.first_key[-8:]) == (root.pk, 2, "0a010000")
    response = staff_client.post(
        f"{CHANGELIST}add/", form_data(organization, parent=root.pk, cidr="10.1.2.0/24")
    )
    assert response.status_code == 200
    assert "10.1.2.0/24 overlaps 10.1.0.0/16" in response.content.decode()
    response = staff_client.post(
        f"{CHANGELIST}add/", form_data(organization, parent=root.pk, cidr="10.1.2.1/24")
    )
    assert "did you mean 10.1.2.0/24?" in response.content.decode()
    response = staff_client.post(f"{CHANGELIST}add/", form_data(organization, parent=999999))
    assert "Select a valid choice." in response.content.decode()
    assert Pool.objects.count() == 2


def test_change_updates_through_the_service(staff_client, organization, root, make_pool):
    vpc = make_pool("10.1.0.0/16", parent=root, name="vpc")
    make_pool("10.1.200.0/24", parent=vpc, name="kid")
    url = f"{CHANGELIST}{vpc.pk}/change/"
    assert staff_client.get(url).status_code == 200
    data = form_data(organization, parent=root.pk, cidr="10.1.0.0/17", name="vpc")
    response = staff_client.post(url, data)
    assert "would leave the child 10.1.200.0/24" in response.content.decode()
    response = staff_client.post(url, {**data, "cidr": "10.0.0.0/15", "name": "wider"})
    assert response.status_code == 302
    vpc.refresh_from_db()
    assert (vpc.cidr, vpc.name) == ("10.0.0.0/15", "wider")


def test_actions_soft_delete_restore_and_purge(staff_client, root, make_pool):
    vpc = make_pool("10.1.0.0/16", parent=root, name="vpc")
    make_pool("10.1.0.0/24", parent=vpc, name="kid")
    staff_client.post(CHANGELIST, {"action": "soft_delete_recursive", "_selected_action": [vpc.pk]})
    assert Pool.objects.live().count() == 1
    restore = {"action": "restore", "_selected_action": [vpc.pk]}
    response = staff_client.post(CHANGELIST, restore)
    assert "Yes, restore them" in response.content.decode()
    assert Pool.objects.live().count() == 1
    staff_client.post(CHANGELIST, {**restore, "post": "yes"})
    assert Pool.objects.live().count() == 3
    response = staff_client.post(
        CHANGELIST, {"action": "purge", "_selected_action": [vpc.pk]}, follow=True
    )
    assert "is live; delete it before purging it." in response.content.decode()
    services.pool_delete(actor=TEST_ACTOR, pool=vpc, recursive=True)
    staff_client.post(CHANGELIST, {"action": "purge", "_selected_action": [vpc.pk]})
    assert list(Pool.objects.values_list("cidr", flat=True)) == ["10.0.0.0/8"]


def test_drag_and_drop_move_goes_through_pool_move(staff_client, organization, make_pool):
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    a = make_pool("10.0.0.0/8", name="vrf-a")
    b = make_pool("10.0.0.0/8", name="vrf-b")
    vpc = make_pool("10.1.0.0/16", parent=a, name="vpc")
    far = make_pool("11.0.0.0/8", name="far")
    response = staff_client.post(
        f"{CHANGELIST}move/", {"node": vpc.pk, "target": far.pk, "relation": "child"}
    )
    assert response.status_code == 400
    assert "is not inside its parent 11.0.0.0/8" in response.content.decode()
    response = staff_client.post(
        f"{CHANGELIST}move/", {"node": vpc.pk, "target": b.pk, "relation": "child"}
    )
    assert response.status_code == 200
    vpc.refresh_from_db()
    assert vpc.parent_id == b.pk
    response = staff_client.post(
        f"{CHANGELIST}move/", {"node": vpc.pk, "target": a.pk, "relation": "sibling"}
    )
    vpc.refresh_from_db()
    assert (response.status_code, vpc.parent_id, vpc.depth) == (200, None, 1)


def test_pools_cannot_be_deleted_as_rows(staff_client, root):
    assert staff_client.post(f"{CHANGELIST}{root.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Pool.objects.count() == 1


def test_a_grant_on_a_subtree_lets_a_viewer_write_there_only(organization, make_member):
    from guardian.shortcuts import assign_perm

    viewer = make_member(organization, Role.VIEWER, email="granted@example.com")
    viewer.is_staff = True
    viewer.save()
    client = Client()
    client.force_login(viewer)
    granted = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="granted", cidr="10.0.0.0/16"
    )
    inside = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="in", cidr="10.0.1.0/24", parent=granted
    )
    other = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="other", cidr="10.9.0.0/16"
    )
    assign_perm("pools.change_pool", viewer, granted)

    page = client.get(f"{CHANGELIST}{inside.pk}/change/")
    assert page.context["has_change_permission"] is True
    assert client.get(f"{CHANGELIST}{other.pk}/change/").context["has_change_permission"] is False
    # A new pool goes under the granted subtree, never to the roots.
    added = client.post(
        f"{CHANGELIST}add/", form_data(organization, cidr="10.0.2.0/24", parent=granted.pk)
    )
    assert added.status_code == 302
    root = client.post(f"{CHANGELIST}add/", form_data(organization, cidr="10.2.0.0/16"))
    assert root.status_code == 200
    assert "You may not add pools under this parent." in root.content.decode()
    # The action acts on the granted rows and leaves the others, saying so.
    response = client.post(
        CHANGELIST,
        {"action": "soft_delete_recursive", "_selected_action": [inside.pk, other.pk]},
        follow=True,
    )
    notes = [str(message) for message in response.context["messages"]]
    assert f"You do not have the permission 'pools.change' on {other}." in notes
    assert Pool.objects.get(pk=inside.pk).deleted_at is not None
    assert Pool.objects.get(pk=other.pk).deleted_at is None
    # Purging takes pools.purge, which the grant does not give.
    assert "purge" not in client.get(CHANGELIST).context["action_form"].fields["action"].choices


@pytest.fixture
def plan(organization) -> dict[str, Pool]:
    root = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="corp", cidr="10.0.0.0/8"
    )
    region = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="eu", cidr="10.1.0.0/16", parent=root
    )
    vpc = services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="web", cidr="10.1.2.0/24", parent=region
    )
    services.pool_create(
        organization=organization, actor=TEST_ACTOR, name="v6", cidr="2001:db8::/32"
    )
    return {"root": root, "region": region, "vpc": vpc}


def test_an_address_finds_the_pools_containing_it(staff_client, plan):
    response = staff_client.get(CHANGELIST, {"q": "10.1.2.7"})
    found = {pool.name for pool in response.context["cl"].result_list}
    assert found == {"corp", "eu", "web"}
    # A prefix too; a name still matches by name.
    response = staff_client.get(CHANGELIST, {"q": "10.1.0.0/16"})
    assert {pool.name for pool in response.context["cl"].result_list} == {"corp", "eu"}
    response = staff_client.get(CHANGELIST, {"q": "web"})
    assert [pool.name for pool in response.context["cl"].result_list] == ["web"]


def test_the_list_names_parents_and_shows_utilization_in_fixed_queries(
    staff_client, plan, organization, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20) as few:
        response = staff_client.get(CHANGELIST, {"q": "10"})
    content = response.content.decode()
    assert "10.0.0.0/8 corp" in content  # the region's parent, by CIDR and name
    assert "0.39% (1 children)" in content  # the root: one /16 in a /8
    baseline = len(few.captured_queries)
    for index in range(3, 13):
        services.pool_create(
            organization=organization,
            actor=TEST_ACTOR,
            name=f"more {index}",
            cidr=f"10.1.{index}.0/24",
            parent=plan["region"],
        )
    with django_assert_max_num_queries(baseline):
        staff_client.get(CHANGELIST, {"q": "10"})


def test_the_change_page_names_the_parent(staff_client, plan):
    response = staff_client.get(f"{CHANGELIST}{plan['vpc'].pk}/change/")
    assert "10.1.0.0/16 eu</a>" in response.content.decode()


def _autocomplete(client, model_name, field_name, term=""):
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": model_name.split(".")[0], "model_name": model_name.split(".")[1]}
        | {"field_name": field_name, "term": term},
    )
    assert response.status_code == 200, response.content
    return {row["text"] for row in response.json()["results"]}


def test_the_parent_and_organization_pickers_list_the_members_organization_only(
    staff_client, admin_client, plan, organization, other_organization
):
    services.pool_create(
        actor=TEST_ACTOR, organization=other_organization, name="foreign", cidr="10.1.0.0/16"
    )
    # By address: the pools containing it, of the member's organization only.
    assert _autocomplete(staff_client, "pools.pool", "parent", "10.1.2.9") == {
        "10.0.0.0/8 corp",
        "10.1.0.0/16 eu",
        "10.1.2.0/24 web",
    }
    assert "10.1.0.0/16 foreign" in _autocomplete(admin_client, "pools.pool", "parent", "10.1")
    assert _autocomplete(staff_client, "pools.pool", "organization") == {str(organization)}
    html = staff_client.get(f"{CHANGELIST}{plan['vpc'].pk}/change/").content.decode()
    assert 'data-model-name="pool"' in html
    assert "admin-autocomplete" in html


def test_the_change_page_shows_the_first_children_and_the_free_space(
    staff_client, plan, organization, monkeypatch
):
    from apps.pools import admin as pools_admin

    monkeypatch.setattr(pools_admin, "CHILDREN_SHOWN", 2)
    for index in range(3, 6):
        services.pool_create(
            organization=organization,
            actor=TEST_ACTOR,
            name=f"kid {index}",
            cidr=f"10.1.{index}.0/24",
            parent=plan["region"],
        )
    response = staff_client.get(f"{CHANGELIST}{plan['region'].pk}/change/")
    html = response.content.decode()
    assert [node.pool.name for node in response.context["pool_children"]] == ["web", "kid 3"]
    assert "The first 2 of 4 children" in html
    assert f"?parent={plan['region'].pk}&amp;deleted=no" in html
    assert "10.1.0.0/23" in html  # the first free block
    listed = staff_client.get(CHANGELIST, {"parent": plan["region"].pk, "deleted": "no"})
    assert {pool.name for pool in listed.context["cl"].result_list} == {
        "web",
        "kid 3",
        "kid 4",
        "kid 5",
    }


def test_allocating_a_child_asks_first_then_runs_the_service(staff_client, plan):
    region = plan["region"]
    action = {"action": "allocate_child", "_selected_action": [region.pk]}
    page = staff_client.post(CHANGELIST, action)
    assert page.status_code == 200
    assert page.templates[0].name == "admin/confirm_action.html"
    assert Pool.objects.filter(parent=region).count() == 1
    # "No, take me back" is a link to the changelist: nothing was written.
    assert f'href="{CHANGELIST}" class="button cancel-link"' in page.content.decode()
    form = {"prefix_length": "24", "name": "new", "type": "subnet", "status": "active"}
    form |= {"strategy": "first_fit"}
    # A form error shows the page again; the service's refusal is a message.
    bad = staff_client.post(CHANGELIST, {**action, **form, "name": "", "post": "yes"})
    assert bad.status_code == 200
    assert "This field is required." in bad.content.decode()
    refused = {**action, **form, "prefix_length": "8", "post": "yes"}
    refused_page = staff_client.post(CHANGELIST, refused, follow=True)
    notes = [str(m) for m in refused_page.context["messages"]]
    assert any("not 8." in note for note in notes), notes
    assert Pool.objects.filter(parent=region).count() == 1
    done = staff_client.post(CHANGELIST, {**action, **form, "post": "yes"}, follow=True)
    child = Pool.objects.get(parent=region, name="new")
    assert child.cidr == "10.1.0.0/24"
    assert f"Allocated 10.1.0.0/24 in {region}." in [str(m) for m in done.context["messages"]]
    assert AuditEvent.objects.filter(object_pk=str(child.pk), action="allocate").exists()


def test_running_an_analysis_asks_first(staff_client, plan):
    action = {"action": "run_analysis", "_selected_action": [plan["region"].pk, plan["vpc"].pk]}
    assert staff_client.post(CHANGELIST, action).status_code == 200
    assert not AnalysisRun.objects.exists()
    staff_client.post(CHANGELIST, {**action, "post": "yes"})
    run = AnalysisRun.objects.get()
    assert sorted(run.pools) == sorted([plan["region"].pk, plan["vpc"].pk])
