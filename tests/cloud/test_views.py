"""Console pages of cloud accounts: list, per-provider forms, inline test, account page."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.cloud.models import CloudAccount
from apps.discovery.collectors.base import record
from apps.discovery.models import SyncRun
from apps.tenancy.choices import Role
from tests.cloud.conftest import AWS_SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(organization, make_member):
    def make(role: str) -> Client:
        client = Client()
        client.force_login(make_member(organization, role))
        return client

    return make


def test_the_list_shows_provider_status_last_check_and_counts(
    console, aws_account_with_keys, scripted_provider, django_capture_on_commit_callbacks
):
    operator = console(Role.OPERATOR)
    scripted_provider.regions = {"eu-west-1": [record("vpc-1", "10.0.0.0/16", region="eu-west-1")]}
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(f"/accounts/{aws_account_with_keys.pk}/sync/")
    html = operator.get("/accounts/").content.decode()
    assert "Production" in html
    assert "111122223333" in html
    assert '<span class="badge info"' in html
    assert "Healthy" in html
    assert "Add AWS" in html
    assert 'aria-current="page">Cloud accounts' in html
    filtered = operator.get("/accounts/?provider=gcp").content.decode()
    assert "No account matches these filters." in filtered


def test_a_viewer_reads_but_gets_no_buttons_and_cannot_post(console, aws_account):
    viewer = console(Role.VIEWER)
    html = viewer.get(f"/accounts/{aws_account.pk}/").content.decode()
    assert "Production" in html
    assert "Test connectivity" not in html
    assert "Add AWS" not in viewer.get("/accounts/").content.decode()
    assert viewer.post(f"/accounts/{aws_account.pk}/test/").status_code == 403
    assert viewer.get("/accounts/new/?provider=aws").status_code == 403


def test_the_create_form_shows_only_the_providers_fields(console):
    operator = console(Role.OPERATOR)
    aws = operator.get("/accounts/new/?provider=aws").content.decode()
    assert 'name="role_arn"' in aws
    assert 'name="tenant_id"' not in aws
    azure = operator.get("/accounts/new/?provider=azure").content.decode()
    assert 'name="tenant_id"' in azure
    assert 'name="role_arn"' not in azure
    assert 'value="managed_identity"' in azure
    assert 'value="assume_role"' not in azure
    gcp = operator.get("/accounts/new/?provider=gcp").content.decode()
    assert 'name="role_arn"' not in gcp
    assert 'name="client_id"' not in gcp
    chooser = operator.get("/accounts/new/").content.decode()
    assert "Which cloud?" in chooser


def test_creating_through_the_console_runs_the_service(console):
    operator = console(Role.OPERATOR)
    response = operator.post(
        "/accounts/new/",
        {
            "provider": "gcp",
            "name": "Data",
            "external_id": "data-lake",
            "auth_method": "default_chain",
            "regions": "europe-west1, us-central1",
            "sync_enabled": "on",
            "sync_interval_minutes": "30",
            "requests_per_second": "5",
        },
    )
    account = CloudAccount.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/{account.pk}/"
    assert account.regions == ["europe-west1", "us-central1"]
    assert account.sync_interval_minutes == 30
    bad = operator.post(
        "/accounts/new/",
        {
            "provider": "gcp",
            "name": "x",
            "external_id": "data-lake",
            "auth_method": "default_chain",
            "sync_interval_minutes": "30",
            "requests_per_second": "5",
        },
    )
    assert bad.status_code == 400
    assert "already has the Google Cloud account data-lake" in bad.content.decode()


def test_an_admin_is_sent_to_the_credentials_page_which_never_shows_them(console):
    admin = console(Role.ADMIN)
    response = admin.post(
        "/accounts/new/",
        {
            "provider": "aws",
            "name": "Prod",
            "external_id": "111122223333",
            "auth_method": "access_keys",
            "member_role_name": "OrganizationAccountAccessRole",
            "sync_interval_minutes": "60",
            "requests_per_second": "10",
        },
    )
    account = CloudAccount.objects.get()
    assert response["Location"] == f"/accounts/{account.pk}/credentials/"
    page = f"/accounts/{account.pk}/credentials/"
    failed = admin.post(page, {"access_key_id": "bad id", "secret_access_key": AWS_SECRET})
    assert failed.status_code == 400
    assert AWS_SECRET not in failed.content.decode()
    saved = admin.post(
        page, {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": AWS_SECRET}
    )
    assert saved.status_code == 302
    account.refresh_from_db()
    assert account.credentials_set
    assert account.credentials_hint == "MPLE"
    html = admin.get(page).content.decode()
    assert "…MPLE" in html
    assert AWS_SECRET not in html


def test_operators_cannot_open_the_credentials_page(console, aws_account):
    assert console(Role.OPERATOR).get(f"/accounts/{aws_account.pk}/credentials/").status_code == 403


def test_the_test_button_answers_an_htmx_partial(console, aws_account_with_keys, scripted_provider):
    operator = console(Role.OPERATOR)
    response = operator.post(
        f"/accounts/{aws_account_with_keys.pk}/test/", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Connected" in html
    assert "arn:aws:iam::111122223333:root" in html
    page = operator.get(f"/accounts/{aws_account_with_keys.pk}/").content.decode()
    assert 'hx-post="/accounts/' in page
    assert 'hx-target="#test-result"' in page


def test_the_account_page_shows_the_last_collection_per_type_and_region(
    console, aws_account_with_keys, scripted_provider, django_capture_on_commit_callbacks
):
    from apps.discovery.collectors.base import ProviderError

    operator = console(Role.OPERATOR)
    scripted_provider.regions = {
        "eu-west-1": [
            record("vpc-1", "10.0.0.0/16", region="eu-west-1"),
            record("eni-1", "10.0.0.5", resource_type="eni", region="eu-west-1"),
        ],
        "us-east-1": ProviderError("throttled", "Rate exceeded"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"/accounts/{aws_account_with_keys.pk}/sync/", follow=True)
    run = SyncRun.objects.get()
    assert f"Sync run {run.pk} queued." in response.content.decode()
    html = operator.get(f"/accounts/{aws_account_with_keys.pk}/").content.decode()
    assert "<td>eni</td><td>eu-west-1</td><td>1</td>" in html
    assert "Rate exceeded" in html
    assert "incomplete" in html


def test_edit_and_delete(console, aws_account):
    operator = console(Role.OPERATOR)
    form = operator.get(f"/accounts/{aws_account.pk}/edit/").content.decode()
    assert 'value="AKIAIOSFODNN7EXAMPLE"' in form
    response = operator.post(
        f"/accounts/{aws_account.pk}/edit/",
        {
            "name": "Renamed",
            "external_id": "111122223333",
            "auth_method": "access_keys",
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "member_role_name": "OrganizationAccountAccessRole",
            "sync_interval_minutes": "60",
            "requests_per_second": "10",
        },
    )
    assert response.status_code == 302
    aws_account.refresh_from_db()
    assert aws_account.name == "Renamed"
    assert operator.post(f"/accounts/{aws_account.pk}/delete/").status_code == 302
    assert operator.get(f"/accounts/{aws_account.pk}/").status_code == 404


def test_another_organizations_account_is_a_404(console, other_organization):
    from apps.cloud.services import account_create
    from tests.actors import TEST_ACTOR

    foreign = account_create(
        actor=TEST_ACTOR,
        organization=other_organization,
        name="foreign",
        provider="gcp",
        external_id="foreign-project",
        auth_method="default_chain",
    )
    operator = console(Role.OPERATOR)
    for page in ("", "edit/", "delete/"):
        assert operator.get(f"/accounts/{foreign.pk}/{page}").status_code == 404
    assert operator.post(f"/accounts/{foreign.pk}/test/").status_code == 404
