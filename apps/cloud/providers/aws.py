"""AWS: boto3 sessions and clients from a :class:`ProviderConfig`, connectivity, Organizations.

Pure Python, no Django. Auth methods:

* ``assume_role``: STS AssumeRole into ``options["role_arn"]`` with ``options["external_id"]``
  and session name ``cloudpam``, from the worker's own credentials (or ``access_key_id`` +
  ``secret_access_key`` when given). ``options["source_role_arns"]`` are assumed first, in
  order: a member account of an Organization is reached through its management account's
  role. The credentials refresh themselves before they expire (botocore's
  ``DeferredRefreshableCredentials``), so a long collection never runs on an expired token.
* ``access_keys``: ``options["access_key_id"]`` + ``secrets["secret_access_key"]``.
* ``default_chain``: whatever boto3 finds (environment, instance profile, IRSA...).

``config.endpoint_url`` (``CLOUDPAM_AWS_ENDPOINT_URL``) goes to every client, STS included,
so an emulator such as moto's server stands in for every AWS call.

What the role (or keys) needs, and nothing more: ``sts:GetCallerIdentity``;
``ec2:DescribeRegions``, ``ec2:DescribeVpcs``, ``ec2:DescribeSubnets``,
``ec2:DescribeAddresses``, ``ec2:DescribeNetworkInterfaces`` for discovery;
``organizations:ListAccounts`` on a management or delegated account, whose role must also
be trusted by each member's role and allowed ``sts:AssumeRole`` on it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from apps.cloud.providers import ConnectivityResult, OrganizationMember, ProviderConfig
from apps.cloud.providers.errors import ProviderError
from apps.cloud.providers.http_errors import code_for_status, retry_after

__all__ = [
    "DEFAULT_MEMBER_ROLE",
    "ClientFactory",
    "base_config",
    "check_connectivity",
    "client_factory",
    "failure",
    "list_organization_members",
    "member_config",
    "session",
]

DEFAULT_MEMBER_ROLE = "OrganizationAccountAccessRole"
SESSION_NAME = "cloudpam"
# STS and Organizations are global services answered in us-east-1; a regional STS endpoint
# can be chosen with options["sts_region"] (an account confined to other regions).
GLOBAL_REGION = "us-east-1"

ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "OptInRequired",
    }
)
# Organizations says so when the account manages no Organization: nothing to list there.
NOT_FOUND = frozenset({"AWSOrganizationsNotInUseException"})
INVALID_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "InvalidAccessKeyId",
        "UnrecognizedClientException",
        "IncompleteSignature",
        "InvalidToken",
    }
)
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)

ClientFactory = Callable[..., Any]


def base_config(config: ProviderConfig) -> Config:
    """Return the botocore config of every client: adaptive retries and bounded waits.

    Adaptive mode retries throttling and 5xx with backoff and also slows the client down
    when AWS throttles it, which suits one-off calls (connectivity, Organizations). The
    collector replaces the retries with its own (see ``apps.discovery.collectors.aws``).
    """
    options = config.options
    return Config(
        retries={"mode": "adaptive", "total_max_attempts": int(options.get("max_attempts", 5))},
        connect_timeout=float(options.get("connect_timeout", 10)),
        read_timeout=float(options.get("read_timeout", 30)),
        user_agent_extra="cloudpam",
    )


class _Provided(CredentialProvider):
    """Hand one credentials object to a botocore session (its resolver's only source)."""

    METHOD = "cloudpam"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def session(config: ProviderConfig, botocore_config: Config | None = None) -> boto3.Session:
    """Return a boto3 session holding the account's credentials.

    With ``assume_role``, nothing is called yet: the first client call assumes the role
    (and any source roles before it), and the credentials refresh themselves later.
    """
    if config.auth_method == "access_keys":
        return _key_session(config, required=True)
    if config.auth_method == "default_chain":
        return boto3.Session()
    if config.auth_method != "assume_role":
        raise ValueError(f"unknown AWS auth method {config.auth_method!r}")
    role_arn = config.options.get("role_arn", "")
    if not role_arn:
        raise ValueError("assume_role needs options['role_arn']")
    source = _key_session(config, required=False)
    credentials = source.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    create_sts = functools.partial(
        source.client,
        endpoint_url=config.endpoint_url or None,
        region_name=config.options.get("sts_region") or GLOBAL_REGION,
        config=botocore_config or base_config(config),
    )
    extra: dict[str, Any] = {"RoleSessionName": SESSION_NAME}
    if config.options.get("external_id"):
        extra["ExternalId"] = config.options["external_id"]
    for arn in (*config.options.get("source_role_arns", ()), role_arn):
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=create_sts,
            source_credentials=credentials,
            role_arn=arn,
            extra_args=extra,
        )
        credentials = DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
    assumed = botocore.session.Session()
    assumed.register_component("credential_provider", CredentialResolver([_Provided(credentials)]))
    return boto3.Session(botocore_session=assumed)


def _key_session(config: ProviderConfig, *, required: bool) -> boto3.Session:
    key_id = config.options.get("access_key_id", "")
    secret = config.secrets.get("secret_access_key", "")
    if key_id and secret:
        return boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret)
    if required:
        raise PartialCredentialsError(provider="access_keys", cred_var="secret_access_key")
    return boto3.Session()


