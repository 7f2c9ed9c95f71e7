from django.db import models


class AgentStatus(models.TextChoices):
    """Where an agent stands: registered and waiting, let in, turned away, or shut out."""

    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"
