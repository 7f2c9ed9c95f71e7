"""SDK clients from a cloud account, one module per provider (``aws``, ``gcp``, ``azure``).

Pure Python with no Django import: the worker builds a :class:`ProviderConfig` from a
``CloudAccount`` (credentials decrypted, endpoint overrides from the settings), the agent
from its YAML file, and both hand it to the same functions:

* ``client_factory(config)``: what the provider's collector calls for its SDK clients;
* ``check_connectivity(config, timeout=15)``: the cheapest identity call, as a
  :class:`ConnectivityResult` naming the cause of a failure in the provider's own words;
* ``aws.list_organization_members(config)``: the member accounts of an AWS Organization.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AUTH_METHODS", "ConnectivityResult", "OrganizationMember", "ProviderConfig"]

AUTH_METHODS: Mapping[str, tuple[str, ...]] = {
    "aws": ("assume_role", "access_keys", "default_chain"),
    "gcp": ("service_account_key", "default_chain"),
    "azure": ("client_secret", "managed_identity"),
}


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Everything needed to reach one account's cloud, secrets included: never log it.

    ``secrets`` holds the decrypted credential fields (``secret_access_key``,
    ``service_account_key``, ``client_secret``); ``options`` the public ones
    (``role_arn``, ``external_id``, ``access_key_id``, ``tenant_id``, ``client_id``,
    ``member_role_name``, ``requests_per_second``). ``endpoint_url`` is the operator's
    emulator override (``CLOUDPAM_<PROVIDER>_ENDPOINT_URL``), empty for the real cloud.
    """

    provider: str
    external_id: str
    auth_method: str
    regions: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    endpoint_url: str = ""

    def __repr__(self) -> str:
        return (
            f"ProviderConfig(provider={self.provider!r}, external_id={self.external_id!r}, "
            f"auth_method={self.auth_method!r}, secrets=<{len(self.secrets)} hidden>)"
        )


@dataclass(frozen=True, slots=True)
class ConnectivityResult:
    """The answer of a connectivity test: who we are, or why the cloud said no.

    ``error_code`` is one of ``access_denied``, ``invalid_credentials``, ``throttled``,
    ``timeout``, ``not_found``, ``provider_error``; ``error_message`` is the provider's
    words without secrets or stack traces.
    """

    ok: bool
    checked_at: datetime
    identity: str = ""
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True, slots=True)
class OrganizationMember:
    """A member account of an AWS Organization (``status`` is AWS's: ACTIVE, SUSPENDED...)."""

    account_id: str
    name: str
    email: str
    status: str
