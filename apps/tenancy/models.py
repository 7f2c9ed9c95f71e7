"""Users, organizations and memberships."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from apps.tenancy.choices import Role

# Settings every organization starts with; stored values override them key by key.
DEFAULT_ORGANIZATION_SETTINGS: dict[str, Any] = {
    "allow_overlapping_roots": False,
    "plans_private_space": True,
    "audit_retention_days": 365,
    "rate_limit_per_minute": 6000,
    "organization_rate_limit_per_minute": 30000,
    "compliance": {},
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
