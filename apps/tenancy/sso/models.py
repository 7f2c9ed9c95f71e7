"""Identity providers of an organization (OpenID Connect) and their group-to-role mappings."""

from __future__ import annotations

from django.db import models

from apps.tenancy.choices import Role
from apps.tenancy.scoping import TenantModel

DEFAULT_SCOPES = "openid email profile"


class IdentityProvider(TenantModel):
    """An OpenID Connect provider members of one organization sign in with.

    The client secret is stored only encrypted (``apps.cloud.crypto``, the
    keys of the cloud credentials) and never shown again; the discovery
    document is cached here and fetched again after ``DISCOVERY_TTL``.
    """

    name = models.CharField("display name", max_length=100)
    slug = models.SlugField(max_length=63)
    issuer = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    client_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    client_secret_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = models.CharField(max_length=500, default=DEFAULT_SCOPES)
    email_claim = models.CharField(max_length=100, default="email")
    groups_claim = models.CharField(max_length=100, default="groups", blank=True)
    default_role = models.CharField(
        max_length=16,
        choices=Role.choices,
        blank=True,
        default="",
        help_text="Role of a user whose groups match no mapping; empty: refuse them.",
    )
    require_mapped_group = models.BooleanField(
        default=False, help_text="Refuse users whose groups match no mapping, even with a default."
    )
    enabled = models.BooleanField(default=True)
    discovery_document = models.JSONField(default=dict, blank=True, editable=False)
    discovery_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_check_error = models.JSONField(
        default=dict, blank=True, editable=False, help_text="Code and message; empty when OK."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "identity provider"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"], name="tenancy_identityprovider_unique_slug"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def client_secret_set(self) -> bool:
        return bool(self.client_secret_encrypted)


class GroupRoleMapping(TenantModel):
    """Members of ``group`` (a value of the provider's groups claim) get ``role``."""

    provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="mappings"
    )
    group = models.CharField(max_length=255)
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "id"]
        verbose_name = "group-to-role mapping"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "group"], name="tenancy_grouprolemapping_unique_group"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.role}"
