"""The signed-in sessions of users."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UserSession(models.Model):
    """One signed-in browser session of a user, as the user and admins see it.

    The Django session's key is a credential, so only its SHA-256 is kept
    (the session data names this row's id, which is how a request finds it).
    ``last_organization`` is the active organization when the session was
    last seen, so that removing a member ends their sessions in that
    organization. It is not an ``organization_id`` column on purpose: a
    session is the user's, across organizations, not a tenant row (row-level
    security covers every ``organization_id`` column).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="user_sessions"
    )
    session_key_hash = models.CharField(max_length=64, db_index=True)
    last_organization = models.ForeignKey(
        "tenancy.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    device = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.device or 'session'} of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
