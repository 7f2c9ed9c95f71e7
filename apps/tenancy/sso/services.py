"""
Writes of single sign-on: identity providers, their mappings, and signing in through them.

Configuration services take their actor explicitly and are audited under the
row's own change (the client secret redacted, its ciphertext never recorded).
``sso_sign_in`` turns verified claims into a user and a membership: it
creates the user on their first sign-in (just-in-time provisioning), gives the
membership the role of the highest mapped group (or the provider's default, or
refuses), updates it on every sign-in, and sends the signals the audit trail
records (``sso_provisioned``, ``role_changed``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.cloud import crypto
from apps.tenancy import signals
from apps.tenancy.choices import Role
from apps.tenancy.models import Membership, Organization, User
from apps.tenancy.rls import rls_bypass
from apps.tenancy.services import membership_change_role
from apps.tenancy.sso import oidc
from apps.tenancy.sso.discovery import discovery_fetch
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider
from cloudpam.context import Actor, operation
from cloudpam.exceptions import ApplicationError, Conflict, ValidationError

logger = logging.getLogger("apps.tenancy.sso")

SECRET_KEY_NAME = "client_secret"  # noqa: S105 - the key in the encrypted JSON, not a secret
MAX_SCOPES_LENGTH = 500
CLAIM_MAX_LENGTH = 100


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", fields={field: [message]})


def _text(value: Any, field: str, *, max_length: int, blank: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(field, "Must be a string.")
    value = value.strip()
    if not value and not blank:
        raise _fail(field, "This field may not be blank.")
    if len(value) > max_length:
        raise _fail(field, f"At most {max_length} characters.")
    if "\x00" in value:
        raise _fail(field, "Null characters are not allowed.")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, "Must be true or false.")
    return value


def _role(value: Any, field: str, *, blank: bool) -> str:
    if value in (None, "") and blank:
        return ""
    if value not in Role.values:
        raise _fail(field, f"Must be one of: {', '.join(Role.values)}.")
    return str(value)


def _slug(value: Any) -> str:
    slug = _text(value, "slug", max_length=63)
    if slug != slugify(slug):
        raise _fail("slug", "Use lower-case letters, digits and hyphens.")
    return slug


def _issuer(value: Any) -> str:
    text = _text(value, "issuer", max_length=500)
    try:
        return oidc.normalize_issuer(text)
    except oidc.SSOFailure as exc:
        raise _fail("issuer", exc.message) from None


def _scopes(value: Any) -> str:
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise _fail("scopes", "Give the scopes as strings.")
        value = " ".join(value)
    text = _text(value, "scopes", max_length=MAX_SCOPES_LENGTH)
    scopes = text.split()
    if "openid" not in scopes:
        raise _fail("scopes", "The scopes must include 'openid'.")
    if any(not scope.isprintable() or '"' in scope for scope in scopes):
        raise _fail("scopes", "Scopes are words without quotes.")
    return " ".join(dict.fromkeys(scopes))


CLEANERS: dict[str, Any] = {
    "name": lambda v: _text(v, "name", max_length=100),
    "slug": _slug,
    "issuer": _issuer,
    "client_id": lambda v: _text(v, "client_id", max_length=255),
    "scopes": _scopes,
    "email_claim": lambda v: _text(v, "email_claim", max_length=CLAIM_MAX_LENGTH),
    "groups_claim": lambda v: _text(v, "groups_claim", max_length=CLAIM_MAX_LENGTH, blank=True),
    "default_role": lambda v: _role(v, "default_role", blank=True),
    "require_mapped_group": lambda v: _bool(v, "require_mapped_group"),
    "enabled": lambda v: _bool(v, "enabled"),
}


def _clean_secret(value: Any) -> str:
    return _text(value, "client_secret", max_length=2000, blank=True)


def _set_secret(provider: IdentityProvider, secret: str) -> None:
    if secret:
        provider.client_secret_encrypted = crypto.encrypt_secrets({SECRET_KEY_NAME: secret})
    else:
        provider.client_secret_encrypted = ""
    provider.client_secret_updated_at = timezone.now()


def provider_client_secret(provider: IdentityProvider) -> str:
    """Return the provider's client secret, decrypted (for the token request only)."""
    return crypto.decrypt_secrets(provider.client_secret_encrypted).get(SECRET_KEY_NAME, "")


