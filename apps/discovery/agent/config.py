"""The agent's YAML configuration.

::

    server: https://cloudpam.example.com
    provisioning_token: cpap_...          # or env: CLOUDPAM_AGENT_TOKEN
    name: datacenter-1                     # default: the host name
    state_file: /var/lib/cloudpam-agent/state.json
    interval_minutes: 60
    approval_poll_seconds: 30              # how often to ask while pending approval
    endpoints:                             # emulators; default: the real clouds
      aws: http://localhost:5000
    accounts:
      - provider: aws
        external_id: "123456789012"
        auth_method: access_keys
        regions: [eu-west-1, us-east-1]
        options: {access_key_id: AKIA...}
        secrets:
          secret_access_key: {env: AWS_SECRET_ACCESS_KEY}

A secret is a string or ``{env: NAME}`` (read from the environment at start), so the
file itself need not hold any. ``CLOUDPAM_<PROVIDER>_ENDPOINT_URL`` in the environment
overrides ``endpoints``, as on the server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apps.cloud.providers import AUTH_METHODS, ProviderConfig

DEFAULT_INTERVAL_MINUTES = 60
DEFAULT_STATE_FILE = "cloudpam-agent-state.json"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and why."""


@dataclass(frozen=True)
class AccountConfig:
    """One cloud account the agent collects, with its local credentials."""

    provider: str
    external_id: str
    auth_method: str
    name: str = ""
    regions: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def provider_config(self, endpoint_url: str = "") -> ProviderConfig:
        return ProviderConfig(
            provider=self.provider,
            external_id=self.external_id,
            auth_method=self.auth_method,
            regions=self.regions,
            options=dict(self.options),
            secrets=dict(self.secrets),
            endpoint_url=endpoint_url,
        )


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs to run."""

    server: str
    provisioning_token: str = field(default="", repr=False)
    name: str = ""
    state_file: Path = Path(DEFAULT_STATE_FILE)
    interval_minutes: float = DEFAULT_INTERVAL_MINUTES
    endpoints: Mapping[str, str] = field(default_factory=dict)
    accounts: tuple[AccountConfig, ...] = ()
    verify_tls: bool = True
    approval_poll_seconds: float = 30.0

    def endpoint_for(self, provider: str) -> str:
        """Return the emulator URL for ``provider``: the environment first, then the file."""
        env = os.environ.get(f"CLOUDPAM_{provider.upper()}_ENDPOINT_URL", "")
        return env or self.endpoints.get(provider, "")


def _secret(value: Any, where: str, environ: Mapping[str, str]) -> str:
    if isinstance(value, Mapping) and set(value) == {"env"}:
        name = str(value["env"])
        if name not in environ:
            raise ConfigError(f"{where}: the environment variable {name} is not set.")
        return environ[name]
    if isinstance(value, str):
        return value
    raise ConfigError(f"{where}: give a string or {{env: NAME}}.")


def _account(data: Any, index: int, environ: Mapping[str, str]) -> AccountConfig:
    where = f"accounts[{index}]"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a mapping.")
    provider = str(data.get("provider", ""))
    if provider not in AUTH_METHODS:
        raise ConfigError(f"{where}.provider: must be one of {', '.join(AUTH_METHODS)}.")
    external_id = str(data.get("external_id", "")).strip()
    if not external_id:
        raise ConfigError(f"{where}.external_id: is required.")
    auth_method = str(data.get("auth_method", AUTH_METHODS[provider][-1]))
    if auth_method not in AUTH_METHODS[provider]:
        raise ConfigError(
            f"{where}.auth_method: must be one of {', '.join(AUTH_METHODS[provider])}."
        )
    regions = data.get("regions") or ()
    if isinstance(regions, str) or not all(isinstance(r, str) for r in regions):
        raise ConfigError(f"{where}.regions: must be a list of region names.")
    options = data.get("options") or {}
    secrets = data.get("secrets") or {}
    if not isinstance(options, Mapping) or not isinstance(secrets, Mapping):
        raise ConfigError(f"{where}: options and secrets must be mappings.")
    return AccountConfig(
        provider=provider,
        external_id=external_id,
        auth_method=auth_method,
        name=str(data.get("name", "")),
        regions=tuple(regions),
        options=dict(options),
        secrets={
            key: _secret(value, f"{where}.secrets.{key}", environ) for key, value in secrets.items()
        },
    )


def parse_config(
    data: Any, *, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> AgentConfig:
    """Return the configuration in ``data`` (the loaded YAML), or raise ConfigError."""
    environ = os.environ if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("The configuration must be a mapping.")
    server = str(data.get("server") or environ.get("CLOUDPAM_SERVER", "")).rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise ConfigError("server: give the CloudPAM URL, http:// or https://.")
    token = data.get("provisioning_token") or environ.get("CLOUDPAM_AGENT_TOKEN", "")
    token = _secret(token, "provisioning_token", environ)
    try:
        interval = float(data.get("interval_minutes", DEFAULT_INTERVAL_MINUTES))
    except (TypeError, ValueError):
        raise ConfigError("interval_minutes: must be a number.") from None
    if interval <= 0:
        raise ConfigError("interval_minutes: must be more than 0.")
    try:
        poll = float(data.get("approval_poll_seconds", 30))
    except (TypeError, ValueError):
        raise ConfigError("approval_poll_seconds: must be a number.") from None
    state_file = Path(str(data.get("state_file", DEFAULT_STATE_FILE)))
    if not state_file.is_absolute() and base_dir is not None:
        state_file = base_dir / state_file
    accounts = data.get("accounts") or []
    if not isinstance(accounts, list):
        raise ConfigError("accounts: must be a list.")
    endpoints = data.get("endpoints") or {}
    if not isinstance(endpoints, Mapping):
        raise ConfigError("endpoints: must be a mapping of provider to URL.")
    return AgentConfig(
        server=server,
        provisioning_token=token,
        name=str(data.get("name") or socket.gethostname())[:100],
        state_file=state_file,
        interval_minutes=interval,
        endpoints={str(k): str(v) for k, v in endpoints.items()},
        accounts=tuple(_account(item, i, environ) for i, item in enumerate(accounts)),
        verify_tls=bool(data.get("verify_tls", True)),
        approval_poll_seconds=max(poll, 0.1),
    )


def load_config(path: Path | None, **overrides: Any) -> AgentConfig:
    """Read the YAML file at ``path`` (none: the environment alone), apply ``overrides``."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the configuration must be a mapping.")
        data = dict(loaded or {})
    data.update({key: value for key, value in overrides.items() if value is not None})
    return parse_config(data, base_dir=path.parent if path is not None else None)
