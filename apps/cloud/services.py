"""Every write to cloud accounts (SPEC.md section 4), each one audited under its own name.

The services take their actor explicitly and name their audit events: ``create``,
``update``, ``delete``, ``credentials_set``, ``connectivity_check``, ``discover_members``
and ``collect`` (recorded by the sync engine once a run has stored what it found,
``account_collection_record``). Credentials are written only by ``account_credentials_set`` and only
encrypted (``apps.cloud.crypto``); nothing here returns or logs them.

A connectivity test, a member discovery and a collection talk to the cloud for up to
seconds: they do so outside any database transaction, and write what they learnt in a
short one afterwards.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.cloud import crypto
from apps.cloud.choices import AccountStatus, AuthMethod, Provider
from apps.cloud.models import DEFAULT_MEMBER_ROLE_NAME, CloudAccount
from apps.cloud.providers import AUTH_METHODS, ConnectivityResult
from apps.cloud.selectors import account_count, collector_module, config_of, provider_module
from apps.tenancy.models import Organization
from apps.tenancy.quotas import quota_check
from cloudpam.context import Actor, operation
from cloudpam.exceptions import ApplicationError, Conflict, ValidationError

logger = logging.getLogger("apps.cloud")

ACCOUNT_LABEL: Final = "cloud.cloudaccount"
CONNECTIVITY_TIMEOUT = 15
MAX_REGIONS = 200
NAME_MAX_LENGTH = 255

# Public fields that belong to one provider only.
PROVIDER_FIELDS: Mapping[str, frozenset[str]] = {
    "aws": frozenset({"role_arn", "role_external_id", "member_role_name", "access_key_id"}),
    "gcp": frozenset(),
    "azure": frozenset({"tenant_id", "client_id"}),
}
ALL_PROVIDER_FIELDS = frozenset().union(*PROVIDER_FIELDS.values())
# Public fields an authentication method cannot do without.
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "assume_role": ("role_arn",),
    "client_secret": ("tenant_id", "client_id"),
}
# The secret each authentication method takes; assume_role's is optional (the keys the
# role is assumed from, when the worker's own chain should not be used).
SECRET_FIELDS: Mapping[str, str] = {
    "access_keys": "secret_access_key",
    "assume_role": "secret_access_key",
    "service_account_key": "service_account_key",
    "client_secret": "client_secret",
}
UPDATABLE = frozenset(
    {
        "name",
        "external_id",
        "auth_method",
        "regions",
        "status",
        "sync_enabled",
        "sync_interval_minutes",
        "auto_import",
        "requests_per_second",
        "missing_grace_runs",
        "missing_grace_minutes",
        *ALL_PROVIDER_FIELDS,
    }
)

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
EXTERNAL_ID_PATTERNS: Mapping[str, tuple[re.Pattern[str], str]] = {
    "aws": (re.compile(r"\d{12}"), "An AWS account id is 12 digits."),
    "gcp": (
        re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]"),
        "A GCP project id is 6 to 30 lowercase letters, digits or hyphens, starting with a letter.",
    ),
    "azure": (re.compile(_UUID), "An Azure subscription id is a UUID."),
}
FIELD_PATTERNS: Mapping[str, tuple[re.Pattern[str], str]] = {
    "role_arn": (
        re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}"),
        "A role ARN looks like arn:aws:iam::123456789012:role/CloudPAM.",
    ),
    "role_external_id": (
        re.compile(r"[\w+=,.@:/-]{2,1224}"),
        "An external id is 2 to 1224 letters, digits or +=,.@:/-.",
    ),
    "member_role_name": (
        re.compile(r"[\w+=,.@-]{1,64}"),
        "A role name is 1 to 64 letters, digits or +=,.@-.",
    ),
    "access_key_id": (
        re.compile(r"[A-Z0-9]{16,128}"),
        "An access key id is 16 to 128 capital letters and digits.",
    ),
    "tenant_id": (
        re.compile(rf"{_UUID}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"),
        "A tenant id is a UUID or a domain name.",
    ),
    "client_id": (re.compile(_UUID), "A client id is a UUID."),
}
REGION_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


def _fail(field_name: str, message: str) -> ValidationError:
    return ValidationError(f"{field_name}: {message}", fields={field_name: [message]})


# Input checks shared by every writer


def _clean_text(value: Any, field_name: str, *, blank: bool = True) -> str:
    if value is None and blank:
        return ""
    if not isinstance(value, str):
        raise _fail(field_name, "Not a valid string.")
    value = value.strip()
    if not value and not blank:
        raise _fail(field_name, "This field may not be blank.")
    return value


def _clean_name(value: Any) -> str:
    name = _clean_text(value, "name", blank=False)
    if len(name) > NAME_MAX_LENGTH:
        raise _fail("name", f"Ensure this field has no more than {NAME_MAX_LENGTH} characters.")
    return name


def _clean_choice(value: Any, choices: Any, field_name: str) -> str:
    if value not in choices.values:
        raise _fail(
            field_name,
            f"'{value}' is not a valid {field_name}; choose one of {', '.join(choices.values)}.",
        )
    return str(value)


def _clean_external_id(provider: str, value: Any) -> str:
    text = _clean_text(value, "external_id", blank=False)
    pattern, message = EXTERNAL_ID_PATTERNS[provider]
    if not pattern.fullmatch(text):
        raise _fail("external_id", message)
    return text.lower() if provider == "azure" else text


def _clean_regions(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise _fail("regions", "Regions are a list of region or location names.")
    regions: list[str] = []
    for item in value:
        if not isinstance(item, str) or not REGION_PATTERN.fullmatch(item.strip().lower()):
            raise _fail("regions", f"'{item}' is not a region or location name.")
        name = item.strip().lower()
        if name not in regions:
            regions.append(name)
    if len(regions) > MAX_REGIONS:
        raise _fail("regions", f"An account lists at most {MAX_REGIONS} regions.")
    return regions


def _clean_bool(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(field_name, "Must be a valid boolean.")
    return value


def _clean_number(value: Any, field_name: str, low: float, high: float, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(field_name, "A valid number is required.")
    if kind is int and value != int(value):
        raise _fail(field_name, "A valid integer is required.")
    if not low <= value <= high:
        raise _fail(field_name, f"Must be between {low:g} and {high:g}.")
    return kind(value)


def _clean_provider_fields(
    provider: str, auth_method: str, values: Mapping[str, Any]
) -> dict[str, str]:
    """Return the provider fields of ``values`` checked against provider and method."""
    cleaned: dict[str, str] = {}
    for name in ALL_PROVIDER_FIELDS:
        if name not in values:
            continue
        text = _clean_text(values[name], name)
        if text and name not in PROVIDER_FIELDS[provider]:
            raise _fail(name, f"This field does not apply to {Provider(provider).label}.")
        if text:
            pattern, message = FIELD_PATTERNS[name]
            if not pattern.fullmatch(text):
                raise _fail(name, message)
        cleaned[name] = text
    return cleaned


def _check_method(provider: str, auth_method: str) -> None:
    if auth_method not in AUTH_METHODS[provider]:
        raise _fail(
            "auth_method",
            f"'{auth_method}' is not an authentication method of {Provider(provider).label}; "
            f"choose one of {', '.join(AUTH_METHODS[provider])}.",
        )


def _check_required(account: CloudAccount) -> None:
    for name in REQUIRED_FIELDS.get(account.auth_method, ()):
        if not getattr(account, name):
            raise _fail(name, f"The method '{account.auth_method}' needs this field.")


def _check_unique(account: CloudAccount) -> None:
    taken = (
        CloudAccount.objects.for_organization(account.organization_id)
        .live()
        .filter(provider=account.provider, external_id=account.external_id)
        .exclude(pk=account.pk)
        .exists()
    )
    if taken:
        raise _external_id_taken(account)


def _external_id_taken(account: CloudAccount) -> Conflict:
    message = (
        f"The organization already has the {Provider(account.provider).label} account "
        f"{account.external_id}."
    )
    return Conflict(message, fields={"external_id": [message]})


def _save(account: CloudAccount, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            account.save(**kwargs)
    except IntegrityError as exc:
        if "external_id" in str(exc) or "cloud_account_unique" in str(exc):
            raise _external_id_taken(account) from None
        raise
    _schedule(account)


def _schedule(account: CloudAccount) -> None:
    """Keep the account's sync schedule in step with its settings (created, changed, gone)."""
    from apps.discovery.schedules import sync_schedule_update

    sync_schedule_update(account=account)


