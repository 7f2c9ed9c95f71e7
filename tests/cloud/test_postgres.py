"""Cloud accounts under PostgreSQL row-level security, as the non-superuser application role."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from apps.cloud import crypto, services
from apps.cloud.models import CloudAccount
from apps.tenancy import rls
from apps.tenancy.rls import tenant_context
from tests.actors import TEST_ACTOR
from tests.cloud.conftest import AWS_SECRET
from tests.rls import become

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def two_accounts(organization, other_organization):
    accounts = []
    for owner in (organization, other_organization):
        account = services.account_create(
            actor=TEST_ACTOR,
            organization=owner,
            name=f"account of {owner.slug}",
            provider="aws",
            external_id="111122223333",
            auth_method="access_keys",
            access_key_id="AKIAIOSFODNN7EXAMPLE",
        )
        accounts.append(
            services.account_credentials_set(
                account=account, actor=TEST_ACTOR, credentials={"secret_access_key": AWS_SECRET}
            )
        )
    return accounts


def test_the_account_table_is_protected():
    assert rls.table_protection()["cloud_cloudaccount"] == {
        "enabled": True,
        "forced": True,
        "policy": True,
    }


def test_a_forgotten_filter_sees_one_organization(two_accounts, organization, app_role):
    become(app_role)
    assert CloudAccount.objects.count() == 0
    with tenant_context(organization):
        assert [a.name for a in CloudAccount.objects.all()] == ["account of acme"]


def test_the_api_lists_only_the_organizations_accounts(
    two_accounts, token_client, organization, app_role
):
    client = token_client(organization, "operator")
    become(app_role)
    response = client.get("/api/v1/accounts/")
    assert [a["name"] for a in response.json()["results"]] == ["account of acme"]
    assert client.get(f"/api/v1/accounts/{two_accounts[1].pk}/").status_code == 404


def test_rotation_reaches_every_organization_as_the_application_role(
    two_accounts, settings, app_role
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.CLOUDPAM_ENCRYPTION_KEYS = [old]
    for account in two_accounts:
        account.credentials_encrypted = crypto.encrypt_secrets({"secret_access_key": AWS_SECRET})
        account.save()
    settings.CLOUDPAM_ENCRYPTION_KEYS = [new, old]
    become(app_role)
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "2 re-encrypted" in out.getvalue()
