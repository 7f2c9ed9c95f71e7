"""Fixtures of the cloud account tests: accounts per provider and a scripted provider.

``scripted_provider`` stands in for ``apps.cloud.providers.<provider>`` and
``apps.discovery.collectors.<provider>`` with answers a test sets, so the services' own
logic (status, members, counts) is tested without any cloud; the real provider modules
are tested against moto and the local fakes in their own tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from apps.cloud import selectors, services
from apps.cloud.models import CloudAccount
from apps.cloud.providers import ConnectivityResult, OrganizationMember, ProviderConfig
from apps.discovery.collectors.base import Collection
from tests.actors import TEST_ACTOR

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
AZURE_SECRET = "azure~client~secret~Q8x7vLm2Zp0Kq"
GCP_PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANgcp-secret-material\n-----END PRIVATE KEY-----\n"
)
GCP_KEY = {
    "type": "service_account",
    "project_id": "acme-network",
    "private_key_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0abcd1234",
    "private_key": GCP_PRIVATE_KEY,
    "client_email": "cloudpam@acme-network.iam.gserviceaccount.com",
    "client_id": "109876543210987654321",
}


@dataclass
class ScriptedProvider:
    """What the scripted provider answers, and what it was asked."""

    connectivity: ConnectivityResult | None = None
    members: list[OrganizationMember] = field(default_factory=list)
    regions: dict[str, Any] = field(default_factory=dict)
    configs: list[ProviderConfig] = field(default_factory=list)
    failure: Exception | None = None

    def check_connectivity(self, config: ProviderConfig, timeout: float = 15) -> Any:
        self.configs.append(config)
        if self.failure:
            raise self.failure
        return self.connectivity or ConnectivityResult(
            ok=True, checked_at=timezone.now(), identity=f"arn:aws:iam::{config.external_id}:root"
        )

    def client_factory(self, config: ProviderConfig) -> Callable[..., Any]:
        self.configs.append(config)
        return lambda *args, **kwargs: None

    def list_organization_members(self, config: ProviderConfig) -> list[OrganizationMember]:
        self.configs.append(config)
        if self.failure:
            raise self.failure
        return self.members

    def member_config(self, parent: ProviderConfig, member_account_id: str) -> ProviderConfig:
        role = parent.options.get("member_role_name", "OrganizationAccountAccessRole")
        return ProviderConfig(
            provider="aws",
            external_id=member_account_id,
            auth_method="assume_role",
            options={**parent.options, "role_arn": f"arn:aws:iam::{member_account_id}:role/{role}"},
            secrets=parent.secrets,
            endpoint_url=parent.endpoint_url,
        )

    def collect(self, client_factory: Any, account_ref: Any, regions: Any = ()) -> Collection:
        def stream(value: Any) -> Iterator[Any]:
            if isinstance(value, Exception):
                raise value
            yield from value

        return Collection((region, stream(value)) for region, value in self.regions.items())


@pytest.fixture
def scripted_provider(monkeypatch: pytest.MonkeyPatch) -> ScriptedProvider:
    scripted = ScriptedProvider()
    module = SimpleNamespace(
        check_connectivity=scripted.check_connectivity,
        client_factory=scripted.client_factory,
        list_organization_members=scripted.list_organization_members,
        member_config=scripted.member_config,
        collect=scripted.collect,
    )
    for target in (services, selectors):
        monkeypatch.setattr(target, "provider_module", lambda provider: module)
    monkeypatch.setattr(services, "collector_module", lambda provider: module)
    return scripted


@pytest.fixture
def aws_account(organization) -> CloudAccount:
    return services.account_create(
        actor=TEST_ACTOR,
        organization=organization,
        name="Production",
        provider="aws",
        external_id="111122223333",
        auth_method="access_keys",
        access_key_id="AKIAIOSFODNN7EXAMPLE",
    )


@pytest.fixture
def aws_account_with_keys(aws_account) -> CloudAccount:
    return services.account_credentials_set(
        account=aws_account,
        actor=TEST_ACTOR,
        credentials={"secret_access_key": AWS_SECRET},
    )