def _lock_organization(organization: Organization) -> Organization:
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _lock(account: CloudAccount) -> CloudAccount:
    return CloudAccount.objects.select_for_update().get(pk=account.pk)


# Accounts


@transaction.atomic
def account_create(
    *,
    organization: Organization,
    actor: Actor,
    name: Any,
    provider: Any,
    external_id: Any,
    auth_method: Any,
    regions: Any = None,
    parent: CloudAccount | None = None,
    sync_enabled: Any = True,
    sync_interval_minutes: Any = 60,
    auto_import: Any = False,
    requests_per_second: Any = 10.0,
    **provider_fields: Any,
) -> CloudAccount:
    """Create a cloud account (status ``pending``) within the ``max_cloud_accounts`` quota."""
    unknown = set(provider_fields) - ALL_PROVIDER_FIELDS
    if unknown:
        raise TypeError(f"Unknown account fields: {', '.join(sorted(unknown))}")
    provider = _clean_choice(provider, Provider, "provider")
    auth_method = _clean_choice(auth_method, AuthMethod, "auth_method")
    _check_method(provider, auth_method)
    account = CloudAccount(
        organization=organization,
        name=_clean_name(name),
        provider=provider,
        external_id=_clean_external_id(provider, external_id),
        auth_method=auth_method,
        regions=_clean_regions(regions),
        parent=parent,
        sync_enabled=_clean_bool(sync_enabled, "sync_enabled"),
        sync_interval_minutes=_clean_number(
            sync_interval_minutes, "sync_interval_minutes", 5, 10_080, int
        ),
        auto_import=_clean_bool(auto_import, "auto_import"),
        requests_per_second=_clean_number(
            requests_per_second, "requests_per_second", 0.1, 1_000, float
        ),
        member_role_name=DEFAULT_MEMBER_ROLE_NAME if provider == "aws" else "",
        created_by_id=actor.user_id,
    )
    for name_, value in _clean_provider_fields(provider, auth_method, provider_fields).items():
        setattr(account, name_, value)
    if provider == "aws" and not account.member_role_name:
        account.member_role_name = DEFAULT_MEMBER_ROLE_NAME
    _check_required(account)
    _lock_organization(organization)
    quota_check(
        organization=organization,
        name="max_cloud_accounts",
        used=account_count(organization=organization),
    )
    _check_unique(account)
    with operation("create", actor=actor):
        _save(account)
    return account


