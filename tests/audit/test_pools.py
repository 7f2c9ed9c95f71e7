"""Acceptance: each change of a pool through the API, the console and the admin is one event.

Creating, updating, moving, deleting and restoring a pool each leave exactly one event
for that pool, with its before and after, carrying the response's ``X-Request-ID``.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.audit.models import AuditEvent
from apps.pools import services
from apps.pools.models import Pool
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(organization):
    """Two root pools: 10.0.0.0/8 "corp" and 172.16.0.0/12 "lab"."""
    return {
        "corp": services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="corp", cidr="10.0.0.0/8"
        ),
        "lab": services.pool_create(
            actor=TEST_ACTOR, organization=organization, name="lab", cidr="172.16.0.0/12"
        ),
    }


def the_event(response, action, pool_pk):
    """Return the one event of the response's request; it must be ``action`` on the pool."""
    request_id = response["X-Request-ID"]
    events = list(AuditEvent.objects.filter(cid=request_id))
    assert len(events) == 1, [(e.action, e.object_type, e.object_pk) for e in events]
    (event,) = events
    assert (event.action, event.object_type, event.object_pk) == (action, "pool", str(pool_pk))
    assert event.cid == request_id
    return event


def assert_lifecycle(client_events, plan):
    """Check the five events of one path: create, update, move, delete, restore."""
    created, updated, moved, deleted, restored = client_events
    pool = Pool.objects.get(pk=created.object_pk)
    assert created.changes["cidr"] == [None, "10.1.0.0/16"]
    assert created.changes["name"] == [None, "vpc"]
    assert created.changes["parent"] == [None, plan["corp"].pk]
    assert updated.changes == {"name": ["vpc", "vpc-prod"]}
    assert moved.changes == {
        "parent": [plan["corp"].pk, None],
        "separate_routing_domain": [False, True],
    }
    assert deleted.changes["deleted_at"][0] is None
    assert deleted.changes["deleted_at"][1].endswith("Z")
    assert restored.changes["deleted_at"] == [deleted.changes["deleted_at"][1], None]
    for event in client_events:
        assert event.organization_id == pool.organization_id
        assert event.object_repr
    pool.refresh_from_db()
    assert (pool.name, pool.parent_id, pool.deleted_at) == ("vpc-prod", None, None)


