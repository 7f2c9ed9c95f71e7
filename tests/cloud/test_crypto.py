"""Credentials at rest: MultiFernet over CLOUDPAM_ENCRYPTION_KEYS, rotation, no key, no storage."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from apps.cloud import crypto, services
from apps.cloud.models import CloudAccount
from apps.cloud.selectors import config_of
from apps.tenancy.choices import Role
from tests.actors import TEST_ACTOR
from tests.cloud.conftest import AWS_SECRET

pytestmark = pytest.mark.django_db

KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()


def make_accounts(organization, other_organization, count=3):
    accounts = []
    for number in range(count):
        owner = organization if number % 2 == 0 else other_organization
        account = services.account_create(
            actor=TEST_ACTOR,
            organization=owner,
            name=f"a{number}",
            provider="aws",
            external_id=f"{number:012d}",
            auth_method="access_keys",
            access_key_id=f"AKIA{number:016d}",
        )
        accounts.append(
            services.account_credentials_set(
                account=account,
                actor=TEST_ACTOR,
                credentials={"secret_access_key": f"{AWS_SECRET}{number}"},
            )
        )
    return accounts


def rotate() -> str:
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    return out.getvalue()


def test_secrets_round_trip_and_the_ciphertext_holds_no_plaintext(settings):
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_1]
    token = crypto.encrypt_secrets({"secret_access_key": AWS_SECRET})
    assert AWS_SECRET not in token
    assert crypto.decrypt_secrets(token) == {"secret_access_key": AWS_SECRET}
    assert Fernet(KEY_1).decrypt(token.encode())


def test_rotating_keys_keeps_every_account_usable(settings, organization, other_organization):
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_1]
    accounts = make_accounts(organization, other_organization)
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_2, KEY_1]
    assert rotate().strip() == (
        "3 account(s) with credentials: 3 re-encrypted, 0 already on the newest key, 0 unreadable."
    )
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_2]
    for number, account in enumerate(accounts):
        account.refresh_from_db()
        assert Fernet(KEY_2).decrypt(account.credentials_encrypted.encode())
        assert config_of(account).secrets == {"secret_access_key": f"{AWS_SECRET}{number}"}
    assert "0 re-encrypted, 3 already on the newest key" in rotate()


def test_rotation_reports_rows_no_key_decrypts(settings, organization, other_organization):
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_1]
    (account,) = make_accounts(organization, other_organization, count=1)
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_2]
    with pytest.raises(CommandError, match=f"account\\(s\\) {account.pk}: add the key"):
        rotate()
    account.refresh_from_db()
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_1]
    assert config_of(account).secrets == {"secret_access_key": f"{AWS_SECRET}0"}


def test_an_account_whose_key_is_gone_is_a_clear_error_not_a_500(
    settings, organization, client_for, aws_account_with_keys
):
    settings.CLOUDPAM_ENCRYPTION_KEYS = [KEY_1]
    client = client_for(organization, Role.OPERATOR)
    response = client.post(f"/api/v1/accounts/{aws_account_with_keys.pk}/test/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "configuration_error"
    assert "cannot be decrypted" in response.json()["error"]["message"]


def test_production_without_a_key_refuses_credentials_and_stores_nothing(
    settings, organization, client_for, aws_account
):
    settings.CLOUDPAM_ENCRYPTION_KEYS = []
    settings.CLOUDPAM_DEV_ENCRYPTION_KEY = False
    client = client_for(organization, Role.ADMIN)
    response = client.put(
        f"/api/v1/accounts/{aws_account.pk}/credentials/",
        {"secret_access_key": AWS_SECRET},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "configuration_error",
        "message": "Credentials cannot be stored: no encryption key is configured "
        "(set CLOUDPAM_ENCRYPTION_KEYS).",
        "fields": {},
    }
    aws_account.refresh_from_db()
    assert aws_account.credentials_encrypted == ""
    assert not CloudAccount.objects.filter(credentials_encrypted__contains=AWS_SECRET).exists()
    with pytest.raises(CommandError, match="no encryption key"):
        rotate()


def test_a_malformed_key_is_a_configuration_error(settings, aws_account):
    settings.CLOUDPAM_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(crypto.ConfigurationError, match="not a Fernet key"):
        services.account_credentials_set(
            account=aws_account, actor=TEST_ACTOR, credentials={"secret_access_key": AWS_SECRET}
        )


def test_the_production_settings_derive_no_key():
    from cloudpam.settings import base

    assert base.CLOUDPAM_DEV_ENCRYPTION_KEY is False