@transaction.atomic
def account_update(*, account: CloudAccount, actor: Actor, **changes: Any) -> CloudAccount:
    """Change an account's attributes (the provider never changes).

    A new authentication method clears the stored credentials, which belong to the old
    one, and puts the account back to ``pending``. ``status`` may only be set to
    ``disabled``, or from ``disabled`` back to ``pending``: the rest is the tests' to say.
    """
    unknown = set(changes) - UPDATABLE
    if "provider" in changes:
        raise _fail("provider", "The provider of an account cannot change.")
    if unknown:
        raise TypeError(f"Unknown account fields: {', '.join(sorted(unknown))}")
    account = _lock(account)
    provider = account.provider
    before_method = account.auth_method
    if "name" in changes:
        account.name = _clean_name(changes["name"])
    if "external_id" in changes:
        account.external_id = _clean_external_id(provider, changes["external_id"])
    if "auth_method" in changes:
        account.auth_method = _clean_choice(changes["auth_method"], AuthMethod, "auth_method")
        _check_method(provider, account.auth_method)
    if "regions" in changes:
        account.regions = _clean_regions(changes["regions"])
    if "sync_enabled" in changes:
        account.sync_enabled = _clean_bool(changes["sync_enabled"], "sync_enabled")
    if "auto_import" in changes:
        account.auto_import = _clean_bool(changes["auto_import"], "auto_import")
    if "sync_interval_minutes" in changes:
        account.sync_interval_minutes = _clean_number(
            changes["sync_interval_minutes"], "sync_interval_minutes", 5, 10_080, int
        )
    if "requests_per_second" in changes:
        account.requests_per_second = _clean_number(
            changes["requests_per_second"], "requests_per_second", 0.1, 1_000, float
        )
    if "missing_grace_runs" in changes:
        account.missing_grace_runs = _clean_number(
            changes["missing_grace_runs"], "missing_grace_runs", 1, 100, int
        )
    if "missing_grace_minutes" in changes:
        account.missing_grace_minutes = _clean_number(
            changes["missing_grace_minutes"], "missing_grace_minutes", 0, 43_200, int
        )
    if "status" in changes:
        status = _clean_choice(changes["status"], AccountStatus, "status")
        enabling = status == AccountStatus.PENDING and account.status == AccountStatus.DISABLED
        if status == AccountStatus.DISABLED or enabling:
            account.status = status
        elif status != account.status:
            raise _fail(
                "status",
                "Only 'disabled', or 'pending' to enable a disabled account, may be set; "
                "the connectivity test sets the others.",
            )
    for name, value in _clean_provider_fields(provider, account.auth_method, changes).items():
        setattr(account, name, value)
    if account.auth_method != before_method:
        account.credentials_encrypted = ""
        account.credentials_hint = ""
        account.credentials_updated_at = None
        if account.status != AccountStatus.DISABLED:
            account.status = AccountStatus.PENDING
    _check_required(account)
    _check_unique(account)
    with operation("update", actor=actor):
        _save(account)
    return account


