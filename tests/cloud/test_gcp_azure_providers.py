"""The GCP and Azure providers: credentials, connectivity tests and errors, against the fakes.

No database, no Django: the providers run in the worker and in the agent alike.
"""

from __future__ import annotations

import doctest
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.identity import ClientSecretCredential, ManagedIdentityCredential
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from apps.cloud.providers import ProviderConfig, azure, gcp, http_errors
from apps.cloud.providers.http_errors import retry_after
from apps.discovery.collectors import ProviderError
from tests.fakes.azure import FakeArm
from tests.fakes.gcp import FakeCompute

ROOT = Path(__file__).resolve().parents[2]
SUB = "5f1c7f53-0000-4000-8000-00000000a2e1"


@pytest.fixture
def compute() -> Iterator[FakeCompute]:
    with FakeCompute("acme-net", ("europe-west1",)) as fake:
        yield fake


@pytest.fixture
def arm() -> Iterator[FakeArm]:
    fake = FakeArm(SUB)
    fake.add_vnet("rg", "hub", "westeurope", ["10.0.0.0/16"])
    with fake:
        yield fake


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def gcp_config(url: str, project: str = "acme-net") -> ProviderConfig:
    return ProviderConfig("gcp", project, "service_account_key", endpoint_url=url)


def azure_config(url: str, subscription: str = SUB) -> ProviderConfig:
    return ProviderConfig("azure", subscription, "client_secret", endpoint_url=url)


def test_providers_import_no_django() -> None:
    code = (
        "import sys, apps.cloud.providers.gcp, apps.cloud.providers.azure\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# GCP


def test_gcp_connectivity_reads_the_project(compute: FakeCompute) -> None:
    result = gcp.check_connectivity(gcp_config(compute.url))

    assert (result.ok, result.identity, result.error_code) == (True, "projects/acme-net", "")
    assert [q.path for q in compute.requests] == ["/compute/v1/projects/acme-net"]


def test_gcp_connectivity_names_an_unknown_project(compute: FakeCompute) -> None:
    result = gcp.check_connectivity(gcp_config(compute.url, project="nope"))

    assert (result.ok, result.error_code) == (False, "not_found")
    assert result.error_message == "404 The resource 'projects/nope' was not found"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "invalid_credentials"),
        (403, "access_denied"),
        (429, "throttled"),
        (500, "provider_error"),
        (503, "provider_error"),
    ],
)
def test_gcp_errors_map_to_codes_without_sdk_retries(
    compute: FakeCompute, status: int, code: str
) -> None:
    compute.fail("/projects/acme-net", status, times=None, retry_after=5)

    result = gcp.check_connectivity(gcp_config(compute.url))

    assert (result.ok, result.error_code) == (False, code)
    if status == 401:
        # The session tries to refresh the token first, which emulator credentials cannot.
        assert result.error_message == "Anonymous credentials cannot be refreshed."
    else:
        assert result.error_message == f"{status} Injected fault"
    # One call only: the SDK's own retries would multiply with the collector's.
    assert len(compute.requests) == 1


def test_gcp_throttling_carries_retry_after(compute: FakeCompute) -> None:
    compute.fail("/projects/acme-net", 429, retry_after=9)
    client = gcp.client_factory(gcp_config(compute.url))("projects")

    with pytest.raises(ProviderError) as raised:
        gcp.call(lambda: client.get(project="acme-net", retry=None))

    assert (raised.value.code, raised.value.retry_after) == ("throttled", 9.0)


def test_gcp_unreachable_endpoint_is_a_provider_error() -> None:
    result = gcp.check_connectivity(gcp_config(closed_port_url()), timeout=5)

    assert (result.ok, result.error_code) == (False, "provider_error")
    assert result.error_message == "The compute API is unreachable (ConnectionError)"


def service_account_key() -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "acme-net",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "cloudpam@acme-net.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def test_gcp_service_account_key_makes_read_only_credentials() -> None:
    config = ProviderConfig(
        "gcp",
        "acme-net",
        "service_account_key",
        secrets={"service_account_key": json.dumps(service_account_key())},
    )

    found = gcp.credentials(config)

    assert isinstance(found, service_account.Credentials)
    assert found.service_account_email == "cloudpam@acme-net.iam.gserviceaccount.com"
    assert tuple(found.scopes) == gcp.SCOPES
    # Building the clients calls nothing: the real API would be reached only by a call.
    assert gcp.client_factory(config)("subnetworks").api_endpoint == "compute.googleapis.com"