def _check_slug_free(provider: IdentityProvider) -> None:
    taken = (
        IdentityProvider.objects.for_organization(provider.organization)
        .filter(slug=provider.slug)
        .exclude(pk=provider.pk)
        .exists()
    )
    if taken:
        raise Conflict(
            f"slug: The organization already has a provider '{provider.slug}'.",
            fields={"slug": ["This slug is taken in the organization."]},
        )


def _save(provider: IdentityProvider) -> None:
    try:
        with transaction.atomic():
            provider.save()
    except IntegrityError:
        raise Conflict(
            f"slug: The organization already has a provider '{provider.slug}'.",
            fields={"slug": ["This slug is taken in the organization."]},
        ) from None


@transaction.atomic
def identity_provider_create(
    *,
    organization: Organization,
    actor: Actor,
    name: Any,
    issuer: Any,
    client_id: Any,
    client_secret: Any = "",
    slug: Any = None,
    **options: Any,
) -> IdentityProvider:
    """Create an identity provider of ``organization`` (the secret is stored encrypted)."""
    unknown = set(options) - set(CLEANERS)
    if unknown:
        raise TypeError(f"Unknown identity provider fields: {', '.join(sorted(unknown))}")
    provider = IdentityProvider(organization=organization)
    values = {"name": name, "issuer": issuer, "client_id": client_id, **options}
    values["slug"] = slug if slug not in (None, "") else slugify(str(name or ""))[:63]
    for field, value in values.items():
        setattr(provider, field, CLEANERS[field](value))
    secret = _clean_secret(client_secret)
    if secret:
        _set_secret(provider, secret)
    _check_slug_free(provider)
    with operation("create", actor=actor):
        _save(provider)
    return provider


@transaction.atomic
def identity_provider_update(
    *, provider: IdentityProvider, actor: Actor, **changes: Any
) -> IdentityProvider:
    """Change some fields of a provider; ``client_secret`` replaces the secret when given.

    A new issuer drops the cached discovery document.
    """
    secret = changes.pop("client_secret", None)
    unknown = set(changes) - set(CLEANERS)
    if unknown:
        raise TypeError(f"Unknown identity provider fields: {', '.join(sorted(unknown))}")
    provider = IdentityProvider.objects.select_for_update().get(pk=provider.pk)
    for field, value in changes.items():
        setattr(provider, field, CLEANERS[field](value))
    if "issuer" in changes:
        provider.discovery_document, provider.discovery_fetched_at = {}, None
    if secret is not None:
        _set_secret(provider, _clean_secret(secret))
    _check_slug_free(provider)
    with operation("update", actor=actor):
        _save(provider)
    return provider


@transaction.atomic
def identity_provider_delete(*, provider: IdentityProvider, actor: Actor) -> None:
    """Delete a provider and its mappings; its users and memberships stay."""
    with operation("delete", actor=actor):
        provider.delete()


@dataclass(frozen=True)
class ProviderCheck:
    """What fetching a provider's discovery document found."""

    ok: bool
    issuer: str
    discovery_url: str
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""
    jwks_uri: str = ""
    scopes_supported: tuple[str, ...] = ()
    claims_supported: tuple[str, ...] = ()
    error_code: str = ""
    error: str = ""
    checked_at: Any = None

    def as_dict(self) -> dict[str, Any]:
        data = {
            "ok": self.ok,
            "issuer": self.issuer,
            "discovery_url": self.discovery_url,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "userinfo_endpoint": self.userinfo_endpoint,
            "jwks_uri": self.jwks_uri,
            "scopes_supported": list(self.scopes_supported),
            "claims_supported": list(self.claims_supported),
            "checked_at": self.checked_at,
        }
        if not self.ok:
            data["error"] = {"code": self.error_code, "message": self.error}
        return data


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value)[:200] if isinstance(value, list) else ()