@transaction.atomic
def account_delete(*, account: CloudAccount, actor: Actor) -> CloudAccount:
    """Soft-delete an account; its members stay, without a parent."""
    account = _lock(account)
    if account.deleted_at is None:
        account.deleted_at = timezone.now()
        with operation("delete", actor=actor):
            account.save()
        _schedule(account)
        for member in CloudAccount.objects.filter(parent=account).order_by("pk"):
            member.parent = None
            with operation("update", actor=actor):
                member.save()
    return account


# Credentials


def _clean_service_account_key(value: Any) -> tuple[str, str]:
    """Return a service-account key as JSON text and its key id, or raise."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    required = ("type", "client_email", "private_key_id", "private_key")
    if (
        not isinstance(value, dict)
        or value.get("type") != "service_account"
        or not all(isinstance(value.get(key), str) and value.get(key) for key in required)
    ):
        raise _fail(
            "service_account_key",
            "A service-account key is the JSON file Google issues, with type "
            "'service_account', client_email, private_key_id and private_key.",
        )
    return json.dumps(value, sort_keys=True), value["private_key_id"]


def _clean_secret(value: Any, field_name: str, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value.strip()) <= high:
        raise _fail(field_name, f"A {field_name.replace('_', ' ')} of {low} to {high} characters.")
    return value.strip()


@transaction.atomic
def account_credentials_set(
    *, account: CloudAccount, actor: Actor, credentials: Mapping[str, Any]
) -> CloudAccount:
    """Encrypt and store the account's secret credentials, replacing any stored before.

    ``credentials`` holds the method's secret (``secret_access_key``,
    ``service_account_key`` or ``client_secret``) and may name the public id that goes
    with it (``access_key_id``, ``client_id``). Without an encryption key this refuses
    (``configuration_error``) before anything is written.
    """
    account = _lock(account)
    method = account.auth_method
    secret_name = SECRET_FIELDS.get(method)
    if secret_name is None:
        raise _fail(
            "credentials",
            f"The method '{method}' takes no stored credentials: it uses the worker's identity.",
        )
    if not isinstance(credentials, Mapping):
        raise _fail("credentials", "Credentials are an object of fields.")
    allowed = {secret_name, "access_key_id" if account.provider == "aws" else "client_id"}
    unknown = set(credentials) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise _fail(name, f"Not a credential field of '{method}'; expected {sorted(allowed)}.")
    if secret_name not in credentials:
        raise _fail(secret_name, "This field is required.")
    public = _clean_provider_fields(
        account.provider, method, {k: v for k, v in credentials.items() if k != secret_name}
    )
    if method == AuthMethod.SERVICE_ACCOUNT_KEY:
        secret, key_id = _clean_service_account_key(credentials[secret_name])
        hint_source = key_id
    else:
        secret = _clean_secret(credentials[secret_name], secret_name, 8, 4096)
        for name, value in public.items():
            setattr(account, name, value)
        hint_source = account.access_key_id if account.provider == "aws" else account.client_id
        if account.provider == "aws" and not account.access_key_id:
            raise _fail("access_key_id", "An AWS secret access key needs its access key id.")
    account.credentials_encrypted = crypto.encrypt_secrets({secret_name: secret})
    account.credentials_hint = hint_source[-4:]
    account.credentials_updated_at = timezone.now()
    if account.status != AccountStatus.DISABLED:
        account.status = AccountStatus.PENDING
    with operation("credentials_set", actor=actor):
        account.save()
    return account


# Talking to the cloud


@dataclass(frozen=True)
class CheckResult:
    """The answer of ``account_check``: SPEC.md's ``{ok, identity, checked_at, error?}``."""

    ok: bool
    identity: str
    checked_at: datetime
    error: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        data: dict[str, Any] = {
            "ok": self.ok,
            "identity": self.identity,
            "checked_at": self.checked_at,
        }
        if self.error:
            data["error"] = self.error
        return data


