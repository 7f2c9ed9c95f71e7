"""Organization templates: a built-in wizard template with an organization's parameters."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.planning.engine.templates import TEMPLATES
from apps.tenancy.scoping import TenantModel

TEMPLATE_CHOICES = [(spec.key, spec.label) for spec in TEMPLATES.values()]
NAME_MAX_LENGTH = 100


class OrganizationTemplate(TenantModel):
    """Parameters and naming patterns of a built-in template, saved by an organization.

    ``template`` is the built-in template's key and ``version`` its version when the
    parameters were saved. ``params`` hold what ``apps.planning.engine.templates``
    checks for that template (without ``naming``); ``naming`` maps levels to patterns.
    Generating from a saved template merges the caller's parameters over these.
    """

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    template = models.CharField(max_length=32, choices=TEMPLATE_CHOICES)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    naming = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="planning_orgtemplate_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_template_display()} v{self.version})"

    @property
    def key(self) -> str:
        """Return the key the template API uses for it: ``org-<id>``."""
        return f"org-{self.pk}"
