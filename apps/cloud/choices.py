"""Choices of the cloud account fields: provider, authentication method and status."""

from django.db import models


class Provider(models.TextChoices):
    """The clouds CloudPAM discovers."""

    AWS = "aws", "AWS"
    GCP = "gcp", "Google Cloud"
    AZURE = "azure", "Azure"


class AuthMethod(models.TextChoices):
    """How CloudPAM authenticates to an account (each belongs to one provider, see AUTH_METHODS)."""

    ASSUME_ROLE = "assume_role", "AWS: assume a role (role ARN and external id)"
    ACCESS_KEYS = "access_keys", "AWS: access keys"
    DEFAULT_CHAIN = "default_chain", "The worker's default credential chain"
    SERVICE_ACCOUNT_KEY = "service_account_key", "GCP: service-account key"
    CLIENT_SECRET = "client_secret", "Azure: client secret (tenant id and client id)"
    MANAGED_IDENTITY = "managed_identity", "Azure: managed identity"


class AccountStatus(models.TextChoices):
    """What the last connectivity test or collection said about an account."""

    PENDING = "pending", "Pending"
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    ERROR = "error", "Error"
    DISABLED = "disabled", "Disabled"