def _needs_secret(account: CloudAccount) -> bool:
    return account.auth_method in {"access_keys", "service_account_key", "client_secret"}


def _missing_credentials(account: CloudAccount) -> bool:
    return _needs_secret(account) and not account.credentials_set and account.parent_id is None


def _status_after(error_code: str) -> str:
    # Throttling and timeouts say the cloud was busy, not that the account is broken.
    if error_code in {"throttled", "timeout"}:
        return AccountStatus.DEGRADED
    return AccountStatus.ERROR


def _run_check(account: CloudAccount, timeout: float) -> ConnectivityResult:
    if _missing_credentials(account):
        return ConnectivityResult(
            ok=False,
            checked_at=timezone.now(),
            error_code="invalid_credentials",
            error_message="No credentials are stored for this account.",
        )
    config = config_of(account)
    module = provider_module(account.provider)
    try:
        return module.check_connectivity(config, timeout=timeout)
    except Exception as exc:
        # The provider modules answer failures as results; anything else is a bug in
        # them, reported by type only: its message or traceback could quote a request.
        logger.error("connectivity test of account %s raised %s", account.pk, type(exc).__name__)
        return ConnectivityResult(
            ok=False,
            checked_at=timezone.now(),
            error_code="provider_error",
            error_message=f"The test failed unexpectedly ({type(exc).__name__}).",
        )


def account_check(
    *, account: CloudAccount, actor: Actor, timeout: float = CONNECTIVITY_TIMEOUT
) -> CheckResult:
    """Run the provider's cheapest identity call and record the outcome on the account."""
    result = _run_check(account, timeout)
    error = None
    if not result.ok:
        error = {"code": result.error_code or "provider_error", "message": result.error_message}
    with transaction.atomic():
        locked = _lock(account)
        locked.last_checked_at = result.checked_at
        locked.last_error = error or {}
        if locked.status != AccountStatus.DISABLED:
            locked.status = AccountStatus.HEALTHY if result.ok else _status_after(error["code"])
        with operation("connectivity_check", actor=actor):
            locked.save()
    account.refresh_from_db()
    return CheckResult(
        ok=result.ok, identity=result.identity, checked_at=result.checked_at, error=error
    )


@dataclass(frozen=True)
class MemberDiscovery:
    """What ``account_discover_members`` did: the member accounts, split by what changed."""

    created: list[CloudAccount] = field(default_factory=list)
    updated: list[CloudAccount] = field(default_factory=list)
    unchanged: list[CloudAccount] = field(default_factory=list)

    @property
    def members(self) -> list[CloudAccount]:
        """Return every member account, created, updated or not."""
        return sorted([*self.created, *self.updated, *self.unchanged], key=lambda a: a.external_id)


def _provider_failure(exc: Exception) -> ApplicationError:
    code = getattr(exc, "code", "provider_error")
    message = getattr(exc, "message", "") or type(exc).__name__
    status = 429 if code == "throttled" else 502
    error = ApplicationError(message, code="provider_error", fields={"provider": [code]})
    error.status_code = status
    return error


