"""Google Cloud: compute clients for one project, its connectivity test and its errors.

Pure Python, no Django. ``client_factory(config)`` returns ``clients(kind)``, which builds
(once) the google-cloud-compute client of that kind: ``networks``, ``subnetworks``,
``addresses``, ``global_addresses``, ``regions`` or ``projects``. The project is the
account's ``external_id``.

Credentials come from the ``service_account_key`` secret (the key file's JSON) or, with
``default_chain``, from the environment (workload identity, ``gcloud`` login). With an
``endpoint_url`` (``CLOUDPAM_GCP_ENDPOINT_URL``) the clients talk to that emulator with
anonymous credentials; compute clients speak REST only, so an ``http://`` endpoint works
as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from apps.cloud.providers import ConnectivityResult, ProviderConfig
from apps.cloud.providers.errors import ProviderError
from apps.cloud.providers.http_errors import code_for_status, retry_after

__all__ = ["SCOPES", "as_provider_error", "check_connectivity", "client_factory", "credentials"]

SCOPES = ("https://www.googleapis.com/auth/compute.readonly",)

_REQUEST_PREFIX = re.compile(r"^[A-Z]+ \S+: ")
_CLIENTS = {
    "networks": "NetworksClient",
    "subnetworks": "SubnetworksClient",
    "addresses": "AddressesClient",
    "global_addresses": "GlobalAddressesClient",
    "regions": "RegionsClient",
    "projects": "ProjectsClient",
}


def credentials(config: ProviderConfig) -> Any:
    """Return the google-auth credentials of the account (anonymous for an emulator)."""
    if config.endpoint_url:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    if config.auth_method == "service_account_key":
        from google.oauth2 import service_account

        try:
            info = json.loads(config.secrets.get("service_account_key") or "")
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError, TypeError) as error:
            # The key's own content is never repeated: only what is wrong with its shape.
            problem = type(error).__name__
            raise ProviderError(
                "invalid_credentials", f"The service account key is not usable: {problem}"
            ) from None
    if config.auth_method == "default_chain":
        import google.auth

        try:
            found, _project = google.auth.default(scopes=SCOPES)
        except auth_exceptions.DefaultCredentialsError as error:
            raise ProviderError("invalid_credentials", str(error)) from None
        return found
    raise ProviderError("invalid_credentials", f"Unknown GCP auth method {config.auth_method!r}")


def client_factory(config: ProviderConfig) -> Callable[[str], Any]:
    """Return ``clients(kind)`` building each compute client of the project once."""
    from google.cloud import compute_v1

    account_credentials = credentials(config)
    options = {"api_endpoint": config.endpoint_url} if config.endpoint_url else None
    built: dict[str, Any] = {}

    def clients(kind: str) -> Any:
        if kind not in built:
            client_class = getattr(compute_v1, _CLIENTS[kind])
            built[kind] = client_class(
                credentials=account_credentials, client_options=options, transport="rest"
            )
        return built[kind]

    return clients


def as_provider_error(error: Exception) -> ProviderError:
    """Return the :class:`ProviderError` for an exception raised by a compute call."""
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, api_exceptions.GoogleAPICallError):
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None) or {}
        # api_core prefixes the API's message with the method and URL: keep the message.
        message = _REQUEST_PREFIX.sub("", error.message or "")
        return ProviderError(
            code_for_status(error.code),
            f"{error.code} {message}".strip(),
            retry_after=retry_after(headers.get("Retry-After")),
        )
    if isinstance(error, auth_exceptions.GoogleAuthError):
        return ProviderError("invalid_credentials", str(error) or type(error).__name__)
    if isinstance(error, requests.Timeout):
        return ProviderError("timeout", "The compute API did not answer in time")
    if isinstance(error, requests.RequestException):
        problem = type(error).__name__
        return ProviderError("provider_error", f"The compute API is unreachable ({problem})")
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
    """Read the project (compute ``projects.get``): the cheapest call that proves access."""
    checked_at = datetime.now(UTC)
    try:
        projects = client_factory(config)("projects")
        # No SDK retries: a test answers within ``timeout`` or says why not.
        project = call(
            lambda: projects.get(project=config.external_id, retry=None, timeout=timeout)
        )
    except ProviderError as error:
        return ConnectivityResult(
            ok=False, checked_at=checked_at, error_code=error.code, error_message=error.message
        )
    return ConnectivityResult(ok=True, checked_at=checked_at, identity=f"projects/{project.name}")
