"""Azure: management clients for one subscription, its connectivity test and its errors.

Pure Python, no Django. ``client_factory(config)`` returns ``clients(kind)``, which builds
(once) ``network`` (azure-mgmt-network's ``NetworkManagementClient``) or ``resource_graph``
(azure-mgmt-resourcegraph's ``ResourceGraphClient``, which the collector reads: it is the
only Azure API that lists network resources per location). The subscription is the
account's ``external_id``.

Credentials: ``client_secret`` (``tenant_id`` and ``client_id`` options, the
``client_secret`` secret) or ``managed_identity`` (``client_id`` option for a
user-assigned identity). With an ``endpoint_url`` (``CLOUDPAM_AZURE_ENDPOINT_URL``) the
clients talk to that emulator with a static token; the SDK refuses bearer tokens over
plain http, so authentication is then switched off, which an emulator does not check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import exceptions as azure_exceptions
from azure.core.credentials import AccessToken

from apps.cloud.providers import ConnectivityResult, ProviderConfig
from apps.cloud.providers.errors import ProviderError
from apps.cloud.providers.http_errors import code_for_status, retry_after

__all__ = [
    "StaticTokenCredential",
    "as_provider_error",
    "check_connectivity",
    "client_factory",
    "credential",
]


class StaticTokenCredential:
    """A credential that hands out one fixed token (for an emulator only)."""

    def __init__(self, token: str = "emulator") -> None:  # noqa: S107 - not a secret
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def credential(config: ProviderConfig) -> Any:
    """Return the azure-identity credential of the account (a static token for an emulator)."""
    if config.endpoint_url:
        return StaticTokenCredential()
    options = config.options
    if config.auth_method == "client_secret":
        from azure.identity import ClientSecretCredential

        missing = [
            name
            for name, value in (
                ("tenant_id", options.get("tenant_id")),
                ("client_id", options.get("client_id")),
                ("client_secret", config.secrets.get("client_secret")),
            )
            if not value
        ]
        if missing:
            raise ProviderError("invalid_credentials", f"Missing {', '.join(missing)}")
        return ClientSecretCredential(
            options["tenant_id"], options["client_id"], config.secrets["client_secret"]
        )
    if config.auth_method == "managed_identity":
        from azure.identity import ManagedIdentityCredential

        # A user-assigned identity is named by its client id; without one, the system's.
        client_id = options.get("client_id")
        return (
            ManagedIdentityCredential(client_id=client_id)
            if client_id
            else ManagedIdentityCredential()
        )
    raise ProviderError("invalid_credentials", f"Unknown Azure auth method {config.auth_method!r}")


def _client_options(config: ProviderConfig) -> dict[str, Any]:
    # The SDK's own retries are off (retry_total=0): the collector's RetryPolicy retries
    # each page with the account's token bucket, and both at once would make up to 5 x 4
    # calls of a throttled page while ignoring the bucket.
    options: dict[str, Any] = {"retry_total": 0}
    if config.endpoint_url:
        from azure.core.pipeline.policies import SansIOHTTPPolicy

        options["base_url"] = config.endpoint_url.rstrip("/")
        options["authentication_policy"] = SansIOHTTPPolicy()
    return options


def client_factory(config: ProviderConfig) -> Callable[[str], Any]:
    """Return ``clients(kind)`` building each management client of the subscription once."""
    account_credential = credential(config)
    options = _client_options(config)
    built: dict[str, Any] = {}

    def clients(kind: str) -> Any:
        if kind not in built:
            if kind == "network":
                from azure.mgmt.network import NetworkManagementClient

                built[kind] = NetworkManagementClient(
                    account_credential, config.external_id, **options
                )
            elif kind == "resource_graph":
                from azure.mgmt.resourcegraph import ResourceGraphClient

                built[kind] = ResourceGraphClient(account_credential, **options)
            else:
                raise KeyError(kind)
        return built[kind]

    return clients


_TIMEOUTS = (
    azure_exceptions.ServiceRequestTimeoutError,
    azure_exceptions.ServiceResponseTimeoutError,
)


def _message(error: azure_exceptions.AzureError) -> str:
    # ARM's messages run over several lines (code, message, target); the first is the gist.
    text = (getattr(error, "message", None) or str(error) or type(error).__name__).strip()
    return text.splitlines()[0][:500]


def as_provider_error(error: Exception) -> ProviderError:
    """Return the :class:`ProviderError` for an exception raised by a management call."""
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, azure_exceptions.HttpResponseError) and error.status_code:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None) or {}
        return ProviderError(
            code_for_status(error.status_code),
            f"{error.status_code} {_message(error)}",
            retry_after=retry_after(headers.get("Retry-After")),
        )
    if isinstance(error, azure_exceptions.ClientAuthenticationError):
        # Raised by azure-identity when the tenant refuses the secret (no HTTP status of ARM).
        return ProviderError("invalid_credentials", _message(error))
    if isinstance(error, _TIMEOUTS):
        return ProviderError("timeout", "Azure did not answer in time")
    if isinstance(error, azure_exceptions.AzureError):
        return ProviderError("provider_error", _message(error))
    raise error


def call(function: Callable[[], Any]) -> Any:
    """Return ``function()``, its SDK exceptions raised as :class:`ProviderError`."""
    try:
        return function()
    except ProviderError:
        raise
    except Exception as error:  # as_provider_error re-raises what it does not know
        raise as_provider_error(error) from None


def check_connectivity(config: ProviderConfig, timeout: float = 15) -> ConnectivityResult:
    """Read the first page of the subscription's virtual networks."""
    checked_at = datetime.now(UTC)
    try:
        network = client_factory(config)("network")

        def first_page() -> list[Any]:
            pages = network.virtual_networks.list_all(
                connection_timeout=timeout, read_timeout=timeout
            ).by_page()
            return list(next(pages, []))

        call(first_page)
    except ProviderError as error:
        return ConnectivityResult(
            ok=False, checked_at=checked_at, error_code=error.code, error_message=error.message
        )
    return ConnectivityResult(
        ok=True, checked_at=checked_at, identity=f"subscriptions/{config.external_id}"
    )
