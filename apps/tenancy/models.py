"""Users, organizations, memberships and API tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from apps.tenancy.choices import Role
from apps.tenancy.scoping import TenantModel

# Settings every organization starts with; stored values override them key by key.
# The organization-wide request limit is the quota ``max_api_calls_per_minute``.
DEFAULT_ORGANIZATION_SETTINGS: dict[str, Any] = {
    "allow_overlapping_roots": False,
    "plans_private_space": True,
    "audit_retention_days": 365,
    # Requests a minute per user (sessions) and per token, unless the token sets its own.
    "rate_limit_per_minute": 6000,
    "token_default_lifetime_days": 90,
    "token_max_lifetime_days": 365,
    "compliance": {},
    # Members without MFA are sent to enrolment before anything else (local accounts).
    "require_mfa": False,
    # Members sign in through the organization's identity providers only (superusers excepted).
    "enforce_sso": False,
}

DEFAULT_QUOTAS: dict[str, int] = {
    "max_pools": 200_000,
    "max_cloud_accounts": 500,
    "max_sync_runs_per_day": 2_000,
    "max_api_calls_per_minute": 30_000,
    "max_llm_tokens_per_month": 5_000_000,
}


class UserManager(BaseUserManager["User"]):
    """Create users keyed by email."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Whether the user may sign in to the Django admin."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Organization(models.Model):
    """A tenant: every domain row belongs to exactly one organization."""

    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=63, unique=True)
    settings = models.JSONField(default=dict, blank=True)
    quotas = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def setting(self, name: str) -> Any:
        """Return one effective setting, falling back to the default."""
        return {**DEFAULT_ORGANIZATION_SETTINGS, **(self.settings or {})}.get(name)

    @property
    def effective_settings(self) -> dict[str, Any]:
        return {**DEFAULT_ORGANIZATION_SETTINGS, **(self.settings or {})}

    @property
    def effective_quotas(self) -> dict[str, int]:
        return {**DEFAULT_QUOTAS, **(self.quotas or {})}


class Membership(models.Model):
    """A user's role in one organization."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="tenancy_membership_unique_user_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiToken(TenantModel):
    """An API credential of one membership: ``cpam_<prefix>_<secret>``, shown once.

    Only an Argon2id hash of the secret is stored; the prefix identifies the
    token (and finds it) without revealing anything that authenticates.
    """

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=255)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests a minute for this token; empty: the organization's setting.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        indexes = [models.Index(fields=["organization", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        """Return how the token is recognised in lists: its prefix, never the secret."""
        return f"cpam_{self.prefix}_…"

    def is_expired(self, now: Any = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        """Return ``revoked``, ``expired`` or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"


class TablePreference(models.Model):
    """How one user likes one console table: the columns shown and the rows per page.

    A display choice of the user's own, the same in every organization: it holds no
    tenant data, so it has no ``organization`` column (row-level security covers those).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="table_preferences"
    )
    table = models.CharField(max_length=64)
    columns = models.JSONField(default=list, blank=True)
    page_size = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "table"]
        constraints = [
            models.UniqueConstraint(fields=["user", "table"], name="tenancy_tablepref_user_table")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.table}"


# Sessions and single sign-on live in their own packages; imported here so that the app
# registry finds their models.
from apps.tenancy.sessions.models import UserSession  # noqa: E402
from apps.tenancy.sso.models import GroupRoleMapping, IdentityProvider  # noqa: E402

__all__ = [
    "DEFAULT_ORGANIZATION_SETTINGS",
    "DEFAULT_QUOTAS",
    "ApiToken",
    "GroupRoleMapping",
    "IdentityProvider",
    "Membership",
    "Organization",
    "TablePreference",
    "User",
    "UserSession",
]
