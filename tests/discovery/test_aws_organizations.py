"""AWS Organizations: a management account finds its members; each member sees its own estate.

moto keeps one state per account and picks it from the credentials: those of a role
assumed into ``arn:aws:iam::{member}:role/...`` act in the member's account, so the
collection of each member runs on credentials the production code obtained itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from apps.cloud.providers import OrganizationMember, ProviderConfig
from apps.cloud.providers.aws import client_factory, list_organization_members, member_config
from apps.discovery.collectors import AccountRef
from apps.discovery.collectors.aws import collect
from tests.discovery.aws_fake import ACCOUNT, FakeAws, build_estate, expected

REGION = "eu-west-1"
EXTERNAL_ID = "cloudpam-7f3a9c"


@dataclass(frozen=True)
class Organization:
    aws: FakeAws
    estates: dict[str, set]
    names: dict[str, str]


@pytest.fixture(scope="module")
def organization() -> Iterator[Organization]:
    """Build an Organization of two members, each with an estate unlike the other's."""
    with FakeAws() as aws:
        aws.reset()
        org = aws.client("organizations")
        org.create_organization(FeatureSet="ALL")
        estates: dict[str, set] = {}
        names: dict[str, str] = {}
        for octet, name in ((10, "payments"), (172, "analytics")):
            member = org.create_account(AccountName=name, Email=f"{name}@example.com")
            member_id = member["CreateAccountStatus"]["AccountId"]
            names[member_id] = name
            assumed = aws.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{member_id}:role/OrganizationAccountAccessRole",
                RoleSessionName="setup",
            )["Credentials"]
            ec2 = aws.client(
                "ec2",
                REGION,
                aws_access_key_id=assumed["AccessKeyId"],
                aws_secret_access_key=assumed["SecretAccessKey"],
                aws_session_token=assumed["SessionToken"],
            )
            estates[member_id] = build_estate(ec2, REGION, vpcs=1, first_octet=octet)
        # The management account has resources of its own, which no member may see.
        estates[ACCOUNT] = build_estate(aws.client("ec2", REGION), REGION, first_octet=100)
        yield Organization(aws, estates, names)


@pytest.fixture
def aws(organization: Organization, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    # The management account's role is assumed from the worker's own credentials.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWORKEREXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    fake = organization.aws
    fake.faults.clear()
    fake.seen.clear()
    return fake


def management(aws: FakeAws, **options: str) -> ProviderConfig:
    return ProviderConfig(
        provider="aws",
        external_id=ACCOUNT,
        auth_method="assume_role",
        options={
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/CloudPAMDiscovery",
            "external_id": EXTERNAL_ID,
            **options,
        },
        endpoint_url=aws.url,
    )


def test_the_management_account_finds_its_two_members(
    aws: FakeAws, organization: Organization
) -> None:
    members = list_organization_members(management(aws))

    assert members == [
        OrganizationMember(account_id, name, f"{name}@example.com", "ACTIVE")
        for account_id, name in organization.names.items()
    ]
    (assumed,) = aws.requests("AssumeRole")
    assert assumed.params["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/CloudPAMDiscovery"
    assert assumed.params["ExternalId"] == EXTERNAL_ID
    assert assumed.params["RoleSessionName"] == "cloudpam"


def test_each_member_collection_sees_only_that_members_resources(
    aws: FakeAws, organization: Organization
) -> None:
    estates = organization.estates
    parent = management(aws)

    for member in list_organization_members(parent):
        config = member_config(parent, member.account_id)
        aws.seen.clear()

        collection = collect(client_factory(config), AccountRef("aws", member.account_id), [REGION])

        assert {expected(found) for found in collection} == estates[member.account_id]
        assert collection.complete_regions == (REGION,)
        # Chained: the management role from the worker's credentials, then the member's.
        assert [
            (s.params["RoleArn"], s.params["ExternalId"])
            for s in aws.seen
            if s.action == "AssumeRole"
        ] == [
            (f"arn:aws:iam::{ACCOUNT}:role/CloudPAMDiscovery", EXTERNAL_ID),
            (f"arn:aws:iam::{member.account_id}:role/OrganizationAccountAccessRole", EXTERNAL_ID),
        ]


def test_member_config_names_the_members_role_and_keeps_the_parents_settings(
    aws: FakeAws,
) -> None:
    parent = management(aws, member_role_name="CloudPAMMember", requests_per_second="4")

    config = member_config(parent, "210987654321")

    assert config.external_id == "210987654321"
    assert config.auth_method == "assume_role"
    assert config.endpoint_url == aws.url
    assert dict(config.options) == {
        "role_arn": "arn:aws:iam::210987654321:role/CloudPAMMember",
        "source_role_arns": (f"arn:aws:iam::{ACCOUNT}:role/CloudPAMDiscovery",),
        "external_id": EXTERNAL_ID,
        "requests_per_second": "4",
    }


def test_a_member_of_an_access_key_account_assumes_its_role_with_those_keys(
    aws: FakeAws, organization: Organization
) -> None:
    parent = ProviderConfig(
        provider="aws",
        external_id=ACCOUNT,
        auth_method="access_keys",
        options={"access_key_id": "AKIAPARENTEXAMPLE"},
        secrets={"secret_access_key": "parent-secret"},
        endpoint_url=aws.url,
    )
    member_id = next(iter(organization.names))

    config = member_config(parent, member_id)
    collection = collect(client_factory(config), AccountRef("aws", member_id), [REGION])

    assert {expected(found) for found in collection} == organization.estates[member_id]
    (assumed,) = aws.requests("AssumeRole")
    assert assumed.access_key == "AKIAPARENTEXAMPLE"
    assert (
        assumed.params["RoleArn"] == f"arn:aws:iam::{member_id}:role/OrganizationAccountAccessRole"
    )


def test_a_member_whose_role_refuses_fails_as_access_denied_without_retries(
    aws: FakeAws, organization: Organization
) -> None:
    member_id = next(iter(organization.names))
    aws.fail(
        action="AssumeRole",
        status=403,
        code="AccessDenied",
        message="User is not authorized to perform: sts:AssumeRole",
        when=lambda params: params["RoleArn"].startswith(f"arn:aws:iam::{member_id}:"),
    )

    collection = collect(
        client_factory(member_config(management(aws), member_id)),
        AccountRef("aws", member_id),
        [REGION],
    )

    assert list(collection) == []
    assert [(o.ok, o.error_code, o.error_message) for o in collection.outcomes] == [
        (False, "access_denied", "User is not authorized to perform: sts:AssumeRole")
    ]
    assert len(aws.requests("AssumeRole")) == 2  # the management role, then the refusal
    assert aws.requests("DescribeVpcs") == []