def test_gcp_unusable_key_is_invalid_credentials_without_echoing_it() -> None:
    secret = '{"type": "service_account", "private_key": "TOPSECRET"}'
    config = ProviderConfig(
        "gcp", "acme-net", "service_account_key", secrets={"service_account_key": secret}
    )

    result = gcp.check_connectivity(config)

    assert (result.ok, result.error_code) == (False, "invalid_credentials")
    assert result.error_message == "The service account key is not usable: MalformedError"
    assert "TOPSECRET" not in repr(result)


def test_gcp_default_chain_without_credentials_is_invalid_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    # Not on Compute Engine: skip probing the metadata server.
    monkeypatch.setenv("NO_GCE_CHECK", "True")

    with pytest.raises(ProviderError) as raised:
        gcp.credentials(ProviderConfig("gcp", "acme-net", "default_chain"))

    assert raised.value.code == "invalid_credentials"


# Azure


def test_azure_connectivity_reads_the_first_page_of_vnets(arm: FakeArm) -> None:
    arm.vnet_page_size = 1
    arm.add_vnet("rg", "second", "westeurope", ["10.1.0.0/16"])

    result = azure.check_connectivity(azure_config(arm.url))

    assert (result.ok, result.identity) == (True, f"subscriptions/{SUB}")
    # The first page only, even though a nextLink follows.
    assert [(q.method, q.path) for q in arm.requests] == [
        ("GET", f"/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks")
    ]
    assert arm.requests[0].query["api-version"]


def test_azure_connectivity_names_an_unknown_subscription(arm: FakeArm) -> None:
    result = azure.check_connectivity(azure_config(arm.url, subscription="nope"))

    assert (result.ok, result.error_code) == (False, "not_found")
    assert (
        result.error_message
        == "404 (SubscriptionNotFound) The subscription 'nope' could not be found."
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "invalid_credentials"),
        (403, "access_denied"),
        (429, "throttled"),
        (500, "provider_error"),
        (503, "provider_error"),
    ],
)
def test_azure_errors_map_to_codes_without_sdk_retries(
    arm: FakeArm, status: int, code: str
) -> None:
    arm.fail("virtualNetworks", status, times=None, retry_after=5)

    result = azure.check_connectivity(azure_config(arm.url))

    assert (result.ok, result.error_code) == (False, code)
    assert result.error_message.startswith(f"{status} (")
    # One call only: the SDK's own retries would multiply with the collector's.
    assert len(arm.requests) == 1


def test_azure_throttling_carries_retry_after(arm: FakeArm) -> None:
    arm.fail("virtualNetworks", 429, retry_after=11)
    network = azure.client_factory(azure_config(arm.url))("network")

    with pytest.raises(ProviderError) as raised:
        azure.call(lambda: list(network.virtual_networks.list_all()))

    assert (raised.value.code, raised.value.retry_after) == ("throttled", 11.0)


def test_azure_unreachable_endpoint_is_a_provider_error() -> None:
    result = azure.check_connectivity(azure_config(closed_port_url()), timeout=5)

    assert (result.ok, result.error_code) == (False, "provider_error")


def test_azure_client_secret_credential() -> None:
    config = ProviderConfig(
        "azure",
        SUB,
        "client_secret",
        options={"tenant_id": "t-1", "client_id": "c-1"},
        secrets={"client_secret": "TOPSECRET"},
    )

    assert isinstance(azure.credential(config), ClientSecretCredential)
    assert "TOPSECRET" not in repr(config)


def test_azure_client_secret_missing_parts_are_named() -> None:
    config = ProviderConfig("azure", SUB, "client_secret", options={"tenant_id": "t-1"})

    result = azure.check_connectivity(config)

    assert (result.ok, result.error_code) == (False, "invalid_credentials")
    assert result.error_message == "Missing client_id, client_secret"


def test_azure_managed_identity_credential() -> None:
    config = ProviderConfig("azure", SUB, "managed_identity", options={"client_id": "c-2"})

    assert isinstance(azure.credential(config), ManagedIdentityCredential)


def test_retry_after_reads_seconds_and_dates() -> None:
    assert doctest.testmod(http_errors).failed == 0
    assert retry_after("120") == 120.0
    assert retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert retry_after("") is None