def identity_provider_check(*, provider: IdentityProvider, actor: Actor) -> ProviderCheck:
    """Fetch the provider's discovery document now and say what it found, or what failed.

    The fetch runs outside any transaction; a good document refreshes the
    cache. The check is audited as ``connectivity_check``.
    """
    url = oidc.discovery_url(provider.issuer)
    now = timezone.now()
    try:
        document = discovery_fetch(provider.issuer)
    except oidc.SSOFailure as exc:
        result = ProviderCheck(
            ok=False,
            issuer=provider.issuer,
            discovery_url=url,
            error_code=exc.reason,
            error=exc.message,
            checked_at=now,
        )
    else:
        result = ProviderCheck(
            ok=True,
            issuer=str(document["issuer"]),
            discovery_url=url,
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            userinfo_endpoint=str(document.get("userinfo_endpoint") or ""),
            jwks_uri=str(document["jwks_uri"]),
            scopes_supported=_strings(document.get("scopes_supported")),
            claims_supported=_strings(document.get("claims_supported")),
            checked_at=now,
        )
        IdentityProvider.objects.filter(pk=provider.pk).update(
            discovery_document=document, discovery_fetched_at=now
        )
    with transaction.atomic():
        locked = IdentityProvider.objects.select_for_update().get(pk=provider.pk)
        locked.last_checked_at = now
        locked.last_check_error = (
            {} if result.ok else {"code": result.error_code, "message": result.error}
        )
        with operation(
            "connectivity_check",
            actor=actor,
            details={"ok": result.ok, "error_code": result.error_code or None},
        ):
            locked.save(update_fields=["last_checked_at", "last_check_error", "updated_at"])
    return result


# ---------------------------------------------------------------- mappings


def _mapping_values(group: Any, role: Any) -> tuple[str, str]:
    return _text(group, "group", max_length=255), _role(role, "role", blank=False)


@transaction.atomic
def group_mapping_create(
    *, provider: IdentityProvider, actor: Actor, group: Any, role: Any
) -> GroupRoleMapping:
    """Map ``group`` of ``provider`` to ``role`` (one mapping per group)."""
    group, role = _mapping_values(group, role)
    if GroupRoleMapping.objects.filter(provider=provider, group=group).exists():
        raise Conflict(
            f"group: The group '{group}' is mapped already.",
            fields={"group": ["This group is mapped already."]},
        )
    mapping = GroupRoleMapping(
        organization_id=provider.organization_id, provider=provider, group=group, role=role
    )
    with operation("create", actor=actor):
        try:
            with transaction.atomic():
                mapping.save()
        except IntegrityError:
            raise Conflict(
                f"group: The group '{group}' is mapped already.",
                fields={"group": ["This group is mapped already."]},
            ) from None
    return mapping


@transaction.atomic
def group_mapping_update(
    *, mapping: GroupRoleMapping, actor: Actor, group: Any = None, role: Any = None
) -> GroupRoleMapping:
    """Change a mapping's group value and/or role."""
    mapping = GroupRoleMapping.objects.select_for_update().get(pk=mapping.pk)
    if group is not None:
        mapping.group = _text(group, "group", max_length=255)
    if role is not None:
        mapping.role = _role(role, "role", blank=False)
    clash = (
        GroupRoleMapping.objects.filter(provider_id=mapping.provider_id, group=mapping.group)
        .exclude(pk=mapping.pk)
        .exists()
    )
    if clash:
        raise Conflict(
            f"group: The group '{mapping.group}' is mapped already.",
            fields={"group": ["This group is mapped already."]},
        )
    with operation("update", actor=actor):
        mapping.save()
    return mapping


@transaction.atomic
def group_mapping_delete(*, mapping: GroupRoleMapping, actor: Actor) -> None:
    """Remove a mapping: its group no longer gives a role at the next sign-in."""
    with operation("delete", actor=actor):
        mapping.delete()


# ---------------------------------------------------------------- signing in


def sso_refusal_for_password(user: User) -> Organization | None:
    """Return an organization that forbids ``user`` a password sign-in, or None.

    A member of any organization enforcing SSO must sign in through its
    identity provider; superusers keep their password, so that a broken
    provider cannot lock the instance out.
    """
    if user.is_superuser:
        return None
    with rls_bypass():
        memberships = Membership.objects.filter(user=user).select_related("organization")
        for membership in memberships.order_by("organization__name"):
            if membership.organization.setting("enforce_sso") is True:
                return membership.organization
    return None


@dataclass(frozen=True)
class SignIn:
    """The outcome of a successful SSO sign-in."""

    user: User
    membership: Membership
    user_created: bool
    membership_created: bool
    role_changed: bool


def _full_name(claims: dict[str, Any]) -> str:
    name = claims.get("name")
    if not isinstance(name, str):
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(part for part in parts if isinstance(part, str))
    return name.strip()[:255]


