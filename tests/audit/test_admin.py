"""The admin shows the trail read-only, even to superusers; admin changes are audited."""

import pytest
from django.contrib.auth.models import Permission

from apps.audit.models import AuditChain, AuditEvent
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership
from tests.tenancy.test_admin import _organization_form

pytestmark = pytest.mark.django_db

EVENTS = "/admin/audit/auditevent/"


@pytest.fixture
def event(organization, settle_chains):
    settle_chains()
    return AuditEvent.objects.get(organization=organization, action="create")


def test_superusers_can_read_events(admin_client, event):
    assert admin_client.get(EVENTS).status_code == 200
    response = admin_client.get(f"{EVENTS}{event.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert event.hash in html
    assert 'name="_save"' not in html


def test_nobody_adds_changes_or_deletes_events(admin_client, event):
    assert admin_client.get(f"{EVENTS}add/").status_code == 403
    assert admin_client.post(f"{EVENTS}{event.pk}/change/", {"action": "delete"}).status_code == 403
    assert admin_client.get(f"{EVENTS}{event.pk}/delete/").status_code == 403
    assert admin_client.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(
        EVENTS, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=event.pk, action="create").exists()
    chain = AuditChain.objects.get(pk=event.organization_id)
    assert (
        admin_client.post(
            f"/admin/audit/auditchain/{chain.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )


def _staff(make_member, organization, role):
    person = make_member(organization, role, email=f"staff-{role}@example.com")
    person.is_staff = True
    person.save()
    person.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    return person


def test_staff_see_the_events_of_organizations_they_audit(
    client, organization, other_organization, make_member
):
    staff = _staff(make_member, organization, Role.AUDITOR)
    client.force_login(staff)
    html = client.get(EVENTS).content.decode()
    acme = AuditEvent.objects.filter(organization=organization).first()
    globex = AuditEvent.objects.get(organization=other_organization)
    assert f"{EVENTS}{acme.pk}/change/" in html
    assert f"{EVENTS}{globex.pk}/change/" not in html
    assert client.get(f"{EVENTS}{globex.pk}/change/").status_code == 302  # "does not exist"


def test_staff_without_an_audit_role_see_nothing(client, organization, make_member):
    staff = _staff(make_member, organization, Role.OPERATOR)
    client.force_login(staff)
    # The role lacks audit.view: the admin refuses the list, as the API does.
    assert client.get(EVENTS).status_code == 403


def test_an_admin_change_is_one_event_with_the_admins_request(
    admin_client, admin_user, organization
):
    Membership.objects.create(user=admin_user, organization=organization, role=Role.OWNER)
    before = AuditEvent.objects.filter(object_type="organization").count()
    response = admin_client.post(
        f"/admin/tenancy/organization/{organization.pk}/change/",
        _organization_form(organization, name="Acme Admin", slug="acme"),
    )
    assert response.status_code == 302
    events = AuditEvent.objects.filter(object_type="organization").order_by("-id")
    assert events.count() == before + 1
    event = events.first()
    assert event.action == "update"
    assert event.changes == {"name": ["Acme Networks", "Acme Admin"]}
    assert event.actor_email == admin_user.email
    assert event.cid == response["X-Request-ID"]