def account_discover_members(*, account: CloudAccount, actor: Actor) -> MemberDiscovery:
    """Create or update one account per member of the account's AWS Organization.

    Members are reached by assuming ``arn:aws:iam::{member}:role/{member_role_name}``
    with the parent's external id; suspended members are ``disabled``. Idempotent: a
    second run changes only what the organization changed.
    """
    if account.provider != Provider.AWS:
        raise _fail("provider", "Only AWS accounts belong to an AWS Organization.")
    if _missing_credentials(account):
        raise _fail("credentials", "No credentials are stored for this account.")
    module = provider_module("aws")
    try:
        members = module.list_organization_members(config_of(account))
    except ApplicationError:
        raise
    except Exception as exc:
        raise _provider_failure(exc) from None
    result = MemberDiscovery()
    with transaction.atomic():
        organization = _lock_organization(account.organization)
        parent = _lock(account)
        existing = {
            member.external_id: member
            for member in CloudAccount.objects.for_organization(organization)
            .live()
            .filter(provider="aws", external_id__in=[m.account_id for m in members])
            .select_for_update()
            .order_by("pk")
        }
        new = [
            m
            for m in members
            if m.account_id not in existing and m.account_id != parent.external_id
        ]
        if new:
            quota_check(
                organization=organization,
                name="max_cloud_accounts",
                amount=len(new),
                used=account_count(organization=organization),
            )
        role_name = parent.member_role_name or DEFAULT_MEMBER_ROLE_NAME
        with operation("discover_members", actor=actor, details={"parent": parent.pk}):
            for member in sorted(members, key=lambda m: m.account_id):
                if member.account_id == parent.external_id:
                    continue  # the management account is already here
                _sync_member(parent, member, existing.get(member.account_id), role_name, result)
    return result


def _sync_member(
    parent: CloudAccount,
    member: Any,
    account: CloudAccount | None,
    role_name: str,
    result: MemberDiscovery,
) -> None:
    suspended = str(member.status).upper() != "ACTIVE"
    role_arn = f"arn:aws:iam::{member.account_id}:role/{role_name}"
    if account is None:
        account = CloudAccount(
            organization_id=parent.organization_id,
            provider="aws",
            external_id=member.account_id,
            name=(member.name or member.account_id)[:NAME_MAX_LENGTH],
            auth_method="assume_role",
            role_arn=role_arn,
            role_external_id=parent.role_external_id,
            member_role_name=role_name,
            regions=list(parent.regions),
            parent=parent,
            status=AccountStatus.DISABLED if suspended else AccountStatus.PENDING,
            requests_per_second=parent.requests_per_second,
        )
        _save(account)
        result.created.append(account)
        return
    wanted = {
        "parent_id": parent.pk,
        "name": (member.name or account.name)[:NAME_MAX_LENGTH],
    }
    if not account.credentials_set:
        # A member reached through the parent follows the parent's role settings.
        wanted.update(
            auth_method="assume_role", role_arn=role_arn, role_external_id=parent.role_external_id
        )
    if suspended:
        wanted["status"] = AccountStatus.DISABLED
    elif account.status == AccountStatus.DISABLED:
        wanted["status"] = AccountStatus.PENDING
    changed = {key: value for key, value in wanted.items() if getattr(account, key) != value}
    if not changed:
        result.unchanged.append(account)
        return
    for key, value in changed.items():
        setattr(account, key, value)
    _save(account)
    result.updated.append(account)


