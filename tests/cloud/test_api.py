"""The cloud account API of SPEC.md section 4."""

from __future__ import annotations

import logging

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.cloud.models import CloudAccount
from apps.cloud.providers import ConnectivityResult, OrganizationMember
from apps.discovery.collectors.base import ProviderError, record
from apps.tenancy.choices import Role
from tests.cloud.conftest import AWS_SECRET, AZURE_SECRET, GCP_KEY

pytestmark = pytest.mark.django_db

LIST = "/api/v1/accounts/"


def detail(account) -> str:
    return f"{LIST}{account.pk}/"


AWS = {
    "name": "Production",
    "provider": "aws",
    "external_id": "111122223333",
    "auth_method": "assume_role",
    "role_arn": "arn:aws:iam::111122223333:role/CloudPAM",
    "role_external_id": "cloudpam-acme",
    "regions": ["eu-west-1", "us-east-1"],
}


@pytest.fixture
def operator(organization, client_for):
    return client_for(organization, Role.OPERATOR)


@pytest.fixture
def admin(organization, client_for):
    return client_for(organization, Role.ADMIN)


def events(action, pk=None):
    found = AuditEvent.objects.filter(action=action, object_type="cloudaccount")
    return found if pk is None else found.filter(object_id=pk)


def error_of(response):
    return response.json()["error"]


# Create, read, change, delete


