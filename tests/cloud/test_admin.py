"""The cloud account admin: the role rules of the API, writes through services, secrets hidden."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.cloud import crypto
from apps.cloud.models import CloudAccount
from apps.tenancy.choices import Role
from tests.cloud.conftest import AWS_SECRET

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/cloud/cloudaccount/"


@pytest.fixture
def staff(organization, make_member):
    def make(role: str) -> Client:
        member = make_member(organization, role, email=f"staff-{role}@example.com")
        member.is_staff = True
        member.save()
        client = Client()
        client.force_login(member)
        return client

    return make


def change_data(account, **overrides):
    data = {
        "name": account.name,
        "external_id": account.external_id,
        "auth_method": account.auth_method,
        "regions": "",
        "role_arn": "",
        "role_external_id": "",
        "member_role_name": account.member_role_name,
        "access_key_id": account.access_key_id,
        "tenant_id": "",
        "client_id": "",
        "sync_enabled": "on",
        "sync_interval_minutes": "60",
        "requests_per_second": "10.0",
        "status": account.status,
        "secret_access_key": "",
        "service_account_key": "",
        "client_secret": "",
    }
    data.update(overrides)
    return data


def test_the_changelist_is_limited_to_the_organization(staff, aws_account, other_organization):
    from apps.cloud.services import account_create
    from tests.actors import TEST_ACTOR

    account_create(
        actor=TEST_ACTOR,
        organization=other_organization,
        name="foreign",
        provider="gcp",
        external_id="foreign-project",
        auth_method="default_chain",
    )
    html = staff(Role.VIEWER).get(CHANGELIST).content.decode()
    assert "Production" in html
    assert "foreign" not in html


def test_a_viewer_may_only_look(staff, aws_account):
    viewer = staff(Role.VIEWER)
    page = viewer.get(f"{CHANGELIST}{aws_account.pk}/change/")
    assert page.status_code == 200
    assert 'name="secret_access_key"' not in page.content.decode()
    response = viewer.post(
        f"{CHANGELIST}{aws_account.pk}/change/", change_data(aws_account, name="x")
    )
    assert response.status_code == 403
    assert viewer.get(f"{CHANGELIST}add/").status_code == 403


def test_an_operator_changes_through_the_service_but_sees_no_secret_inputs(staff, aws_account):
    operator = staff(Role.OPERATOR)
    page = operator.get(f"{CHANGELIST}{aws_account.pk}/change/").content.decode()
    assert 'name="secret_access_key"' not in page
    response = operator.post(
        f"{CHANGELIST}{aws_account.pk}/change/", change_data(aws_account, name="Renamed")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    aws_account.refresh_from_db()
    assert aws_account.name == "Renamed"
    assert AuditEvent.objects.filter(action="update", object_type="cloudaccount").exists()
    refused = operator.post(
        f"{CHANGELIST}{aws_account.pk}/change/",
        change_data(aws_account, name="Sneaky", secret_access_key=AWS_SECRET),
    )
    assert "permission &#x27;accounts.credentials&#x27;" in refused.content.decode()
    aws_account.refresh_from_db()
    assert not aws_account.credentials_set
    assert aws_account.name == "Renamed"
    assert AWS_SECRET not in refused.content.decode()


def test_an_admin_writes_credentials_that_the_form_never_shows(staff, aws_account):
    admin = staff(Role.ADMIN)
    url = f"{CHANGELIST}{aws_account.pk}/change/"
    response = admin.post(url, change_data(aws_account, secret_access_key=AWS_SECRET))
    assert response.status_code == 302, response.content.decode()[:2000]
    aws_account.refresh_from_db()
    assert crypto.decrypt_secrets(aws_account.credentials_encrypted) == {
        "secret_access_key": AWS_SECRET
    }
    html = admin.get(url).content.decode()
    assert 'name="secret_access_key"' in html
    assert AWS_SECRET not in html
    assert aws_account.credentials_encrypted not in html
    # Saving again with the secret left empty keeps what is stored.
    admin.post(url, change_data(aws_account, name="again"))
    aws_account.refresh_from_db()
    assert aws_account.credentials_set


def test_a_service_error_is_a_form_error(staff, aws_account):
    response = staff(Role.OPERATOR).post(
        f"{CHANGELIST}{aws_account.pk}/change/", change_data(aws_account, external_id="12")
    )
    assert response.status_code == 200
    assert "An AWS account id is 12 digits." in response.content.decode()


def test_the_delete_action_soft_deletes(staff, aws_account):
    response = staff(Role.OPERATOR).post(
        CHANGELIST, {"action": "soft_delete", "_selected_action": [aws_account.pk]}
    )
    assert response.status_code == 302
    aws_account.refresh_from_db()
    assert aws_account.deleted_at is not None
    assert CloudAccount.objects.filter(pk=aws_account.pk).exists()


def test_regions_are_typed_as_names_not_a_json_list(staff, aws_account):
    admin = staff(Role.ADMIN)
    url = f"{CHANGELIST}{aws_account.pk}/change/"
    response = admin.post(url, change_data(aws_account, regions="us-east-1, eu-west-1"))
    assert response.status_code == 302, response.content.decode()[:2000]
    aws_account.refresh_from_db()
    assert aws_account.regions == ["us-east-1", "eu-west-1"]
    assert 'value="us-east-1, eu-west-1"' in admin.get(url).content.decode()
