"""The AWS provider against moto's server: sessions, connectivity tests, error codes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import botocore.credentials
import pytest
from botocore.config import Config

from apps.cloud.providers import ProviderConfig
from apps.cloud.providers.aws import (
    check_connectivity,
    client_factory,
    list_organization_members,
    session,
)
from apps.discovery.collectors import ProviderError
from tests.discovery.aws_fake import ACCOUNT, FakeAws

ROLE = "arn:aws:iam::210987654321:role/CloudPAMDiscovery"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAws]:
    with FakeAws() as fake:
        yield fake


@pytest.fixture
def aws(server: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWORKEREXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server.faults.clear()
    server.seen.clear()
    return server


def keys(aws: FakeAws, secret: str = SECRET) -> ProviderConfig:
    return ProviderConfig(
        provider="aws",
        external_id=ACCOUNT,
        auth_method="access_keys",
        options={"access_key_id": "AKIAEXAMPLEKEY"},
        secrets={"secret_access_key": secret} if secret else {},
        endpoint_url=aws.url,
    )


def role(aws: FakeAws) -> ProviderConfig:
    return ProviderConfig(
        provider="aws",
        external_id="210987654321",
        auth_method="assume_role",
        options={"role_arn": ROLE, "external_id": "cloudpam-7f3a9c"},
        endpoint_url=aws.url,
    )


def test_access_keys_reach_sts_through_the_endpoint_override(aws: FakeAws) -> None:
    result = check_connectivity(keys(aws))

    assert (result.ok, result.identity, result.error_code) == (
        True,
        f"arn:aws:sts::{ACCOUNT}:user/moto",
        "",
    )
    (call,) = aws.requests("GetCallerIdentity")
    assert call.access_key == "AKIAEXAMPLEKEY"


def test_assume_role_answers_with_the_assumed_identity(aws: FakeAws) -> None:
    result = check_connectivity(role(aws))

    assert result.ok
    assert result.identity == "arn:aws:sts::210987654321:assumed-role/CloudPAMDiscovery/cloudpam"
    (assumed,) = aws.requests("AssumeRole")
    assert assumed.access_key == "AKIAWORKEREXAMPLE"
    assert (assumed.params["RoleArn"], assumed.params["ExternalId"]) == (ROLE, "cloudpam-7f3a9c")
    assert assumed.params["RoleSessionName"] == "cloudpam"


def test_default_chain_uses_the_workers_credentials(aws: FakeAws) -> None:
    config = ProviderConfig("aws", ACCOUNT, "default_chain", endpoint_url=aws.url)

    assert check_connectivity(config).ok
    (call,) = aws.requests("GetCallerIdentity")
    assert call.access_key == "AKIAWORKEREXAMPLE"


@pytest.mark.parametrize(
    ("action", "status", "code", "expected"),
    [
        ("GetCallerIdentity", 403, "InvalidClientTokenId", "invalid_credentials"),
        ("GetCallerIdentity", 403, "SignatureDoesNotMatch", "invalid_credentials"),
        ("GetCallerIdentity", 400, "ExpiredToken", "invalid_credentials"),
        ("GetCallerIdentity", 403, "AccessDenied", "access_denied"),
        ("GetCallerIdentity", 400, "Throttling", "throttled"),
        ("GetCallerIdentity", 500, "InternalFailure", "provider_error"),
        ("AssumeRole", 403, "AccessDenied", "access_denied"),
        # Codes AWS may add later are named by their HTTP status.
        ("GetCallerIdentity", 403, "NewKindOfDenial", "access_denied"),
        ("GetCallerIdentity", 401, "NewKindOfBadKey", "invalid_credentials"),
        ("GetCallerIdentity", 400, "ValidationError", "provider_error"),
    ],
)
def test_failures_are_named_in_the_providers_words_after_one_try(
    aws: FakeAws, action: str, status: int, code: str, expected: str
) -> None:
    aws.fail(action=action, status=status, code=code, message=f"{code}: as AWS says it")

    result = check_connectivity(role(aws))

    assert (result.ok, result.error_code, result.error_message, result.identity) == (
        False,
        expected,
        f"{code}: as AWS says it",
        "",
    )
    assert len(aws.requests(action)) == 1


def test_no_answer_within_the_timeout_is_a_timeout(aws: FakeAws) -> None:
    aws.fail(action="GetCallerIdentity", status=0, delay=3, times=1)

    started = time.monotonic()
    result = check_connectivity(keys(aws), timeout=0.5)

    assert time.monotonic() - started < 2
    assert (result.ok, result.error_code) == (False, "timeout")


def test_a_missing_secret_is_invalid_credentials_without_a_call(aws: FakeAws) -> None:
    result = check_connectivity(keys(aws, secret=""))

    assert (result.ok, result.error_code) == (False, "invalid_credentials")
    assert aws.seen == []


def test_an_unreachable_endpoint_is_a_provider_error(aws: FakeAws) -> None:
    config = ProviderConfig(
        "aws",
        ACCOUNT,
        "access_keys",
        options={"access_key_id": "AKIAEXAMPLEKEY"},
        secrets={"secret_access_key": SECRET},
        endpoint_url="http://127.0.0.1:9",
    )

    result = check_connectivity(config, timeout=2)

    assert (result.ok, result.error_code) == (False, "provider_error")
    assert "Could not connect to the endpoint URL" in result.error_message
    assert SECRET not in result.error_message


def test_assumed_credentials_are_renewed_before_they_expire(
    aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = session(role(aws))
    sts = shared.client("sts", region_name="us-east-1", endpoint_url=aws.url)
    sts.get_caller_identity()
    credentials = shared.get_credentials()
    # moto's role credentials last an hour: 58 minutes on, they are inside botocore's
    # mandatory refresh window, so the next call assumes the role again first.
    later = botocore.credentials._local_now() + timedelta(minutes=58)
    monkeypatch.setattr(credentials, "_time_fetcher", lambda: later)
    monkeypatch.setattr(botocore.credentials, "_local_now", lambda: later)

    sts.get_caller_identity()

    assert len(aws.requests("AssumeRole")) == 2
    assert len(aws.requests("GetCallerIdentity")) == 2


def test_every_client_honours_the_endpoint_and_the_callers_config(aws: FakeAws) -> None:
    make = client_factory(keys(aws))

    ec2 = make("ec2", "ap-southeast-2", config=Config(read_timeout=3))

    assert ec2.meta.endpoint_url == aws.url
    assert ec2.meta.region_name == "ap-southeast-2"
    assert ec2.meta.config.read_timeout == 3
    assert ec2.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}


def test_an_account_outside_any_organization_lists_no_members_but_says_why(aws: FakeAws) -> None:
    aws.fail(
        action="ListAccounts",
        status=400,
        code="AWSOrganizationsNotInUseException",
        message="Your account is not a member of an organization.",
    )

    with pytest.raises(ProviderError) as caught:
        list_organization_members(keys(aws))

    assert (caught.value.code, caught.value.message) == (
        "not_found",
        "Your account is not a member of an organization.",
    )
