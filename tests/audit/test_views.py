"""The console's audit page, event page and object history."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from apps.audit.models import AuditEvent
from apps.tenancy.choices import Role
from apps.tenancy.context import bind_membership
from apps.tenancy.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def renamed(organization, settle_chains):
    organization.name = "Acme <Renamed>"
    organization.save()
    settle_chains()
    return AuditEvent.objects.get(organization=organization, action="update")


def test_the_audit_page_lists_events_with_a_diff_and_exports(auditor_client, renamed):
    response = auditor_client.get("/audit/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Audit trail</h1>" in html
    assert '<td class="mono diff-before">Acme Networks</td>' in html
    assert '<td class="mono diff-after">Acme &lt;Renamed&gt;</td>' in html  # escaped
    assert "/api/v1/audit/events/export/?format=csv" in html
    assert "/api/v1/audit/events/export/?format=jsonl" in html
    assert "/api/v1/audit/events/export/?format=pdf" in html
    assert f'href="/audit/{renamed.pk}/"' in html


def test_the_audit_page_filters_and_keeps_the_filters_in_exports(auditor_client, renamed):
    response = auditor_client.get(
        "/audit/?action=update&object_type=organization&since=&until=&actor=&q="
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="badge"') == 1
    assert "export/?action=update&amp;object_type=organization&amp;format=csv" in html
    response = auditor_client.get("/audit/?action=token_revoked")
    assert "No events match this search." in response.content.decode()


def test_bad_filters_show_errors_not_events(auditor_client, renamed):
    response = auditor_client.get("/audit/?since=not-a-date")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid date/time." in html
    assert "Fix the filters above to see events." in html


def test_the_audit_page_paginates(auditor_client, organization):
    for number in range(60):
        organization.name = f"Acme {number}"
        organization.save()
    html = auditor_client.get("/audit/?action=update").content.decode()
    assert "Page 1 of 2 (60 events)" in html
    assert "?action=update&amp;page=2" in html
    assert "Page 2 of 2" in auditor_client.get("/audit/?action=update&page=2").content.decode()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_the_audit_pages_are_for_audit_readers_only(organization, client_for, renamed, role):
    client = client_for(organization, role)
    assert client.get("/audit/").status_code == 403
    assert client.get(f"/audit/{renamed.pk}/").status_code == 403


def test_the_audit_page_needs_a_login(client):
    response = client.get("/audit/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_event_page_shows_everything(auditor_client, renamed):
    html = auditor_client.get(f"/audit/{renamed.pk}/").content.decode()
    assert renamed.hash in html
    assert renamed.prev_hash in html
    assert "Before and after" in html
    assert "?object_type=organization&amp;object_id=" in html


def test_another_organizations_event_is_404(auditor_client, other_organization):
    foreign = AuditEvent.objects.get(organization=other_organization)
    assert auditor_client.get(f"/audit/{foreign.pk}/").status_code == 404


def test_the_navigation_shows_audit_to_readers(auditor_client, organization, client_for):
    assert 'href="/audit/"' in auditor_client.get("/").content.decode()


def _render_history(obj, user, organization):
    request = RequestFactory().get("/")
    request.user = user
    bind_membership(
        request, Membership.objects.filter(user=user, organization=organization).first()
    )
    template = Template("{% load audit_tags %}{% object_history obj %}")
    return template.render(Context({"request": request, "obj": obj}))


def test_object_history_shows_an_objects_own_events(organization, make_member, renamed):
    auditor = make_member(organization, Role.AUDITOR)
    html = _render_history(organization, auditor, organization)
    assert "History" in html
    assert html.count('<span class="badge">') == 2  # the update, the creation
    assert "Acme &lt;Renamed&gt;" in html


def test_object_history_is_hidden_from_roles_without_audit_access(
    organization, make_member, renamed
):
    viewer = make_member(organization, Role.VIEWER)
    assert _render_history(organization, viewer, organization).strip() == ""
