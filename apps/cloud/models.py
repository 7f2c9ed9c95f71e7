"""Cloud accounts: where CloudPAM looks for the address space actually in use."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.cloud.choices import AccountStatus, AuthMethod, Provider
from apps.tenancy.scoping import TenantModel, TenantQuerySet

DEFAULT_MEMBER_ROLE_NAME = "OrganizationAccountAccessRole"
DEFAULT_REQUESTS_PER_SECOND = 10.0
# A resource missing from 2 complete collections of its region and for 2 hours is gone.
DEFAULT_MISSING_GRACE_RUNS = 2
DEFAULT_MISSING_GRACE_MINUTES = 120


class CloudAccountQuerySet(TenantQuerySet):
    """Cloud accounts, with tenant scoping."""

    def live(self) -> CloudAccountQuerySet:
        """Return the accounts that are not soft-deleted."""
        return self.filter(deleted_at__isnull=True)


class CloudAccount(TenantModel):
    """An AWS account, GCP project or Azure subscription CloudPAM collects from.

    ``external_id`` is the provider's own id. The public parts of the authentication
    (role ARN, key id, tenant and client ids) are plain fields; the secret parts are one
    encrypted blob (``credentials_encrypted``, see ``apps.cloud.crypto``) that only the
    services write and that no read shows: reads get ``credentials_set`` and
    ``credentials_hint`` (the last four characters of the key or client id).
    """

    name = models.CharField(max_length=255)
    provider = models.CharField(max_length=8, choices=Provider.choices)
    external_id = models.CharField(
        max_length=64,
        help_text="AWS account id, GCP project id or Azure subscription id.",
    )
    auth_method = models.CharField(max_length=32, choices=AuthMethod.choices)
    regions = models.JSONField(
        default=list, blank=True, help_text="Empty: every enabled region or location."
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
        help_text="The AWS Organizations management or delegated account that found it.",
    )
    # AWS
    role_arn = models.CharField("role ARN", max_length=2048, blank=True)
    role_external_id = models.CharField(
        "role external id",
        max_length=1224,
        blank=True,
        help_text="The external id the role's trust policy requires.",
    )
    member_role_name = models.CharField(
        max_length=64,
        blank=True,
        default=DEFAULT_MEMBER_ROLE_NAME,
        help_text="The role assumed in member accounts found through AWS Organizations.",
    )
    access_key_id = models.CharField("access key id", max_length=128, blank=True)
    # Azure
    tenant_id = models.CharField("tenant id", max_length=64, blank=True)
    client_id = models.CharField("client id", max_length=64, blank=True)

    credentials_encrypted = models.TextField(blank=True, editable=False)
    credentials_hint = models.CharField(max_length=4, blank=True, editable=False)
    credentials_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    status = models.CharField(
        max_length=16, choices=AccountStatus.choices, default=AccountStatus.PENDING
    )
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.JSONField(
        default=dict, blank=True, editable=False, help_text="{code, message}; no secret."
    )
    last_collection = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Record counts per type and region, and each region's outcome.",
    )
    last_collected_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_enabled = models.BooleanField(default=True)
    sync_interval_minutes = models.PositiveIntegerField(default=60)
    auto_import = models.BooleanField(default=False)
    requests_per_second = models.FloatField(default=DEFAULT_REQUESTS_PER_SECOND)
    missing_grace_runs = models.PositiveSmallIntegerField(
        default=DEFAULT_MISSING_GRACE_RUNS,
        help_text="Complete collections a resource must be missing from before it is gone.",
    )
    missing_grace_minutes = models.PositiveIntegerField(
        default=DEFAULT_MISSING_GRACE_MINUTES,
        help_text="How long a resource must be missing before it is gone.",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CloudAccountQuerySet.as_manager()

    class Meta:
        ordering = ["provider", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider", "external_id"],
                condition=models.Q(deleted_at__isnull=True),
                name="cloud_account_unique_live_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(provider__in=["aws", "gcp", "azure"]),
                name="cloud_account_provider_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "provider", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="cloud_account_org_live",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()} {self.external_id})"

    @property
    def credentials_set(self) -> bool:
        """Return whether secret credentials are stored."""
        return bool(self.credentials_encrypted)

    @property
    def is_deleted(self) -> bool:
        """Return whether the account is soft-deleted."""
        return self.deleted_at is not None