def test_an_operator_creates_an_account_pending_without_credentials(operator):
    response = operator.post(LIST, AWS, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["credentials_set"] is False
    assert body["credentials_hint"] == ""
    assert body["member_role_name"] == "OrganizationAccountAccessRole"
    assert body["regions"] == ["eu-west-1", "us-east-1"]
    assert body["sync_interval_minutes"] == 60
    assert body["auto_import"] is False
    assert body["last_error"] is None
    event = events("create", body["id"]).get()
    assert event.actor_id == operator.user.pk


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"external_id": "1234"}, "external_id", "An AWS account id is 12 digits."),
        ({"auth_method": "client_secret"}, "auth_method", "is not an authentication method"),
        ({"tenant_id": "contoso.onmicrosoft.com"}, "tenant_id", "does not apply to AWS"),
        ({"role_arn": ""}, "role_arn", "The method 'assume_role' needs this field."),
        ({"role_arn": "arn:aws:s3:::bucket"}, "role_arn", "A role ARN looks like"),
        ({"regions": ["eu west"]}, "regions", "is not a region"),
        ({"sync_interval_minutes": 1}, "sync_interval_minutes", "greater than or equal to 5"),
        ({"sync_enabled": "yes"}, "sync_enabled", "Must be a valid boolean."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(operator, body, field, message):
    response = operator.post(LIST, {**AWS, **body}, format="json")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert message in " ".join(error["fields"][field])
    assert not CloudAccount.objects.exists()


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        (
            {"provider": "gcp", "external_id": "acme-network", "auth_method": "default_chain"},
            {"external_id": "acme-network"},
        ),
        (
            {
                "provider": "azure",
                "external_id": "0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0",
                "auth_method": "client_secret",
                "tenant_id": "contoso.onmicrosoft.com",
                "client_id": "11111111-2222-3333-4444-555555555555",
            },
            {"external_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"},
        ),
    ],
)
def test_each_provider_takes_its_own_fields(operator, body, stored):
    response = operator.post(LIST, {"name": "n", **body}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["external_id"] == stored["external_id"]
    assert response.json()["member_role_name"] == ""


def test_an_external_id_is_unique_per_organization_and_provider_among_live_accounts(
    operator, other_organization, client_for
):
    first = operator.post(LIST, AWS, format="json").json()
    again = operator.post(LIST, {**AWS, "name": "again"}, format="json")
    assert again.status_code == 409
    assert error_of(again)["code"] == "conflict"
    assert "external_id" in error_of(again)["fields"]
    elsewhere = client_for(other_organization, Role.OPERATOR).post(LIST, AWS, format="json")
    assert elsewhere.status_code == 201
    assert operator.delete(f"{LIST}{first['id']}/").status_code == 204
    assert operator.post(LIST, AWS, format="json").status_code == 201


def test_the_quota_of_cloud_accounts_is_a_429_naming_it(organization, operator):
    organization.quotas = {"max_cloud_accounts": 1}
    organization.save()
    assert operator.post(LIST, AWS, format="json").status_code == 201
    response = operator.post(LIST, {**AWS, "external_id": "444455556666"}, format="json")
    assert response.status_code == 429
    assert error_of(response)["code"] == "quota_exceeded"
    assert "max_cloud_accounts" in error_of(response)["message"]


def test_list_filters_by_provider_status_parent_and_q(operator, django_assert_max_num_queries):
    parent = operator.post(LIST, AWS, format="json").json()
    member = operator.post(
        LIST,
        {**AWS, "name": "Member", "external_id": "444455556666", "parent": parent["id"]},
        format="json",
    ).json()
    operator.post(
        LIST,
        {
            "name": "Data",
            "provider": "gcp",
            "external_id": "data-lake",
            "auth_method": "default_chain",
        },
        format="json",
    )
    operator.patch(f"{LIST}{member['id']}/", {"status": "disabled"}, format="json")

    def names(query: str) -> list[str]:
        response = operator.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.content
        return [account["name"] for account in response.json()["results"]]

    assert names("provider=gcp") == ["Data"]
    assert names("status=disabled") == ["Member"]
    assert names(f"parent={parent['id']}") == ["Member"]
    assert names("parent=null") == ["Data", "Production"]
    assert names("q=4444") == ["Member"]
    assert names("q=prod") == ["Production"]
    assert names("ordering=-name") == ["Production", "Member", "Data"]
    with django_assert_max_num_queries(12):
        assert operator.get(LIST).json()["count"] == 3
    for bad in ("provider=oracle", "status=", "parent=x", "ordering=secret"):
        response = operator.get(f"{LIST}?{bad}")
        assert response.status_code == 400, bad
        assert error_of(response)["code"] == "validation_error"


def test_a_parent_of_another_organization_is_a_404_naming_the_field(
    operator, other_organization, client_for
):
    foreign = client_for(other_organization, Role.OPERATOR).post(LIST, AWS, format="json").json()
    response = operator.post(
        LIST, {**AWS, "external_id": "444455556666", "parent": foreign["id"]}, format="json"
    )
    assert response.status_code == 404
    assert "parent" in error_of(response)["fields"]


def test_patch_changes_fields_and_a_new_method_clears_the_credentials(
    operator, aws_account_with_keys
):
    account = aws_account_with_keys
    response = operator.patch(
        detail(account), {"name": "Prod", "regions": ["eu-central-1"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["credentials_set"] is True
    response = operator.patch(
        detail(account),
        {"auth_method": "assume_role", "role_arn": "arn:aws:iam::111122223333:role/CloudPAM"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["regions"]) == ("Prod", ["eu-central-1"])
    assert body["credentials_set"] is False
    assert events("update", account.pk).count() == 2


def test_status_can_only_be_disabled_or_enabled_again(operator, aws_account):
    assert (
        operator.patch(detail(aws_account), {"status": "disabled"}, format="json").json()["status"]
        == "disabled"
    )
    assert (
        operator.patch(detail(aws_account), {"status": "pending"}, format="json").json()["status"]
        == "pending"
    )
    response = operator.patch(detail(aws_account), {"status": "healthy"}, format="json")
    assert response.status_code == 400


def test_the_provider_never_changes(operator, aws_account):
    response = operator.patch(detail(aws_account), {"provider": "gcp"}, format="json")
    assert response.status_code == 200
    assert response.json()["provider"] == "aws"


def test_delete_is_soft_and_audited(operator, aws_account):
    assert operator.delete(detail(aws_account)).status_code == 204
    assert operator.get(detail(aws_account)).status_code == 404
    aws_account.refresh_from_db()
    assert aws_account.deleted_at is not None
    assert events("delete", aws_account.pk).exists()


# Credentials


def test_only_admins_write_credentials(operator, admin, aws_account):
    response = operator.put(
        f"{detail(aws_account)}credentials/", {"secret_access_key": AWS_SECRET}, format="json"
    )
    assert response.status_code == 403
    assert "'accounts.credentials'" in error_of(response)["message"]
    response = admin.put(
        f"{detail(aws_account)}credentials/", {"secret_access_key": AWS_SECRET}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["credentials_set"] is True
    assert response.json()["credentials_hint"] == "MPLE"
    body = admin.get(detail(aws_account)).json()
    assert (body["credentials_set"], body["credentials_hint"]) == (True, "MPLE")
    event = events("credentials_set", aws_account.pk).get()
    assert "credentials_encrypted" not in event.changes


@pytest.mark.parametrize(
    ("account", "credentials", "hint"),
    [
        (
            {
                "provider": "gcp",
                "external_id": "acme-network",
                "auth_method": "service_account_key",
            },
            {"service_account_key": GCP_KEY},
            "1234",
        ),
        (
            {
                "provider": "azure",
                "external_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                "auth_method": "client_secret",
                "tenant_id": "contoso.onmicrosoft.com",
                "client_id": "11111111-2222-3333-4444-555555555555",
            },
            {"client_secret": AZURE_SECRET},
            "5555",
        ),
    ],
)
def test_gcp_and_azure_credentials_and_their_hints(admin, account, credentials, hint):
    created = admin.post(LIST, {"name": "n", **account}, format="json").json()
    response = admin.put(f"{LIST}{created['id']}/credentials/", credentials, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["credentials_hint"] == hint


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "secret_access_key"),
        ({"secret_access_key": "short"}, "secret_access_key"),
        ({"client_secret": AZURE_SECRET}, "client_secret"),
        ({"secret_access_key": AWS_SECRET, "access_key_id": "not a key id"}, "access_key_id"),
    ],
)
def test_bad_credentials_are_a_400_and_store_nothing(admin, aws_account, body, field):
    response = admin.put(f"{detail(aws_account)}credentials/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_of(response)["fields"]
    aws_account.refresh_from_db()
    assert not aws_account.credentials_set


def test_a_method_without_stored_credentials_refuses_them(admin):
    created = admin.post(
        LIST, {**AWS, "auth_method": "default_chain", "role_arn": ""}, format="json"
    ).json()
    response = admin.put(
        f"{LIST}{created['id']}/credentials/", {"secret_access_key": AWS_SECRET}, format="json"
    )
    assert response.status_code == 400
    assert "takes no stored credentials" in error_of(response)["message"]


# Connectivity test


def test_a_test_without_credentials_fails_without_calling_the_cloud(operator, aws_account):
    response = operator.post(f"{detail(aws_account)}test/")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == "invalid_credentials"
    assert body["account"]["status"] == "error"
    assert body["account"]["last_error"]["code"] == "invalid_credentials"
    assert events("connectivity_check").count() == 1


def test_a_successful_test_makes_the_account_healthy(
    operator, aws_account_with_keys, scripted_provider
):
    response = operator.post(f"{detail(aws_account_with_keys)}test/")
    body = response.json()
    assert body["ok"] is True
    assert body["identity"] == "arn:aws:iam::111122223333:root"
    assert "error" not in body
    assert body["account"]["status"] == "healthy"
    assert body["account"]["last_checked_at"] is not None
    config = scripted_provider.configs[0]
    assert config.secrets == {"secret_access_key": AWS_SECRET}
    assert config.options["access_key_id"] == "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize(
    ("code", "status"), [("access_denied", "error"), ("throttled", "degraded")]
)
def test_a_failed_test_names_the_cause(
    operator, aws_account_with_keys, scripted_provider, code, status
):
    scripted_provider.connectivity = ConnectivityResult(
        ok=False, checked_at=timezone.now(), error_code=code, error_message="User is not authorized"
    )
    body = operator.post(f"{detail(aws_account_with_keys)}test/").json()
    assert body["ok"] is False
    assert body["error"] == {"code": code, "message": "User is not authorized"}
    assert body["account"]["status"] == status


def test_a_provider_module_that_raises_is_a_provider_error_not_a_500(
    operator, aws_account_with_keys, scripted_provider, caplog
):
    scripted_provider.failure = RuntimeError(f"boom {AWS_SECRET}")
    # The project's logging does not propagate to the root logger caplog listens on.
    logging.getLogger("apps.cloud").addHandler(caplog.handler)
    try:
        response = operator.post(f"{detail(aws_account_with_keys)}test/")
    finally:
        logging.getLogger("apps.cloud").removeHandler(caplog.handler)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == "provider_error"
    assert AWS_SECRET not in response.content.decode()
    (logged,) = [record for record in caplog.records if record.name == "apps.cloud"]
    assert (
        logged.getMessage()
        == f"connectivity test of account {aws_account_with_keys.pk} raised RuntimeError"
    )
    # Neither the message nor a traceback of the exception, which quotes the secret.
    assert logged.exc_info is None


def test_endpoint_overrides_reach_the_provider(
    operator, aws_account_with_keys, scripted_provider, settings
):
    settings.CLOUDPAM_AWS_ENDPOINT_URL = "http://127.0.0.1:5000"
    operator.post(f"{detail(aws_account_with_keys)}test/")
    assert scripted_provider.configs[0].endpoint_url == "http://127.0.0.1:5000"


# AWS Organizations


def members(*rows):
    return [OrganizationMember(account_id=i, name=n, email=f"{n}@x", status=s) for i, n, s in rows]


def test_discover_members_creates_updates_and_disables_idempotently(
    operator, aws_account_with_keys, scripted_provider
):
    parent = aws_account_with_keys
    parent.role_external_id = "cloudpam-acme"
    parent.save()
    scripted_provider.members = members(
        ("111122223333", "Management", "ACTIVE"),
        ("444455556666", "Dev", "ACTIVE"),
        ("777788889999", "Old", "SUSPENDED"),
    )
    url = f"{detail(parent)}discover-members/"
    body = operator.post(url).json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    by_id = {m["external_id"]: m for m in body["members"]}
    assert set(by_id) == {"444455556666", "777788889999"}
    dev = by_id["444455556666"]
    assert dev["parent"] == parent.pk
    assert dev["auth_method"] == "assume_role"
    assert dev["role_arn"] == "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"
    assert dev["role_external_id"] == "cloudpam-acme"
    assert dev["status"] == "pending"
    assert by_id["777788889999"]["status"] == "disabled"
    assert events("discover_members").count() == 2

    again = operator.post(url).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert CloudAccount.objects.filter(parent=parent).count() == 2

    scripted_provider.members = members(
        ("444455556666", "Dev", "SUSPENDED"), ("777788889999", "Old", "ACTIVE")
    )
    third = operator.post(url).json()
    assert (third["created"], third["updated"]) == (0, 2)
    statuses = {m["external_id"]: m["status"] for m in third["members"]}
    assert statuses == {"444455556666": "disabled", "777788889999": "pending"}


def test_a_member_is_reached_through_its_parent(operator, aws_account_with_keys, scripted_provider):
    scripted_provider.members = members(("444455556666", "Dev", "ACTIVE"))
    member = operator.post(f"{detail(aws_account_with_keys)}discover-members/").json()["members"][0]
    scripted_provider.configs.clear()
    assert operator.post(f"{LIST}{member['id']}/test/").json()["ok"] is True
    config = scripted_provider.configs[0]
    assert config.external_id == "444455556666"
    assert config.secrets == {"secret_access_key": AWS_SECRET}
    assert config.options["role_arn"].endswith(":444455556666:role/OrganizationAccountAccessRole")


def test_discover_members_respects_the_quota(
    organization, operator, aws_account_with_keys, scripted_provider
):
    organization.quotas = {"max_cloud_accounts": 2}
    organization.save()
    scripted_provider.members = members(
        ("444455556666", "a", "ACTIVE"), ("777788889999", "b", "ACTIVE")
    )
    response = operator.post(f"{detail(aws_account_with_keys)}discover-members/")
    assert response.status_code == 429
    assert CloudAccount.objects.count() == 1


def test_discover_members_is_for_aws_and_names_provider_failures(
    operator, aws_account_with_keys, scripted_provider
):
    gcp = operator.post(
        LIST,
        {
            "name": "g",
            "provider": "gcp",
            "external_id": "acme-network",
            "auth_method": "default_chain",
        },
        format="json",
    ).json()
    response = operator.post(f"{LIST}{gcp['id']}/discover-members/")
    assert response.status_code == 400
    assert "AWS Organization" in error_of(response)["message"]
    scripted_provider.failure = ProviderError("access_denied", "not a management account")
    response = operator.post(f"{detail(aws_account_with_keys)}discover-members/")
    assert response.status_code == 502
    assert error_of(response) == {
        "code": "provider_error",
        "message": "not a management account",
        "fields": {"provider": ["access_denied"]},
    }


# Collection


def test_sync_queues_a_run_that_counts_records_per_type_and_region(
    operator, aws_account_with_keys, scripted_provider, django_capture_on_commit_callbacks
):
    scripted_provider.regions = {
        "eu-west-1": [
            record("vpc-1", "10.0.0.0/16", region="eu-west-1"),
            record("vpc-1", "2600:1f18::/56", region="eu-west-1"),
            record("subnet-1", "10.0.1.0/24", resource_type="subnet", region="eu-west-1"),
        ],
        "us-east-1": ProviderError("provider_error", "500 from DescribeVpcs"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(f"{detail(aws_account_with_keys)}sync/")
    assert response.status_code == 202, response.content
    run = response.json()
    assert (run["account"], run["trigger"], run["status"]) == (
        aws_account_with_keys.pk,
        "manual",
        "queued",
    )
    done = operator.get(f"/api/v1/discovery/runs/{run['id']}/").json()
    assert done["status"] == "partial"
    assert done["counts"]["new"] == 3
    account = operator.get(detail(aws_account_with_keys)).json()
    collection = account["last_collection"]
    assert collection["total"] == 3
    assert collection["complete"] is False
    assert collection["counts"] == [
        {"resource_type": "subnet", "region": "eu-west-1", "count": 1},
        {"resource_type": "vpc", "region": "eu-west-1", "count": 2},
    ]
    assert [(r["region"], r["ok"], r["error_code"]) for r in collection["regions"]] == [
        ("eu-west-1", True, None),
        ("us-east-1", False, "provider_error"),
    ]
    assert account["status"] == "degraded"
    assert account["last_error"]["message"] == "us-east-1: 500 from DescribeVpcs"
    event = events("collect").get()
    assert event.additional_data == {"records": 3}
    sync_event = AuditEvent.objects.get(action="sync", object_type="syncrun")
    assert sync_event.additional_data["counts"]["seen"] == 3


def test_sync_of_a_disabled_account_is_a_conflict(operator, aws_account_with_keys):
    operator.patch(detail(aws_account_with_keys), {"status": "disabled"}, format="json")
    response = operator.post(f"{detail(aws_account_with_keys)}sync/")
    assert response.status_code == 409


def test_a_missing_provider_module_is_a_clear_400(operator, aws_account_with_keys, monkeypatch):
    import importlib

    real = importlib.import_module

    def missing(name, *args):
        if name.startswith(("apps.cloud.providers.", "apps.discovery.collectors.")):
            raise ModuleNotFoundError(name=name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing)
    response = operator.post(f"{detail(aws_account_with_keys)}sync/")
    assert response.status_code == 400
    assert error_of(response)["code"] == "configuration_error"