@dataclass(frozen=True)
class CollectionSummary:
    """What a sync run found: records per type and region, and each region's outcome."""

    collected_at: datetime
    total: int
    counts: list[dict[str, Any]]
    regions: list[dict[str, Any]]

    @property
    def complete(self) -> bool:
        """Return whether every region was read to the end."""
        return all(region["ok"] for region in self.regions)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data (what the account keeps)."""
        return {
            "collected_at": self.collected_at.isoformat(),
            "total": self.total,
            "complete": self.complete,
            "counts": self.counts,
            "regions": self.regions,
        }

    @classmethod
    def of(
        cls, *, counts: Mapping[tuple[str, str], int], regions: list[dict[str, Any]]
    ) -> CollectionSummary:
        """Return the summary of record counts by ``(resource_type, region)`` and outcomes."""
        return cls(
            collected_at=timezone.now(),
            total=sum(counts.values()),
            counts=[
                {"resource_type": kind, "region": region, "count": count}
                for (kind, region), count in sorted(counts.items())
            ],
            regions=regions,
        )


def account_collection_check(*, account: CloudAccount) -> None:
    """Raise unless the account can be collected now: enabled, with its credentials."""
    if account.status == AccountStatus.DISABLED:
        raise Conflict("The account is disabled: enable it before collecting.")
    if _missing_credentials(account):
        raise _fail("credentials", "No credentials are stored for this account.")
    # A server without the provider's SDK says so now (400), not in a failed run later.
    collector_module(account.provider)
    provider_module(account.provider)


def account_collection_open(*, account: CloudAccount) -> Any:
    """Return the provider collector's collection of the account (lazy: nothing read yet).

    The sync engine iterates it; see ``apps.discovery.collectors.base.Collection``.
    """
    account_collection_check(account=account)
    from apps.discovery.collectors.base import AccountRef

    collector = collector_module(account.provider)
    provider = provider_module(account.provider)
    ref = AccountRef(
        provider=account.provider,
        external_id=account.external_id,
        name=account.name,
        settings={"requests_per_second": account.requests_per_second},
    )
    return collector.collect(
        provider.client_factory(config_of(account)), ref, regions=tuple(account.regions)
    )


def account_collection_record(
    *, account: CloudAccount, summary: CollectionSummary, actor: Actor
) -> CloudAccount:
    """Keep a finished collection's counts on the account and set its status from them.

    Called by the sync engine once a run has stored the records; every region fine makes
    the account ``healthy``, some failed ``degraded``, all failed ``error``.
    """
    with transaction.atomic():
        locked = _lock(account)
        locked.last_collection = summary.as_dict()
        locked.last_collected_at = summary.collected_at
        if locked.status != AccountStatus.DISABLED:
            failed = [region for region in summary.regions if not region["ok"]]
            if not failed:
                locked.status = AccountStatus.HEALTHY
                locked.last_error = {}
            else:
                locked.status = (
                    AccountStatus.ERROR
                    if len(failed) == len(summary.regions)
                    else AccountStatus.DEGRADED
                )
                locked.last_error = {
                    "code": failed[0]["error_code"] or "provider_error",
                    "message": f"{failed[0]['region']}: {failed[0]['error_message'] or ''}",
                }
        with operation("collect", actor=actor, details={"records": summary.total}):
            locked.save()
    return locked


def account_collection_failed(*, account: CloudAccount, code: str, message: str) -> None:
    """Record on the account that a collection could not even start (no region known)."""
    with transaction.atomic():
        locked = _lock(account)
        if locked.status == AccountStatus.DISABLED:
            return
        locked.status = AccountStatus.ERROR
        locked.last_error = {"code": code, "message": message[:500]}
        locked.save()


# Key rotation

ROTATION_BATCH = 500


@dataclass(frozen=True)
class RotationReport:
    """What ``credentials_rotate`` did: rows with credentials, and what became of them."""

    total: int
    rotated: int
    current: int
    failed: list[int]


def credentials_rotate(*, batch_size: int = ROTATION_BATCH) -> RotationReport:
    """Re-encrypt every stored credential, of every organization, with the newest key.

    Rows already encrypted with the newest key are left alone, so a second run rotates
    nothing. A row no configured key decrypts is reported by id and left as it is. The
    ciphertext is not audited (it changes, the credentials do not), so rows are updated in
    bulk, a batch per transaction.
    """
    from apps.tenancy.rls import rls_bypass

    crypto.require_keys()
    rotated = current = total = 0
    failed: list[int] = []
    last_pk = 0
    with rls_bypass():
        while True:
            with transaction.atomic():
                batch = list(
                    CloudAccount.objects.select_for_update()
                    .filter(pk__gt=last_pk)
                    .exclude(credentials_encrypted="")
                    .order_by("pk")[:batch_size]
                )
                if not batch:
                    break
                last_pk = batch[-1].pk
                changed = []
                for account in batch:
                    total += 1
                    if crypto.encrypted_with_newest(account.credentials_encrypted):
                        current += 1
                        continue
                    try:
                        account.credentials_encrypted = crypto.reencrypt(
                            account.credentials_encrypted
                        )
                    except crypto.CredentialsUnreadable:
                        failed.append(account.pk)
                        continue
                    changed.append(account)
                CloudAccount.objects.bulk_update(changed, ["credentials_encrypted"])
                rotated += len(changed)
    return RotationReport(total=total, rotated=rotated, current=current, failed=failed)