def test_through_the_api(organization, client_for, plan):
    client = client_for(organization, Role.OPERATOR)
    user = client.user
    response = client.post(
        "/api/v1/pools/",
        {"name": "vpc", "cidr": "10.1.0.0/16", "parent": plan["corp"].pk, "type": "vpc"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    events = [the_event(response, "create", pk)]
    response = client.patch(f"/api/v1/pools/{pk}/", {"name": "vpc-prod"}, format="json")
    assert response.status_code == 200, response.json()
    events.append(the_event(response, "update", pk))
    # A move to the roots: 10.1.0.0/16 overlaps corp there unless roots may overlap.
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    response = client.patch(f"/api/v1/pools/{pk}/", {"parent": None}, format="json")
    assert response.status_code == 200, response.json()
    events.append(the_event(response, "move", pk))
    response = client.delete(f"/api/v1/pools/{pk}/")
    assert response.status_code == 204
    events.append(the_event(response, "delete", pk))
    response = client.post(f"/api/v1/pools/{pk}/restore/")
    assert response.status_code == 200, response.json()
    events.append(the_event(response, "restore", pk))
    assert_lifecycle(events, plan)
    assert {(e.actor_id, e.actor_email) for e in events} == {(user.pk, user.email)}


def test_through_the_console(organization, make_member, plan):
    person = make_member(organization, Role.OPERATOR, email="console@example.com")
    client = Client()
    client.force_login(person)
    form = {
        "name": "vpc",
        "cidr": "10.1.0.0/16",
        "parent": str(plan["corp"].pk),
        "type": "vpc",
        "status": "active",
        "description": "",
        "tags": "",
    }
    response = client.post("/pools/new/", form, REMOTE_ADDR="192.0.2.81")
    assert response.status_code == 302, response.content.decode()[:2000]
    pk = Pool.objects.get(name="vpc").pk
    created = the_event(response, "create", pk)
    assert created.remote_addr == "192.0.2.81"
    events = [created]
    edit = {k: v for k, v in form.items() if k != "parent"} | {"name": "vpc-prod"}
    response = client.post(f"/pools/{pk}/edit/", edit)
    assert response.status_code == 302, response.content.decode()[:2000]
    events.append(the_event(response, "update", pk))
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    response = client.post(f"/pools/{pk}/move/", {"parent": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    events.append(the_event(response, "move", pk))
    response = client.post(f"/pools/{pk}/delete/", {})
    assert response.status_code == 302, response.content.decode()[:2000]
    events.append(the_event(response, "delete", pk))
    response = client.post(f"/pools/{pk}/restore/")
    assert response.status_code == 302, response.content.decode()[:2000]
    events.append(the_event(response, "restore", pk))
    assert_lifecycle(events, plan)
    assert {e.actor_email for e in events} == {"console@example.com"}


def test_the_pool_page_shows_its_own_history_to_auditors_only(organization, make_member, plan):
    pool = plan["corp"]
    auditor = Client()
    auditor.force_login(make_member(organization, Role.AUDITOR, email="aud@example.com"))
    page = auditor.get(f"/pools/{pool.pk}/").content.decode()
    assert "History" in page
    assert "create" in page
    viewer = Client()
    viewer.force_login(make_member(organization, Role.VIEWER, email="view@example.com"))
    assert "History" not in viewer.get(f"/pools/{pool.pk}/").content.decode()


def test_through_the_admin(organization, make_member, plan):
    staff = make_member(organization, Role.ADMIN, email="staff@example.com")
    staff.is_staff = True
    staff.save()
    for codename in ("view_pool", "add_pool", "change_pool", "delete_pool"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(staff)
    changelist = "/admin/pools/pool/"
    form = {
        "organization": organization.pk,
        "name": "vpc",
        "cidr": "10.1.0.0/16",
        "parent": plan["corp"].pk,
        "type": "vpc",
        "status": "active",
        "description": "",
        "tags": "",
    }
    response = client.post(f"{changelist}add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    pk = Pool.objects.get(name="vpc").pk
    events = [the_event(response, "create", pk)]
    response = client.post(f"{changelist}{pk}/change/", {**form, "name": "vpc-prod"})
    assert response.status_code == 302, response.content.decode()[:2000]
    events.append(the_event(response, "update", pk))
    organization.settings = {"allow_overlapping_roots": True}
    organization.save()
    response = client.post(
        f"{changelist}move/", {"node": pk, "target": plan["corp"].pk, "relation": "sibling"}
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    events.append(the_event(response, "move", pk))
    response = client.post(
        changelist, {"action": "soft_delete_recursive", "_selected_action": [pk]}
    )
    assert response.status_code == 302
    events.append(the_event(response, "delete", pk))
    response = client.post(
        changelist, {"action": "restore", "_selected_action": [pk], "post": "yes"}
    )
    assert response.status_code == 302
    events.append(the_event(response, "restore", pk))
    assert_lifecycle(events, plan)
    assert {e.actor_email for e in events} == {"staff@example.com"}


def test_a_purge_is_its_own_event(organization, client_for, plan):
    client = client_for(organization, Role.ADMIN)
    vpc = services.pool_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="vpc",
        cidr="10.1.0.0/16",
        parent=plan["corp"],
    )
    services.pool_delete(actor=TEST_ACTOR, pool=vpc)
    response = client.delete(f"/api/v1/pools/{vpc.pk}/?purge=true")
    assert response.status_code == 204, response.content
    event = the_event(response, "purge", vpc.pk)
    assert event.changes["cidr"] == ["10.1.0.0/16", None]


def test_a_recursive_delete_is_one_event_per_pool(organization, client_for, plan):
    client = client_for(organization, Role.OPERATOR)
    vpc = services.pool_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="vpc",
        cidr="10.1.0.0/16",
        parent=plan["corp"],
    )
    subnets = [
        services.pool_create(
            actor=TEST_ACTOR,
            organization=organization,
            name=f"s{n}",
            cidr=f"10.1.{n}.0/24",
            parent=vpc,
        )
        for n in range(3)
    ]
    response = client.delete(f"/api/v1/pools/{vpc.pk}/?recursive=true")
    assert response.status_code == 204
    events = AuditEvent.objects.filter(cid=response["X-Request-ID"])
    assert sorted(int(e.object_pk) for e in events) == sorted([vpc.pk, *(s.pk for s in subnets)])
    assert {e.action for e in events} == {"delete"}


def test_the_pool_page_can_show_its_history(organization, make_member, plan):
    from django.template import Context, Template
    from django.test import RequestFactory

    from apps.tenancy.context import bind_membership
    from apps.tenancy.models import Membership

    auditor = make_member(organization, Role.AUDITOR)
    vpc = services.pool_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="vpc",
        cidr="10.1.0.0/16",
        parent=plan["corp"],
    )
    services.pool_update(actor=TEST_ACTOR, pool=vpc, name="vpc-prod")
    request = RequestFactory().get("/")
    request.user = auditor
    bind_membership(request, Membership.objects.get(user=auditor))
    html = Template("{% load audit_tags %}{% object_history pool %}").render(
        Context({"request": request, "pool": vpc})
    )
    assert html.count('<span class="badge">') == 2
    assert '<td class="mono diff-after">vpc-prod</td>' in html