def client_factory(config: ProviderConfig, botocore_config: Config | None = None) -> ClientFactory:
    """Return ``make(service, region, *, config=None)`` building clients of the account.

    The clients share one session, hence one set of refreshing credentials. ``config``
    is merged over the account's base config (the collector passes its retry mode).
    """
    base = botocore_config or base_config(config)
    shared = session(config, base)
    endpoint = config.endpoint_url or None

    def make(service: str, region: str, *, config: Config | None = None) -> Any:
        return shared.client(
            service,
            region_name=region or GLOBAL_REGION,
            endpoint_url=endpoint,
            config=base.merge(config) if config is not None else base,
        )

    return make


@dataclass(frozen=True, slots=True)
class _Failure:
    code: str
    message: str
    retry_after: float | None = None


def failure(error: Exception) -> ProviderError:
    """Return ``error`` from boto3/botocore as a :class:`ProviderError` in CloudPAM's words.

    >>> failure(ReadTimeoutError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")).code
    'timeout'
    """
    found = _classify(error)
    return ProviderError(found.code, found.message, retry_after=found.retry_after)


def _classify(error: Exception) -> _Failure:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        message = str(details.get("Message", "")) or code or str(error)
        metadata = error.response.get("ResponseMetadata", {})
        status = int(metadata.get("HTTPStatusCode") or 0)
        headers = {key.lower(): value for key, value in metadata.get("HTTPHeaders", {}).items()}
        wait = retry_after(headers.get("retry-after"))
        if code in THROTTLED or status == 429 or code.startswith("Throttl"):
            return _Failure("throttled", message, wait)
        if code in INVALID_CREDENTIALS:
            return _Failure("invalid_credentials", message)
        if code in ACCESS_DENIED:
            return _Failure("access_denied", message)
        if code in NOT_FOUND or code.endswith(("NotFound", "NotFoundException")):
            return _Failure("not_found", message)
        # A code not named above (AWS adds them) still says its kind by its HTTP status.
        return _Failure(code_for_status(status), message, wait)
    if isinstance(error, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        return _Failure("timeout", str(error))
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return _Failure("invalid_credentials", str(error))
    if isinstance(error, EndpointConnectionError):
        return _Failure("provider_error", str(error))
    if isinstance(error, BotoCoreError):
        return _Failure("provider_error", str(error))
    return _Failure("provider_error", type(error).__name__)


def check_connectivity(config: ProviderConfig, timeout: float = 15) -> ConnectivityResult:
    """Call STS GetCallerIdentity (assuming the role first) and answer within ``timeout``.

    No retries: a connectivity test reports what AWS says now. The call runs in a helper
    thread so the answer comes in time even when a role chain adds calls of its own.
    """
    fast = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=timeout,
        read_timeout=timeout,
        user_agent_extra="cloudpam",
    )

    def identity() -> str:
        make = client_factory(config, fast)
        region = config.options.get("sts_region") or GLOBAL_REGION
        return str(make("sts", region).get_caller_identity()["Arn"])

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cloudpam-aws-check")
    future = executor.submit(identity)
    try:
        arn = future.result(timeout=timeout)
    except FutureTimeout:
        return _failed("timeout", f"No answer from AWS STS within {timeout:g} seconds.")
    except ValueError as error:
        return _failed("invalid_credentials", str(error))
    except Exception as error:
        found = _classify(error)
        return _failed(found.code, found.message)
    finally:
        executor.shutdown(wait=False)
    return ConnectivityResult(ok=True, checked_at=datetime.now(UTC), identity=arn)


def _failed(code: str, message: str) -> ConnectivityResult:
    return ConnectivityResult(
        ok=False, checked_at=datetime.now(UTC), error_code=code, error_message=message
    )


def list_organization_members(config: ProviderConfig) -> list[OrganizationMember]:
    """Return the member accounts of the Organization ``config`` manages (itself left out).

    Pages through organizations:ListAccounts to the end. Raises :class:`ProviderError`.
    """
    make = client_factory(config)
    try:
        pages = make("organizations", GLOBAL_REGION).get_paginator("list_accounts").paginate()
        return [
            OrganizationMember(
                account_id=account["Id"],
                name=account.get("Name", ""),
                email=account.get("Email", ""),
                status=account.get("Status") or account.get("State", ""),
            )
            for page in pages
            for account in page["Accounts"]
            if account["Id"] != config.external_id
        ]
    except (ClientError, BotoCoreError) as error:
        raise failure(error) from error


def member_config(parent_config: ProviderConfig, member_account_id: str) -> ProviderConfig:
    """Return the config of a member account, reached by assume-role from its parent.

    The member's role is ``options["member_role_name"]`` of the parent (default
    ``OrganizationAccountAccessRole``), assumed with the parent's external id from the
    parent's own credentials: the parent's role first when it has one.
    """
    parent = parent_config.options
    role_name = parent.get("member_role_name") or DEFAULT_MEMBER_ROLE
    source_roles: tuple[str, ...] = ()
    if parent_config.auth_method == "assume_role":
        source_roles = (*parent.get("source_role_arns", ()), parent["role_arn"])
    options: dict[str, Any] = {
        key: parent[key]
        for key in ("external_id", "access_key_id", "sts_region", "requests_per_second")
        if parent.get(key)
    }
    options["role_arn"] = f"arn:aws:iam::{member_account_id}:role/{role_name}"
    if source_roles:
        options["source_role_arns"] = source_roles
    return ProviderConfig(
        provider="aws",
        external_id=member_account_id,
        auth_method="assume_role",
        regions=parent_config.regions,
        options=options,
        secrets=dict(parent_config.secrets),
        endpoint_url=parent_config.endpoint_url,
    )