@transaction.atomic
def sso_sign_in(
    *, provider: IdentityProvider, claims: dict[str, Any], request: Any = None
) -> SignIn:
    """Find or create the user of verified ``claims`` and give them their role.

    A provider without a groups claim gives its default role to new members
    only; their role is then managed in CloudPAM.

    Raises ``SSOFailure`` (``no_mapped_group``, ``account_disabled``, ...)
    when the sign-in is refused; nothing is written then.
    """
    email = oidc.claim_email(claims, provider.email_claim)
    groups = oidc.claim_groups(claims, provider.groups_claim)
    mappings = dict(GroupRoleMapping.objects.filter(provider=provider).values_list("group", "role"))
    decision = oidc.decide_role(
        groups=groups,
        mappings=mappings,
        default_role=provider.default_role or None,
        require_mapped_group=provider.require_mapped_group,
    )
    organization = provider.organization
    if decision.role is None:
        raise oidc.SSOFailure(
            "no_mapped_group",
            f"Your account at {provider.name} is not in a group that gives access to "
            f"{organization.name}. Ask an administrator of {organization.name} to add you "
            "to one of its groups.",
        )
    user = User.objects.filter(email__iexact=email).first()
    user_created = user is None
    if user is None:
        with operation(
            "sso_provisioned",
            actor=Actor(email=email, system=f"sso:{provider.slug}"),
            details={"provider": provider.slug},
        ):
            user = User.objects.create_user(email, None, full_name=_full_name(claims))
    if not user.is_active:
        raise oidc.SSOFailure("account_disabled", "This CloudPAM account is disabled.")
    membership = Membership.objects.filter(user=user, organization=organization).first()
    membership_created = membership is None
    role_changed = False
    if membership is None:
        membership = Membership.objects.create(
            user=user, organization=organization, role=decision.role
        )
        signals.membership_changed.send(
            sender=Membership,
            membership=membership,
            action="added",
            old_role=None,
            new_role=decision.role,
            actor=user,
            request=request,
        )
        signals.sso_provisioned.send(
            sender=IdentityProvider,
            membership=membership,
            provider=provider,
            user_created=user_created,
            role=decision.role,
            role_source=decision.source,
            groups=list(decision.groups),
            request=request,
        )
    elif membership.role != decision.role and (
        decision.source == "mapping" or provider.groups_claim
    ):
        # With a groups claim the provider decides the role at every sign-in (leaving the
        # mapped groups falls back to the default). Without one (Google), the default only
        # provisions: the role is then managed in CloudPAM and a sign-in keeps it.
        try:
            membership = membership_change_role(
                membership=membership, role=decision.role, actor=user, request=request
            )
            role_changed = True
        except ApplicationError as exc:
            # The last owner keeps the role: the organization must not lose its owner.
            logger.warning("sso role not changed for membership %s: %s", membership.pk, exc.code)
    return SignIn(
        user=user,
        membership=membership,
        user_created=user_created,
        membership_created=membership_created,
        role_changed=role_changed,
    )


@dataclass(frozen=True)
class SecretRotation:
    """What ``identity_provider_secrets_rotate`` did to the stored client secrets."""

    total: int
    rotated: int
    current: int
    failed: list[int]


def identity_provider_secrets_rotate() -> SecretRotation:
    """Re-encrypt every stored client secret, of every organization, with the newest key.

    ``manage.py rotate_credentials`` runs it after the cloud credentials. Secrets
    already on the newest key are left alone; one no configured key decrypts is
    reported by id. The ciphertext is not audited (it changes, the secret does not).
    """
    crypto.require_keys()
    rotated = current = total = 0
    failed: list[int] = []
    with rls_bypass(), transaction.atomic():
        providers = list(
            IdentityProvider.objects.select_for_update()
            .exclude(client_secret_encrypted="")
            .order_by("pk")
        )
        changed = []
        for provider in providers:
            total += 1
            if crypto.encrypted_with_newest(provider.client_secret_encrypted):
                current += 1
                continue
            try:
                provider.client_secret_encrypted = crypto.reencrypt(
                    provider.client_secret_encrypted
                )
            except crypto.CredentialsUnreadable:
                failed.append(provider.pk)
                continue
            changed.append(provider)
        IdentityProvider.objects.bulk_update(changed, ["client_secret_encrypted"])
        rotated = len(changed)
    return SecretRotation(total=total, rotated=rotated, current=current, failed=failed)
